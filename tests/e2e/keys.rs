//! Two keys on one repository, under a real sshd and borg: an append-only key for the client
//! that backs up beside a full key for the admin who prunes. Both back up; the append-only one
//! cannot destroy history; removing a key shuts it out at its next login while the other goes on.

use std::path::Path;

use crate::harness::{self, Borg, Server, Sshd};
use bw_tests::ssh::Tools;
use bw_tests::{du, json};

/// The server and sshd run over `dir/home`.
fn two_keys_on_one_repository(tools: &Tools, dir: &Path, sshd: &Sshd, server: &Server) {
    let token = server.cli_token("e2e", "create,read,update,delete");
    let admin = harness::keygen(dir, "admin");
    let client = harness::keygen(dir, "client");
    let (status, created) = server.post(
        "/api/v1/repositories",
        &token,
        &json!({"alias": "k", "sshPublicKey": admin.public, "storageSize": 1}),
    );
    assert_eq!(status, 200, "{created}");
    let name = created["repositoryName"].as_str().unwrap().to_string();
    let keys = format!("/api/v1/repositories/{name}/keys");
    let body = json!({"sshPublicKey": client.public, "mode": "append-only", "name": "nightly client"});
    let (status, added) = server.post(&keys, &token, &body);
    assert_eq!(status, 200, "{added}");
    let client_id = added["key"]["id"].as_str().unwrap().to_string();

    // Both keys back up into the one repository.
    let borg = Borg::new(tools, dir, sshd);
    let url = borg.url(&name);
    borg.ok(&admin, &["init", "-e", "none", &url]);
    // Each backs up its own data, so that what one archive holds alone can be freed.
    let (src_client, src_admin) = (dir.join("src-client"), dir.join("src-admin"));
    harness::random_file(&src_client.join("a.bin"), 1024 * 1024);
    harness::random_file(&src_admin.join("b.bin"), 1024 * 1024);
    borg.ok(&client, &["create", &format!("{url}::by-client"), src_client.to_str().unwrap()]);
    borg.ok(&admin, &["create", &format!("{url}::by-admin"), src_admin.to_str().unwrap()]);
    let listed = String::from_utf8_lossy(&borg.ok(&client, &["list", "--short", &url]).stdout).into_owned();
    assert!(listed.contains("by-client") && listed.contains("by-admin"), "{listed}");

    // The append-only key cannot destroy history: deleting the repository is refused, and an
    // archive it deletes and compacts away keeps every segment file.
    let out = borg.run(&client, &["delete", "--force", "--force", &url]);
    assert!(!out.status.success(), "the append-only key deleted the repository");
    let repo_dir = dir.join("home/repos").join(&name);
    let (segments, size) = (harness::segments(&repo_dir), du(&repo_dir));
    borg.ok(&client, &["delete", &format!("{url}::by-client")]);
    borg.ok(&client, &["prune", "--keep-last", "1", &url]);
    borg.ok(&client, &["compact", &url]);
    assert!(segments.is_subset(&harness::segments(&repo_dir)), "append-only key: a segment file disappeared");
    assert!(du(&repo_dir) >= size, "append-only key: space was freed");
    // The full key prunes and compacts for real.
    borg.ok(&admin, &["compact", &url]);
    assert!(du(&repo_dir) < size, "the full key's compaction freed nothing");

    // Removing the client's key shuts it out at its next login; the admin's key goes on.
    let (status, body) = server.delete(&format!("{keys}/{client_id}"), &token);
    assert_eq!(status, 200, "{body}");
    assert!(!borg.run(&client, &["list", &url]).status.success(), "a removed key still got in");
    borg.ok(&admin, &["list", &url]);
    borg.ok(&admin, &["create", &format!("{url}::after"), src_admin.to_str().unwrap()]);
}

#[test]
fn two_keys_one_repository_in_file_key_mode() {
    let Some(tools) = harness::tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let server = Server::start(dir.path(), &[]);
    let sshd = Sshd::start(&tools, dir.path(), &home);
    two_keys_on_one_repository(&tools, dir.path(), &sshd, &server);
    let file = std::fs::read_to_string(home.join(".ssh/authorized_keys")).unwrap();
    assert_eq!(bw_tests::as_sshd_reads(&file).lines().filter(|l| l.contains("borg serve")).count(), 1, "{file}");
}

#[test]
fn two_keys_one_repository_in_command_key_mode() {
    let Some(tools) = harness::tools() else { return };
    let Some(lookup) = harness::KeyLookupInstall::install(Path::new(harness::BIN)) else { return };
    let dir = tempfile::tempdir().unwrap();
    harness::open_to_others(dir.path());
    let (home, key_dir) = (dir.path().join("home"), dir.path().join("keys"));
    let server_env = vec![
        ("BW_KEY_MODE".to_string(), "command".to_string()),
        ("BW_KEY_LOOKUP_DIR".to_string(), key_dir.display().to_string()),
    ];
    let server = Server::start(dir.path(), &server_env);
    let sshd = Sshd::start_with(&tools, dir.path(), &home, "sshd", &lookup.sshd_lines(&key_dir, &tools.user));
    two_keys_on_one_repository(&tools, dir.path(), &sshd, &server);
}
