//! Every refused body answers the contract's error and changes nothing: not the store, not
//! `authorized_keys`, not the pool.

use bw_tests::{ed25519_key, json, repo_body, rsa_key, TestServer};
use serde_json::Value;

fn snapshot_of_everything(s: &TestServer) -> (Vec<u64>, String, Vec<String>) {
    let ids = s.state.repos.list().unwrap().iter().map(|r| r.id).collect();
    let mut pool: Vec<String> = std::fs::read_dir(s.home.join("repos"))
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    pool.sort();
    (ids, s.authorized_keys_text(), pool)
}

fn with(key: &str, value: Value) -> Value {
    let mut body = repo_body(&ed25519_key(900, ""));
    body[key] = value;
    body
}

#[test]
fn bad_create_bodies_get_422_and_change_nothing() {
    let s = TestServer::start();
    let t = s.full_token();
    assert_eq!(s.post("/api/repo/add", Some(&t), &repo_body(&ed25519_key(1, ""))).0, 200);
    let before = snapshot_of_everything(&s);
    let good = ed25519_key(2, "c");
    let data = good.split(' ').nth(1).unwrap().to_string();
    let mut unknown = repo_body(&ed25519_key(3, ""));
    unknown["owner"] = json!("x");
    let mut missing = repo_body(&ed25519_key(3, ""));
    missing.as_object_mut().unwrap().remove("comment");

    let cases: Vec<(&str, Value)> = vec![
        ("newline then a second key", with("sshPublicKey", json!(format!("{good}\nssh-ed25519 {data} evil")))),
        ("options in front", with("sshPublicKey", json!(format!("command=\"sh\" {good}")))),
        ("declared type differs from data", with("sshPublicKey", json!(format!("ssh-rsa {data}")))),
        ("truncated base64", with("sshPublicKey", json!(format!("ssh-ed25519 {}", &data[..30])))),
        ("RSA under 2048 bits", with("sshPublicKey", json!(rsa_key(1024, 1)))),
        ("RSA over OpenSSH's 16384 bits", with("sshPublicKey", json!(rsa_key(16392, 1)))),
        ("ssh-dss", with("sshPublicKey", json!(format!("ssh-dss {data}")))),
        ("carriage return inside", with("sshPublicKey", json!(format!("{good}\rx")))),
        ("key not a string", with("sshPublicKey", json!(12))),
        ("storageSize 1.5", with("storageSize", json!(1.5))),
        ("storageSize \"100\"", with("storageSize", json!("100"))),
        ("storageSize 0", with("storageSize", json!(0))),
        ("storageSize -1", with("storageSize", json!(-1))),
        ("storageSize 1e12", with("storageSize", serde_json::from_str("1e12").unwrap())),
        ("storageSize too big", with("storageSize", json!(1_000_001))),
        ("alert 1", with("alert", json!(1))),
        ("alert string", with("alert", json!("90000"))),
        ("unknown key", unknown),
        ("missing key (seed)", missing),
        ("lanCommand as string", with("lanCommand", json!("true"))),
        ("appendOnlyMode null", with("appendOnlyMode", Value::Null)),
        ("empty alias", with("alias", json!("   "))),
        ("alias with control character", with("alias", json!("a\u{7}b"))),
        ("alias too long", with("alias", json!("a".repeat(101)))),
        ("comment too long", with("comment", json!("a".repeat(501)))),
        ("comment with newline", with("comment", json!("a\nb"))),
    ];
    for (what, body) in &cases {
        let (status, answer) = s.post("/api/repo/add", Some(&t), body);
        assert_eq!(status, 422, "{what}: {answer}");
        assert_eq!(answer["message"], "Unexpected data", "{what}");
        assert!(answer["detail"].is_string(), "{what}: a detail names the field");
        assert_eq!(snapshot_of_everything(&s), before, "{what} changed something");
    }
    let (_, answer) = s.post("/api/repo/add", Some(&t), &with("alert", json!(1)));
    insta::assert_json_snapshot!("unexpected_data", answer);
}

#[test]
fn bad_bodies_on_v1_and_edit() {
    let s = TestServer::start();
    let t = s.full_token();
    let (_, c) = s.post("/api/repo/add", Some(&t), &repo_body(&ed25519_key(1, "")));
    let name = c["repositoryName"].as_str().unwrap().to_string();
    let before = snapshot_of_everything(&s);

    let (status, _) = s.post("/api/v1/repositories", Some(&t), &json!({"alias": "x", "storageSize": 1}));
    assert_eq!(status, 422, "v1 needs sshPublicKey");
    for (path, body) in [
        ("/api/repo/id/0/edit".to_string(), json!({})),
        ("/api/repo/id/0/edit".to_string(), json!({"storageSize": 0})),
        (format!("/api/v1/repositories/{name}"), json!({"alias": ""})),
        (format!("/api/v1/repositories/{name}"), json!({"id": 5})),
        (format!("/api/v1/repositories/{name}"), json!({"repositoryName": "deadbeef"})),
    ] {
        let (status, answer) = s.patch(&path, Some(&t), &body);
        assert_eq!(status, 422, "{path} {body}: {answer}");
    }
    for raw in ["[1,2]", "\"text\"", "null", "{\"alias\": "] {
        let (status, answer) = s.call("PATCH", "/api/repo/id/0/edit", Some(&t), Some(raw));
        assert_eq!(status, 400, "{raw}: {answer}");
        assert_eq!(answer["message"], "Invalid request body", "{raw}");
    }
    assert_eq!(snapshot_of_everything(&s), before);
}

/// An edit's body is read field by field in the body's order, in the contract's words: a
/// `null` is refused by its field (it is not "left out"), the first bad field is the one named,
/// an unknown key lists the keys of that path, and an archived repository answers 403 before
/// any of it.
#[test]
fn edit_bodies_are_read_in_order_and_in_the_contracts_words() {
    let s = TestServer::start();
    let t = s.full_token();
    let (_, c) = s.post("/api/repo/add", Some(&t), &repo_body(&ed25519_key(1, "")));
    let name = c["repositoryName"].as_str().unwrap().to_string();
    let before = snapshot_of_everything(&s);
    let v1 = format!("/api/v1/repositories/{name}");
    for (path, body, detail) in [
        ("/api/repo/id/0/edit", json!({"alias": null}), "alias must be a string"),
        (v1.as_str(), json!({"icon": null}), "icon must be a string matching ^Icon[A-Za-z0-9]{1,40}$"),
        (v1.as_str(), json!({"storageSize": 0, "alias": 7}), "alias must be a string"),
        (v1.as_str(), json!({"alert": 5, "storageSize": 0}), "storageSize must be a whole number of GB from 1 to 1000000"),
        (
            "/api/repo/id/0/edit",
            json!({"icon": "IconServer"}),
            "unknown field \"icon\"; allowed: alias, sshPublicKey, storageSize, comment, alert, lanCommand, appendOnlyMode",
        ),
        (
            v1.as_str(),
            json!({}),
            "give at least one of alias, sshPublicKey, storageSize, comment, alert, lanCommand, appendOnlyMode, icon",
        ),
    ] {
        let (status, answer) = s.patch(path, Some(&t), &body);
        assert_eq!((status, answer["detail"].as_str()), (422, Some(detail)), "{path} {body}: {answer}");
    }
    assert_eq!(snapshot_of_everything(&s), before);

    assert_eq!(s.post(&format!("{v1}/archive"), Some(&t), &json!({"archived": true})).0, 200);
    let (status, answer) = s.patch(&v1, Some(&t), &json!({"alias": null}));
    assert_eq!(status, 403, "an archived repository is refused before its body is read: {answer}");
    assert_eq!(s.patch("/api/repo/id/9/edit", Some(&t), &json!({"alias": null})).0, 404);
}

#[test]
fn accepted_key_types() {
    let s = TestServer::start();
    let t = s.full_token();
    let dir = tempfile::tempdir().unwrap();
    let mut keys = vec![rsa_key(2048, 1), rsa_key(4096, 2), rsa_key(16384, 3)];
    for (kind, bits) in [("ecdsa", "256"), ("ecdsa", "384"), ("ecdsa", "521"), ("ed25519", "256")] {
        let path = dir.path().join(format!("{kind}{bits}"));
        let ok = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", kind, "-b", bits, "-N", "", "-C", "gen@test", "-f"])
            .arg(&path)
            .status()
            .expect("ssh-keygen (openssh-client) is needed by this test");
        assert!(ok.success());
        keys.push(std::fs::read_to_string(path.with_extension("pub")).unwrap().trim().to_string());
    }
    for key in &keys {
        let (status, answer) = s.post("/api/repo/add", Some(&t), &repo_body(key));
        assert_eq!(status, 200, "{key}: {answer}");
    }
    let text = s.authorized_keys_text();
    for key in &keys {
        assert!(text.contains(&format!(",restrict {key}\n")), "{key} not written as given");
    }
}

/// The document's alias pattern and the validator agree: an alias the one refuses, the other
/// refuses (checked with Python's `re`, as schema fuzzers read the pattern). An alias of
/// invisible characters alone (U+FEFF, zero-width spaces, direction overrides) is blank.
#[test]
fn the_alias_pattern_and_the_validator_agree_on_invisible_characters() {
    let s = TestServer::start();
    let t = s.full_token();
    let doc: Value = serde_json::from_str(&borgwarehouse::openapi_spec()).unwrap();
    let pattern = doc["components"]["schemas"]["RepoCreateV1"]["properties"]["alias"]["pattern"].as_str().unwrap();
    let samples = [
        "\u{FEFF}",
        "\u{200B}",
        " \u{202E}\u{2066} ",
        "\u{00A0}",
        "\u{E0020}\u{E0001}\u{1D173}\u{13430}\u{110BD}",
        "a",
        "\u{FEFF}a",
        "👨\u{200D}👩",
        "x y",
        "\u{E0020}𓀀",
    ];
    let script =
        "import json,re,sys; p,s=json.load(sys.stdin); print(json.dumps([re.search(p,x) is not None for x in s]))";
    let mut python = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(python.stdin.as_mut().unwrap(), json!([pattern, samples]).to_string().as_bytes())
        .unwrap();
    let out = python.wait_with_output().unwrap();
    let matched: Vec<bool> = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    for (i, (alias, matches)) in samples.iter().zip(matched).enumerate() {
        let mut body = repo_body(&ed25519_key(950 + i as u32, ""));
        body["alias"] = json!(alias);
        let (status, answer) = s.post("/api/v1/repositories", Some(&t), &body);
        assert_eq!(status == 200, matches, "{alias:?}: the pattern says {matches}, the server {status} {answer}");
    }
    assert_eq!(s.state.repos.len(), 5, "only the visible aliases were stored");
}
