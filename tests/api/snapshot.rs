//! `borgwarehouse export` and `restore`: a snapshot taken while the server runs brings the
//! server back exactly after its data folder is lost.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use bw_tests::{basic, ed25519_key, json};
use serde_json::Value;

use crate::cli_env::{get, Env, Running};

const PASSWORD: &str = "snapshot admin password";

fn call(port: u16, method: &str, path: &str, auth: &str, body: Option<Value>) -> (u16, Value) {
    let body = body.map(|b| b.to_string());
    bw_tests::request(method, &format!("http://127.0.0.1:{port}{path}"), Some(auth), body.as_deref())
}

fn token(env: &Env, name: &str, perms: &str) -> String {
    let (ok, out, err) = env.run(&["token", "create", "--name", name, "--permissions", perms], None);
    assert!(ok, "{err}");
    out.lines().last().unwrap().to_string()
}

fn start(env: &Env) -> (Running, u16) {
    let mut cmd = env.cmd(&[]);
    cmd.env("BW_ADMIN_PASSWORD", PASSWORD);
    Running::start(cmd, &env.dir.path().join("server.log"))
}

fn stop(server: Running) {
    let pid = server.0.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let mut server = server;
    let _ = server.0.wait();
}

#[test]
fn a_snapshot_taken_while_running_brings_the_server_back_after_its_data_folder_is_lost() {
    let env = Env::new();
    let (server, port) = start(&env);
    let full = token(&env, "automation", "create,read,update,delete");
    let reader = token(&env, "monitoring", "read");
    let bearer = format!("Bearer {full}");
    let mut names = Vec::new();
    for (seed, alias) in [(1, "web"), (2, "db"), (3, "gone"), (4, "archived")] {
        let (status, created) = call(
            port,
            "POST",
            "/api/v1/repositories",
            &bearer,
            Some(json!({"alias": alias, "sshPublicKey": ed25519_key(seed, ""), "storageSize": seed, "alert": 3600,
                        "appendOnlyMode": seed == 2, "comment": format!("comment {seed}")})),
        );
        assert_eq!(status, 200, "{created}");
        names.push(created["repositoryName"].as_str().unwrap().to_string());
    }
    // A history: an edit, a delete (its line blanked in place, its id never to be given again),
    // an archive.
    assert_eq!(
        call(port, "PATCH", &format!("/api/v1/repositories/{}", names[0]), &bearer, Some(json!({"alias": "web-2"}))).0,
        200
    );
    assert_eq!(call(port, "DELETE", &format!("/api/v1/repositories/{}", names[2]), &bearer, None).0, 200);
    assert_eq!(
        call(
            port,
            "POST",
            &format!("/api/v1/repositories/{}/archive", names[3]),
            &bearer,
            Some(json!({"archived": true}))
        )
        .0,
        200
    );

    // A second key, append-only, on one repository: the snapshot carries it, with its line.
    let second = json!({"sshPublicKey": ed25519_key(6, "second"), "mode": "append-only", "name": "client"});
    let path = format!("/api/v1/repositories/{}/keys", names[1]);
    assert_eq!(call(port, "POST", &path, &bearer, Some(second)).0, 200);

    // The checks' history: a point per repository and one for the host.
    assert_eq!(call(port, "POST", "/api/v1/repositories/refresh", &bearer, None).0, 200);
    let (_, host_history_before) = call(port, "GET", "/api/v1/history", &bearer, None);
    let history_path = format!("/api/v1/repositories/{}/history", names[0]);
    let (_, history_before) = call(port, "GET", &history_path, &bearer, None);
    assert!(!history_before["points"].as_array().unwrap().is_empty(), "{history_before}");
    assert!(!host_history_before["points"].as_array().unwrap().is_empty(), "{host_history_before}");

    // A tenant's quota and alert settings changed in the page come back too.
    let admin = basic("admin", PASSWORD);
    assert_eq!(call(port, "PUT", "/api/v1/tenants/acme", &admin, Some(json!({"quotaGB": 42}))).0, 200);
    let page = json!({"emailTo": "ops@example.org", "webhookUrl": ""});
    assert_eq!(call(port, "PATCH", "/api/v1/alerts/settings", &admin, Some(page)).0, 200);
    let (_, tenants_before) = call(port, "GET", "/api/v1/tenants", &admin, None);
    let (_, alerts_before) = call(port, "GET", "/api/v1/alerts/settings", &admin, None);
    assert_eq!(alerts_before["fromPage"], json!(["emailTo", "webhookUrl"]));

    // The snapshot, taken through the running server.
    let snapshot = env.dir.path().join("backup/bw-snapshot.json");
    fs::create_dir_all(snapshot.parent().unwrap()).unwrap();
    let (ok, _, err) = env.run(&["export", snapshot.to_str().unwrap()], None);
    assert!(ok, "{err}");
    assert_eq!(fs::metadata(&snapshot).unwrap().permissions().mode() & 0o777, 0o600, "it holds hashes");
    let text = fs::read_to_string(&snapshot).unwrap();
    assert!(!text.contains(&full) && !text.contains(&reader) && !text.contains(PASSWORD), "no secret in clear");
    let (_, list_before) = call(port, "GET", "/api/v1/repositories?include=keys", &bearer, None);
    let (_, tokens_before, _) = env.run(&["token", "list"], None);
    let keys_path = env.dir.path().join("home/.ssh/authorized_keys");
    let keys_before = fs::read(&keys_path).unwrap();
    stop(server);

    // The data folder is lost.
    fs::remove_dir_all(env.dir.path().join("data")).unwrap();
    let (ok, out, err) = env.run(&["restore", snapshot.to_str().unwrap()], None);
    assert!(ok, "{err}");
    assert!(out.contains("restored 3 repositories, 2 tokens, 1 user"), "{out}");
    assert!(out.contains(&env.dir.path().join("data").display().to_string()), "says which data folder: {out}");
    assert!(out.contains(&env.dir.path().join("home").display().to_string()), "says which home: {out}");
    assert_eq!(fs::read(&keys_path).unwrap(), keys_before, "authorized_keys is byte-identical");
    let (_, tokens_after, _) = env.run(&["token", "list"], None);
    assert_eq!(tokens_after, tokens_before);

    // Everything works as before.
    let (server, port) = start(&env);
    let (_, list_after) = call(port, "GET", "/api/v1/repositories?include=keys", &bearer, None);
    assert_eq!(list_after, list_before);
    // The history came back with them (the first start's own host point, if any, replaced).
    assert_eq!(call(port, "GET", &history_path, &bearer, None).1, history_before);
    let (_, host_history_after) = call(port, "GET", "/api/v1/history", &bearer, None);
    let before = host_history_before["points"].as_array().unwrap();
    assert_eq!(&host_history_after["points"].as_array().unwrap()[..before.len()], &before[..]);
    let db = list_after["repoList"].as_array().unwrap().iter().find(|r| r["alias"] == "db").unwrap();
    let modes: Vec<&Value> = db["keys"].as_array().unwrap().iter().map(|k| &k["mode"]).collect();
    assert_eq!(modes, vec!["append-only", "append-only"], "both keys came back: {db}");
    let taken = json!({"alias": "dup", "sshPublicKey": ed25519_key(6, ""), "storageSize": 1});
    assert_eq!(call(port, "POST", "/api/v1/repositories", &bearer, Some(taken)).0, 409, "the second key is known");
    assert_eq!(get(&format!("http://127.0.0.1:{port}/api/v1/repositories"), &reader), 200);
    assert_eq!(call(port, "GET", "/api/v1/repositories", &admin, None).0, 200, "the administrator's password");
    assert_eq!(call(port, "GET", "/api/v1/tenants", &admin, None).1, tenants_before);
    assert_eq!(call(port, "GET", "/api/v1/alerts/settings", &admin, None).1, alerts_before);
    let (status, created) = call(
        port,
        "POST",
        "/api/v1/repositories",
        &bearer,
        Some(json!({"alias": "after", "sshPublicKey": ed25519_key(5, ""), "storageSize": 1})),
    );
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["id"], 4, "ids go on from the counter: the deleted repository's id is not given again");
    let (status, _) = call(
        port,
        "POST",
        "/api/v1/repositories",
        &bearer,
        Some(json!({"alias": "dup", "sshPublicKey": ed25519_key(1, ""), "storageSize": 1})),
    );
    assert_eq!(status, 409, "a restored repository's key is known");

    // A restore refuses a running server, and a data folder that holds a store.
    let (ok, _, err) = env.run(&["restore", snapshot.to_str().unwrap()], None);
    assert!(!ok && err.contains("a server is running"), "{err}");
    stop(server);
    let (ok, _, err) = env.run(&["restore", snapshot.to_str().unwrap()], None);
    assert!(!ok && err.contains("empty data folder"), "{err}");
}

#[test]
fn a_damaged_snapshot_is_refused_and_restores_nothing() {
    let env = Env::new();
    let (server, port) = start(&env);
    let full = token(&env, "automation", "create,read");
    for seed in [1, 2] {
        let body = json!({"alias": "a", "sshPublicKey": ed25519_key(seed, ""), "storageSize": 1});
        assert_eq!(call(port, "POST", "/api/v1/repositories", &format!("Bearer {full}"), Some(body)).0, 200);
    }
    let snapshot = env.dir.path().join("snap.json");
    assert!(env.run(&["export", snapshot.to_str().unwrap()], None).0);
    stop(server);
    let mut doc: Value = serde_json::from_str(&fs::read_to_string(&snapshot).unwrap()).unwrap();
    // Two repositories with one key: sshd would give both clients the first one's repository.
    let first = doc["repositories"][0]["sshPublicKey"].clone();
    // Edited in one place only: the first key is said twice, and the two must agree.
    doc["repositories"][1]["sshPublicKey"] = first.clone();
    fs::write(&snapshot, doc.to_string()).unwrap();
    fs::remove_dir_all(env.dir.path().join("data")).unwrap();
    let (ok, _, err) = env.run(&["restore", snapshot.to_str().unwrap()], None);
    assert!(!ok && err.contains("sshPublicKey is not the first of its keys"), "{err}");
    doc["repositories"][1]["keys"][0]["sshPublicKey"] = first;
    fs::write(&snapshot, doc.to_string()).unwrap();
    let (ok, _, err) = env.run(&["restore", snapshot.to_str().unwrap()], None);
    assert!(!ok && err.contains("restore refused, nothing restored") && err.contains("key"), "{err}");
    let (ok, out, _) = env.run(&["token", "list"], None);
    assert!(ok && out.lines().count() == 1, "no token was restored: {out}");
    // Another JSON file given by mistake.
    fs::write(&snapshot, "[]").unwrap();
    let (ok, _, err) = env.run(&["restore", snapshot.to_str().unwrap()], None);
    assert!(!ok && err.contains("not a snapshot"), "{err}");
}

/// The deployment guide's rebuild with the package: the install starts the service, whose first
/// start takes the kept pool's lines in, before the sysadmin restores. Those adoptions alone are
/// replaced by the snapshot; a store someone used (a token) still refuses.
#[test]
fn a_restore_replaces_a_store_that_only_took_in_the_kept_lines_at_its_first_start() {
    let env = Env::new();
    let (server, port) = start(&env);
    let full = token(&env, "automation", "create,read,update,delete");
    let bearer = format!("Bearer {full}");
    for (seed, alias) in [(1, "web"), (2, "db")] {
        let body = json!({"alias": alias, "sshPublicKey": ed25519_key(seed, ""), "storageSize": 2, "alert": 3600});
        assert_eq!(call(port, "POST", "/api/v1/repositories", &bearer, Some(body)).0, 200);
    }
    let snapshot = env.dir.path().join("bw-snapshot.json");
    let (ok, _, err) = env.run(&["export", snapshot.to_str().unwrap()], None);
    assert!(ok, "{err}");
    let (_, list_before) = call(port, "GET", "/api/v1/repositories", &bearer, None);
    stop(server);

    // Reinstalled: a new data folder, and a first start (no administrator yet) over the kept home.
    fs::remove_dir_all(env.dir.path().join("data")).unwrap();
    let (server, port) = Running::start(env.cmd(&[]), &env.dir.path().join("server-2.log"));
    assert_eq!(call(port, "GET", "/api/v1/repositories", &bearer, None).0, 403, "the old token is gone");
    stop(server);
    let log = fs::read_to_string(env.dir.path().join("server-2.log")).unwrap();
    assert!(log.contains("taken in at first start"), "the first start adopted nothing: {log}");

    let (ok, out, err) = env.run(&["restore", snapshot.to_str().unwrap()], None);
    assert!(ok, "{err}");
    assert!(out.contains("restored 2 repositories, 1 token"), "{out}");
    let (server, port) = start(&env);
    let (_, list_after) = call(port, "GET", "/api/v1/repositories", &bearer, None);
    assert_eq!(list_after, list_before, "the snapshot's records, not the adopted ones");
    stop(server);

    // Adopted again, but a token made since: that store is someone's, and restore changes nothing.
    fs::remove_dir_all(env.dir.path().join("data")).unwrap();
    let (server, _) = Running::start(env.cmd(&[]), &env.dir.path().join("server-3.log"));
    stop(server);
    token(&env, "made-after", "read");
    let (ok, _, err) = env.run(&["restore", snapshot.to_str().unwrap()], None);
    assert!(!ok && err.contains("empty data folder"), "{err}");
    let data = env.dir.path().join("data");
    assert!(err.contains(&format!("mv {0} {0}.before-restore", data.display())), "no way out named: {err}");
    let (_, tokens, _) = env.run(&["token", "list"], None);
    assert!(tokens.contains("made-after") && !tokens.contains("automation"), "{tokens}");
}
