//! Sessions end to end: on by default, sshd runs `borg serve` under our recorder; the
//! server learns that a backup ended within seconds, without a check, and a backup made while
//! the server is stopped succeeds all the same and is taken in when it starts again.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::harness::{self, Borg, Server, Sshd};
use bw_tests::json;

/// Sessions as they come by default (`BW_SESSIONS` unset, the recorder being this very
/// program), with the spool where the test can watch it.
fn env(root: &Path) -> Vec<(String, String)> {
    vec![
        ("BW_SESSION_SPOOL".into(), root.join("spool").display().to_string()),
        ("BW_SESSION_INTERVAL".into(), "1s".into()),
        // No check runs: only sessions can move the figures.
        ("BW_STATUS_INTERVAL".into(), "0".into()),
        ("BW_STORAGE_INTERVAL".into(), "0".into()),
    ]
}

/// The repository's sessions once there are `n`, within 20 s.
fn sessions(server: &Server, token: &str, name: &str, n: usize) -> Vec<serde_json::Value> {
    let start = Instant::now();
    loop {
        let (status, body) = server.get(&format!("/api/v1/repositories/{name}/sessions"), token);
        assert_eq!(status, 200, "{body}");
        let list = body["sessions"].as_array().unwrap().clone();
        if list.len() >= n {
            return list;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{} sessions after 20 s, waiting for {n}", list.len());
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_server_learns_that_a_backup_ended_and_backups_never_wait_on_it() {
    let Some(tools) = harness::tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let mut server = Server::start(dir.path(), &env(dir.path()));
    let sshd = Sshd::start(&tools, dir.path(), &home);
    let token = server.cli_token("e2e", "create,read,update,delete");
    let key = harness::keygen(dir.path(), "client");
    let (status, created) = server.post(
        "/api/v1/repositories",
        &token,
        &json!({"alias": "s", "sshPublicKey": key.public, "storageSize": 1, "alert": 3600}),
    );
    assert_eq!(status, 200, "{created}");
    let name = created["repositoryName"].as_str().unwrap().to_string();
    let line = std::fs::read_to_string(home.join(".ssh/authorized_keys")).unwrap();
    assert!(
        line.contains(&format!(";{} session --spool ", harness::BIN))
            && line.contains(" -- borg serve --restrict-to-repository "),
        "{line}"
    );

    // init and create through sshd and the recorder; the figures follow with no check run.
    let borg = Borg::new(&tools, dir.path(), &sshd);
    borg.ok(&key, &["init", "-e", "none", &borg.url(&name)]);
    let src = dir.path().join("src");
    harness::random_file(&src.join("a.bin"), 2 * 1024 * 1024);
    borg.ok(&key, &["create", &format!("{}::first", borg.url(&name)), src.to_str().unwrap()]);
    let list = sessions(&server, &token, &name, 2);
    let key_id = bw_host::ssh_key::key_id(&key.public).unwrap();
    for s in &list {
        assert_eq!(s["exitCode"], 0, "{s}");
        assert_eq!(s["wroteChanges"], true, "init and create both committed: {s}");
        assert_eq!(s["keyId"], key_id.as_str(), "{s}");
        assert!(s["client"].as_str().unwrap().starts_with("127.0.0.1 "), "{s}");
        assert!(s["endedAt"].as_i64().unwrap() >= s["startedAt"].as_i64().unwrap(), "{s}");
    }
    let repo = server.repo(&token, &name);
    assert!(repo["lastSave"].as_i64().unwrap() > 0 && repo["status"] == true, "{repo}");
    assert!(repo["storageUsed"].as_u64().unwrap() >= 2048, "{repo}");

    // A client's own failure reaches it unchanged; the session is still recorded, with the
    // exit code of `borg serve` (which served it without fault).
    // So `exitCode` is no result: `wroteChanges` says that nothing was written.
    let out = borg.run(&key, &["list", &format!("{}::nosuch", borg.url(&name))]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let list = sessions(&server, &token, &name, 3);
    assert_eq!((&list[0]["exitCode"], &list[0]["wroteChanges"]), (&json!(0), &json!(false)), "{list:?}");

    // A client cannot forge a session: whatever it asks sshd to run, the line's forced command
    // runs, naming the repository and key this server wrote; another repository gets nothing.
    let other_key = harness::keygen(dir.path(), "other");
    let body = json!({"alias": "o", "sshPublicKey": other_key.public, "storageSize": 1});
    let (status, other) = server.post("/api/v1/repositories", &token, &body);
    assert_eq!(status, 200, "{other}");
    let other = other["repositoryName"].as_str().unwrap().to_string();
    let forged = format!(
        "{} session --spool {} --repository {other} --key 0123456789abcdef -- /bin/true",
        harness::BIN,
        dir.path().join("spool").display()
    );
    let _ = sshd.ssh(&key, &forged);
    let list = sessions(&server, &token, &name, 4);
    assert_eq!(list[0]["keyId"], key_id.as_str(), "{list:?}");
    let (_, none) = server.get(&format!("/api/v1/repositories/{other}/sessions"), &token);
    assert_eq!(none["sessions"], json!([]), "a forged session reached another repository");

    // A backup into a repository never initialised fails at the client (rc 2) while borg
    // serve exits 0: recorded as having written nothing.
    let out = borg.run(&other_key, &["create", &format!("{}::never", borg.url(&other)), src.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let failed = sessions(&server, &token, &other, 1);
    assert_eq!((&failed[0]["exitCode"], &failed[0]["wroteChanges"]), (&json!(0), &json!(false)), "{failed:?}");

    // The server stopped: the backup succeeds as before, its record waits in the spool.
    server.stop();
    std::fs::write(src.join("b.bin"), vec![1u8; 100_000]).unwrap();
    borg.ok(&key, &["create", &format!("{}::second", borg.url(&name)), src.to_str().unwrap()]);
    let waiting = bw_host::session_spool::waiting(&dir.path().join("spool")).unwrap().len();
    assert_eq!(waiting, 1, "the session waits for the server");
    let before = repo["lastSave"].as_i64().unwrap();
    let server = Server::start(dir.path(), &env(dir.path()));
    let list = sessions(&server, &token, &name, 5);
    assert_eq!(list[0]["exitCode"], 0);
    let repo = server.repo(&token, &name);
    assert!(repo["lastSave"].as_i64().unwrap() >= before, "{repo}");
}

/// A server with sessions on in command key mode, and the key lookup installed as sshd demands.
struct CommandMode {
    tools: bw_tests::ssh::Tools,
    lookup: harness::KeyLookupInstall,
    dir: tempfile::TempDir,
    home: std::path::PathBuf,
    key_dir: std::path::PathBuf,
    server: Server,
}

fn command_mode() -> Option<CommandMode> {
    let tools = harness::tools()?;
    let lookup = harness::KeyLookupInstall::install(Path::new(harness::BIN))?;
    let dir = tempfile::tempdir().unwrap();
    // The lookup's user must reach the key folder under the test's (otherwise private) folder.
    harness::open_to_others(dir.path());
    let (home, key_dir) = (dir.path().join("home"), dir.path().join("keys"));
    let mut env = env(dir.path());
    env.push(("BW_KEY_MODE".into(), "command".into()));
    env.push(("BW_KEY_LOOKUP_DIR".into(), key_dir.display().to_string()));
    let server = Server::start(dir.path(), &env);
    Some(CommandMode { tools, lookup, dir, home, key_dir, server })
}

/// In command key mode the key lookup hands sshd the same line, recorder included: the server
/// learns of the session the same way.
#[test]
fn in_command_key_mode_the_lookups_line_records_the_session_too() {
    let Some(CommandMode { tools, lookup, dir, home, key_dir, server }) = command_mode() else { return };
    let sshd = Sshd::start_with(&tools, dir.path(), &home, "sshd", &lookup.sshd_lines(&key_dir, &tools.user));
    let token = server.cli_token("e2e", "create,read,update,delete");
    let key = harness::keygen(dir.path(), "client");
    let (status, created) = server.post(
        "/api/v1/repositories",
        &token,
        &json!({"alias": "c", "sshPublicKey": key.public, "storageSize": 1, "alert": 3600}),
    );
    assert_eq!(status, 200, "{created}");
    let name = created["repositoryName"].as_str().unwrap().to_string();
    assert!(!std::fs::read_to_string(home.join(".ssh/authorized_keys")).unwrap_or_default().contains(&name));

    let borg = Borg::new(&tools, dir.path(), &sshd);
    borg.ok(&key, &["init", "-e", "none", &borg.url(&name)]);
    let list = sessions(&server, &token, &name, 1);
    assert_eq!(list[0]["exitCode"], 0, "{list:?}");
    assert_eq!(list[0]["keyId"], bw_tests::json!(bw_host::ssh_key::key_id(&key.public).unwrap()));
    let repo = server.repo(&token, &name);
    assert!(repo["lastSave"].as_i64().unwrap() > 0, "{repo}");
}

/// Repositories for `keys`, made through the API: their names.
fn repositories(server: &Server, token: &str, keys: &[bw_tests::ssh::Key]) -> Vec<String> {
    keys.iter()
        .enumerate()
        .map(|(i, key)| {
            let body = json!({"alias": format!("r{i}"), "sshPublicKey": key.public, "storageSize": 1});
            let (status, created) = server.post("/api/v1/repositories", token, &body);
            assert_eq!(status, 200, "{created}");
            created["repositoryName"].as_str().unwrap().to_string()
        })
        .collect()
}

/// Fifty sessions at once, ten on each of five repositories: every one is recorded, under its
/// own repository and key, and the spool is left empty.
#[test]
fn fifty_concurrent_sessions_are_all_recorded() {
    let Some(tools) = harness::tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let server = Server::start(dir.path(), &env(dir.path()));
    // sshd's default MaxStartups (10) would drop some of fifty logins arriving together.
    let sshd = Sshd::start_with(&tools, dir.path(), &home, "sshd", "MaxStartups 100\n");
    let token = server.cli_token("e2e", "create,read,update,delete");
    let keys: Vec<_> = (0..5).map(|i| harness::keygen(dir.path(), &format!("c{i}"))).collect();
    let names = repositories(&server, &token, &keys);
    std::thread::scope(|scope| {
        for i in 0..50 {
            let (sshd, key) = (&sshd, &keys[i % 5]);
            // `borg serve` with its input closed: a session that ends at once.
            scope.spawn(move || sshd.ssh(key, ""));
        }
    });
    for (name, key) in names.iter().zip(&keys) {
        let list = sessions(&server, &token, name, 10);
        assert_eq!(list.len(), 10, "{name}: {list:?}");
        let id = bw_host::ssh_key::key_id(&key.public).unwrap();
        assert!(list.iter().all(|s| s["keyId"] == id.as_str()), "{list:?}");
    }
    let waiting = bw_host::session_spool::waiting(&dir.path().join("spool")).unwrap().len();
    assert_eq!(waiting, 0, "records left in the spool");
}

/// A client that drops its connection mid-session leaves `borg serve` to be killed: the session
/// is recorded all the same, with the exit code of the signal (128 + 9).
#[test]
fn a_killed_borg_serve_is_recorded_with_its_exit_code() {
    let Some(tools) = harness::tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let server = Server::start(dir.path(), &env(dir.path()));
    let sshd = Sshd::start(&tools, dir.path(), &home);
    let token = server.cli_token("e2e", "create,read,update,delete");
    let key = harness::keygen(dir.path(), "client");
    let name = repositories(&server, &token, std::slice::from_ref(&key)).remove(0);
    // A session that waits on its input, as borg serve does for a client's next request.
    let mut client = std::process::Command::new("ssh")
        .args(sshd.ssh_args(&key))
        .arg(format!("{}@127.0.0.1", tools.user))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let borg = loop {
        // borg itself: not the recorder, nor the shell sshd runs the command with.
        if let Some(pid) = harness::borg_serve_pids(&name).first() {
            break *pid;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no borg serve for {name}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(std::process::Command::new("kill").args(["-KILL", &borg.to_string()]).status().unwrap().success());
    let list = sessions(&server, &token, &name, 1);
    assert_eq!(list[0]["exitCode"], 137, "{list:?}");
    drop(client.stdin.take());
    let _ = client.wait();
}

/// docs/scale-out.md's layout, locally: two sshd instances stand for two storage hosts over one
/// pool, both asking the key lookup (command key mode). A session through either is recorded
/// in the spool on the shared pool and taken in by the one control plane.
#[test]
fn sessions_through_either_storage_host_are_taken_in() {
    let Some(CommandMode { tools, lookup, dir, home, key_dir, server }) = command_mode() else { return };
    let lines = lookup.sshd_lines(&key_dir, &tools.user);
    let host_a = Sshd::start_with(&tools, dir.path(), &home, "sshd-host-a", &lines);
    let host_b = Sshd::start_with(&tools, dir.path(), &home, "sshd-host-b", &lines);
    let token = server.cli_token("e2e", "create,read,update,delete");
    let key = harness::keygen(dir.path(), "client");
    let name = repositories(&server, &token, std::slice::from_ref(&key)).remove(0);
    let (via_a, via_b) = (Borg::new(&tools, dir.path(), &host_a), Borg::new(&tools, dir.path(), &host_b));
    let src = dir.path().join("src");
    harness::random_file(&src.join("f.bin"), 256 * 1024);
    via_a.ok(&key, &["init", "-e", "none", &via_a.url(&name)]);
    sessions(&server, &token, &name, 1);
    let before = server.repo(&token, &name)["lastSave"].as_i64().unwrap();
    via_b.ok(&key, &["create", &format!("{}::through-b", via_b.url(&name)), src.to_str().unwrap()]);
    let list = sessions(&server, &token, &name, 2);
    assert!(list.iter().all(|s| s["exitCode"] == 0), "{list:?}");
    let repo = server.repo(&token, &name);
    assert!(repo["lastSave"].as_i64().unwrap() >= before && repo["storageUsed"].as_u64().unwrap() >= 256, "{repo}");
}
