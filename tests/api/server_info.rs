//! The repository URLs on v1 answers and `GET /api/v1/server-info`, from BorgWarehouse's
//! settings (`UNIX_USER`, `FQDN`, `SSH_SERVER_PORT`, `FQDN_LAN`, `SSH_SERVER_PORT_LAN`,
//! `HIDE_SSH_PORT`) and the host's key files.

use std::process::Command;

use bw_tests::{ed25519_key, json, repo_body, TestServer};

fn with_urls(port: Option<u16>, hide: bool) -> TestServer {
    TestServer::with_config(|c| {
        c.ssh.unix_user = Some("borgwarehouse".into());
        c.ssh.fqdn = Some("backup.example.com".into());
        c.ssh.port = port;
        c.ssh.hide_port = hide;
        c.ssh.fqdn_lan = Some("nas.lan".into());
        c.ssh.port_lan = Some(2022);
    })
}

#[test]
fn v1_answers_carry_the_urls_a_client_gives_borg() {
    let s = with_urls(Some(2222), false);
    let t = s.full_token();
    let (status, created) = s.post("/api/v1/repositories", Some(&t), &repo_body(&ed25519_key(61, "")));
    assert_eq!(status, 200, "{created}");
    let name = created["repositoryName"].as_str().unwrap().to_string();
    let url = format!("ssh://borgwarehouse@backup.example.com:2222/./{name}");
    let lan = format!("ssh://borgwarehouse@nas.lan:2022/./{name}");
    assert_eq!((created["sshUrl"].as_str(), created["lanSshUrl"].as_str()), (Some(url.as_str()), Some(lan.as_str())));
    let (_, one) = s.get(&format!("/api/v1/repositories/{name}"), Some(&t));
    assert_eq!(one["repo"]["sshUrl"], json!(url));
    assert_eq!(one["repo"]["lanSshUrl"], json!(lan));
    let (_, list) = s.get("/api/v1/repositories", Some(&t));
    assert_eq!(list["repoList"][0]["sshUrl"], json!(url));
    let (_, page) = s.get("/api/v1/repositories?limit=1", Some(&t));
    assert_eq!(page["repoList"][0]["sshUrl"], json!(url));
    // The BorgWarehouse 2.x paths answer as BorgWarehouse did: no URL.
    let id = created["id"].as_u64().unwrap();
    assert_eq!(s.get(&format!("/api/repo/id/{id}"), Some(&t)).1["repo"].get("sshUrl"), None);
    assert_eq!(s.get("/api/repo", Some(&t)).1["repoList"][0].get("sshUrl"), None);
    let (_, seed_created) = s.post("/api/repo/add", Some(&t), &repo_body(&ed25519_key(62, "")));
    assert_eq!(seed_created.get("sshUrl"), None);
}

#[test]
fn the_port_is_left_out_when_22_or_hidden_and_the_url_when_unset() {
    for (port, hide) in [(Some(22), false), (Some(2222), true), (None, false)] {
        let s = with_urls(port, hide);
        let t = s.full_token();
        let (_, created) = s.post("/api/v1/repositories", Some(&t), &repo_body(&ed25519_key(63, "")));
        let name = created["repositoryName"].as_str().unwrap();
        assert_eq!(
            created["sshUrl"],
            json!(format!("ssh://borgwarehouse@backup.example.com/./{name}")),
            "{port:?} {hide}"
        );
    }
    let s = TestServer::start();
    let t = s.full_token();
    let (_, created) = s.post("/api/v1/repositories", Some(&t), &repo_body(&ed25519_key(64, "")));
    assert_eq!((created.get("sshUrl"), created.get("lanSshUrl")), (None, None), "{created}");
}

#[test]
fn server_info_gives_the_ssh_side_and_the_host_key_fingerprints_as_ssh_keygen_does() {
    let keys = tempfile::tempdir().unwrap();
    let mut expected = Vec::new();
    for kind in ["ed25519", "ecdsa"] {
        let path = keys.path().join(format!("ssh_host_{kind}_key"));
        let ok = Command::new("ssh-keygen").args(["-q", "-t", kind, "-N", "", "-f"]).arg(&path).status();
        let Ok(ok) = ok else {
            eprintln!("SKIPPED: ssh-keygen not found");
            return;
        };
        assert!(ok.success());
        let out = Command::new("ssh-keygen")
            .args(["-l", "-E", "sha256", "-f"])
            .arg(path.with_extension("pub"))
            .output()
            .unwrap();
        let line = String::from_utf8(out.stdout).unwrap();
        expected.push(line.split_whitespace().nth(1).unwrap().to_string());
    }
    std::fs::write(keys.path().join("not_a_key.pub"), "nonsense").unwrap();
    let pattern = keys.path().join("ssh_host_*_key.pub").display().to_string();
    let s = TestServer::with_config(|c| {
        c.ssh.unix_user = Some("borgwarehouse".into());
        c.ssh.fqdn = Some("backup.example.com".into());
        c.ssh.port = Some(2222);
        c.ssh.host_key_files = pattern;
        c.repos.disable_compact = true;
    });
    assert_eq!(s.get("/api/v1/server-info", None).0, 401);
    let (status, info) = s.get("/api/v1/server-info", Some(&s.token("reader", "read")));
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["unixUser"], "borgwarehouse");
    assert_eq!(info["fqdn"], "backup.example.com");
    assert_eq!(info["sshPort"], 2222);
    assert_eq!(info.get("fqdnLan"), None, "absent values are left out");
    assert_eq!((info["deleteDisabled"].as_bool(), info["compactDisabled"].as_bool()), (Some(false), Some(true)));
    assert_eq!(info["integrationsDisabled"], false);
    let mut got: Vec<String> = info["hostKeyFingerprints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["sha256"].as_str().unwrap().to_string())
        .collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
    let types: Vec<&str> =
        info["hostKeyFingerprints"].as_array().unwrap().iter().map(|k| k["type"].as_str().unwrap()).collect();
    assert!(types.contains(&"ssh-ed25519") && types.iter().any(|t| t.starts_with("ecdsa-sha2-")), "{types:?}");
    // The pool's filesystem, as df shows it (the dashboard projects when it fills).
    let disk = &info["poolDisk"];
    let (total, used, free) = (
        disk["totalBytes"].as_u64().unwrap(),
        disk["usedBytes"].as_u64().unwrap(),
        disk["freeBytes"].as_u64().unwrap(),
    );
    assert!(total > 0 && used <= total && free <= total - used + total / 10, "{disk}");
}
