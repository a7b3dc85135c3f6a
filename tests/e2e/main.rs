//! End to end: our server, a real sshd and a real borg client, each a real process on
//! 127.0.0.1. Proves that the repositories the API makes are the ones borg can (and only can)
//! use, and that the API's figures match what happened.
//!
//! Locally the scenario is skipped, saying why, when `CI` is unset and `sshd` or `borg` is
//! missing; in CI a missing tool fails it.

mod dashboard;
mod health;
mod key_command;
mod keys;
mod maintenance;
mod prometheus;
mod sessions;
mod several_servers;
mod storage_target;
mod verify;

// Shared with tests/robustness, which uses parts this scenario does not.
#[allow(dead_code)]
mod harness;
mod hold;

use std::fs;
use std::time::{SystemTime, UNIX_EPOCH};

use bw_tests::du;
use bw_tests::json;
use bw_tests::sinks::{HttpReceiver, SmtpSink};
use harness::{Borg, Server, Sshd};

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

#[test]
fn borg_backs_up_through_the_repositories_the_api_makes() {
    let Some(tools) = harness::tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let smtp = SmtpSink::start();
    let hook = HttpReceiver::start();
    let alert_env = vec![
        ("BW_ALERT_EMAIL".to_string(), "admin@example.org".to_string()),
        ("MAIL_SMTP_HOST".into(), "127.0.0.1".into()),
        ("MAIL_SMTP_PORT".into(), smtp.port.to_string()),
        ("BW_MAIL_TLS".into(), "none".into()),
        ("MAIL_SMTP_FROM".into(), "bw@example.org".into()),
        ("BW_WEBHOOK_URL".into(), format!("{}/hook", hook.url)),
        ("BW_WEBHOOK_SECRET".into(), "e2e-secret".into()),
        // This scenario counts the late alert's mails; the health alerts its quota and
        // compaction steps would raise are tested in health.rs.
        ("BW_HEALTH_QUOTA_PERCENT".into(), "[]".into()),
        ("BW_HEALTH_SHRINK_PERCENT".into(), "0".into()),
        ("BW_HEALTH_GROWTH_FACTOR".into(), "0".into()),
    ];

    // 1. Our server and sshd, each on a free 127.0.0.1 port.
    let mut server = Server::start(dir.path(), &alert_env);
    let sshd = Sshd::start(&tools, dir.path(), &home);

    // 2. A token from the command line; a repository over HTTP with a fresh ed25519 key, 1 GB.
    let token = server.cli_token("e2e", "create,read,update,delete");
    let key_a = harness::keygen(dir.path(), "client-a");
    let (status, created) = server.post(
        "/api/v1/repositories",
        &token,
        &json!({"alias": "e2e", "sshPublicKey": key_a.public, "storageSize": 1, "alert": 3600}),
    );
    assert_eq!(status, 200, "{created}");
    let name = created["repositoryName"].as_str().unwrap().to_string();
    let repo_dir = home.join("repos").join(&name);
    let borg = Borg::new(&tools, dir.path(), &sshd);

    // 3. init and create succeed; an unregistered key is refused; the key reaches only its own
    // repository and gets no shell.
    borg.ok(&key_a, &["init", "-e", "none", &borg.url(&name)]);
    let src = dir.path().join("src");
    harness::random_file(&src.join("small.bin"), 4 * 1024 * 1024);
    borg.ok(&key_a, &["create", &format!("{}::first", borg.url(&name)), src.to_str().unwrap()]);
    assert!(repo_dir.join("data").is_dir(), "the backup landed in POOL/NAME");
    let stranger = harness::keygen(dir.path(), "stranger");
    let out = borg.run(&stranger, &["list", &borg.url(&name)]);
    assert!(!out.status.success(), "an unregistered key was let in");
    let out = borg.run(&key_a, &["init", "-e", "none", &borg.url("deadbeef")]);
    assert!(!out.status.success(), "the key reached another repository's path");
    assert!(!home.join("repos/deadbeef").exists());
    let out = sshd.ssh(&key_a, "id");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("uid="), "the key got a shell");

    // 4. The checks report what happened.
    assert_eq!(server.cron("/api/cronjob/checkStatus").0, 200);
    assert_eq!(server.cron("/api/cronjob/getStorageUsed").0, 200);
    let repo = server.repo(&token, &name);
    let last_save = repo["lastSave"].as_i64().unwrap();
    assert!((now() - last_save).abs() <= 60, "lastSave {last_save} is not within a minute of now");
    assert_eq!(repo["status"], true);
    assert_eq!(repo["storageUsed"].as_u64().unwrap(), du(&repo_dir), "storageUsed is what du -s -L prints");

    // 5. Quota: more than 1 GB of incompressible data fails, and succeeds after raising it.
    harness::random_file(&src.join("big.bin"), 1_100 * 1024 * 1024);
    let out = borg.run(&key_a, &["create", "-C", "none", &format!("{}::big", borg.url(&name)), src.to_str().unwrap()]);
    assert!(!out.status.success(), "a backup over the quota succeeded");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("storage quota") && err.contains("exceeded"), "not borg's quota error: {err}");
    assert_eq!(server.patch(&format!("/api/v1/repositories/{name}"), &token, &json!({"storageSize": 3})).0, 200);
    borg.ok(&key_a, &["create", "-C", "none", &format!("{}::big", borg.url(&name)), src.to_str().unwrap()]);
    fs::remove_file(src.join("big.bin")).unwrap();

    // 6. Append-only: history cannot be destroyed; once cleared, compaction frees space again.
    assert_eq!(server.patch(&format!("/api/v1/repositories/{name}"), &token, &json!({"appendOnlyMode": true})).0, 200);
    let segments_before = harness::segments(&repo_dir);
    let size_before = du(&repo_dir);
    borg.ok(&key_a, &["delete", &format!("{}::big", borg.url(&name))]);
    borg.ok(&key_a, &["compact", &borg.url(&name)]);
    let segments_after = harness::segments(&repo_dir);
    assert!(segments_before.is_subset(&segments_after), "append-only: a segment file disappeared");
    assert!(du(&repo_dir) >= size_before, "append-only: space was freed");
    assert_eq!(server.patch(&format!("/api/v1/repositories/{name}"), &token, &json!({"appendOnlyMode": false})).0, 200);
    borg.ok(&key_a, &["compact", &borg.url(&name)]);
    let freed = size_before.saturating_sub(du(&repo_dir));
    assert!(freed > 900 * 1024, "compaction freed only {freed} KiB after append-only was cleared");

    // 7. A new key: the old one is refused, the new one works.
    let key_b = harness::keygen(dir.path(), "client-b");
    assert_eq!(
        server.patch(&format!("/api/repo/id/{}/edit", created["id"]), &token, &json!({"sshPublicKey": key_b.public})).0,
        200
    );
    assert!(!borg.run(&key_a, &["list", &borg.url(&name)]).status.success(), "the replaced key still works");
    borg.ok(&key_b, &["list", &borg.url(&name)]);

    // 9. Alerts: a repository whose last save is older than its alert gets one email and one
    // signed webhook call; a second check within 90,000 s sends nothing.
    harness::age_integrity_files(&repo_dir, now() - 7200);
    assert_eq!(server.cron("/api/v1/cron/status").0, 200);
    assert_eq!(smtp.mails().len(), 1, "one email");
    assert!(smtp.mails()[0].data.contains("e2e"), "{}", smtp.mails()[0].data);
    let calls = hook.requests();
    assert_eq!(calls.len(), 1, "one webhook call");
    let signature = calls[0].header(bw_plugin_alerts::SIGNATURE_HEADER).unwrap().to_string();
    assert_eq!(signature, bw_plugin_alerts::signature("e2e-secret", &calls[0].body));
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&calls[0].body).unwrap()["repos"], json!(["e2e"]));
    assert_eq!(server.repo(&token, &name)["status"], false);
    assert_eq!(server.cron("/api/v1/cron/status").0, 200);
    assert_eq!((smtp.mails().len(), hook.requests().len()), (1, 1), "a second check sent again");

    // 8. Delete: refused while DISABLE_DELETE_REPO=true, then done: line, folder and access gone.
    server.stop();
    let mut env = alert_env.clone();
    env.push(("DISABLE_DELETE_REPO".into(), "true".into()));
    let mut locked = Server::start(dir.path(), &env);
    assert_eq!(locked.delete(&format!("/api/v1/repositories/{name}"), &token).0, 403);
    assert!(repo_dir.is_dir());
    borg.ok(&key_b, &["list", &borg.url(&name)]);
    locked.stop();
    let mut server = Server::start(dir.path(), &alert_env);
    assert_eq!(server.delete(&format!("/api/v1/repositories/{name}"), &token).0, 200);
    assert!(!repo_dir.exists(), "the folder is gone");
    let keys = fs::read_to_string(home.join(".ssh/authorized_keys")).unwrap();
    assert!(!keys.contains(&name), "the line is gone: {keys}");
    assert!(!borg.run(&key_b, &["list", &borg.url(&name)]).status.success(), "the client still gets in");
    server.stop();
}

/// A host that BorgWarehouse 2.4.4 ran: its client backs up through the old `--restrict-to-path`
/// line before the move and, untouched, after it; then BorgWarehouse 3.x's maintenance routes
/// on the real thing: compact frees deleted archives' space, break-lock clears the lock a killed
/// `borg serve` left, archive shuts the client out and unarchive lets it back in.
#[test]
fn a_borgwarehouse_host_moves_over_and_its_clients_keep_backing_up() {
    let Some(tools) = harness::tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let pool = home.join("repos");
    fs::create_dir_all(&pool).unwrap();
    fs::create_dir_all(home.join(".ssh")).unwrap();
    let name = "81ffe3c7";
    let client = harness::keygen(dir.path(), "laptop");
    // The line as BorgWarehouse before 3.1.3 wrote it.
    let old_line = format!(
        "command=\"cd {p};borg serve --restrict-to-path {p}/{name} --storage-quota 10G\",restrict {}\n",
        client.public,
        p = pool.display()
    );
    fs::write(home.join(".ssh/authorized_keys"), &old_line).unwrap();
    let sshd = Sshd::start(&tools, dir.path(), &home);
    let borg = Borg::new(&tools, dir.path(), &sshd);
    let src = dir.path().join("src");
    harness::random_file(&src.join("a.bin"), 2 * 1024 * 1024);
    borg.ok(&client, &["init", "-e", "none", &borg.url(name)]);
    borg.ok(&client, &["create", &format!("{}::before-the-move", borg.url(name)), src.to_str().unwrap()]);

    // The move: our server starts on that home and takes BorgWarehouse's repo.json in.
    let server = Server::start(dir.path(), &[]);
    let keys = fs::read_to_string(home.join(".ssh/authorized_keys")).unwrap();
    assert!(keys.contains("--restrict-to-repository") && !keys.contains("--restrict-to-path"), "{keys}");
    let repo_json = dir.path().join("repo.json");
    fs::write(
        &repo_json,
        json!([{"id": 5, "alias": "laptop", "repositoryName": name, "sshPublicKey": client.public,
                "storageSize": 10, "alert": 90000, "comment": "", "lanCommand": false, "appendOnlyMode": false,
                "lastSave": 0, "status": false, "storageUsed": 0, "displayDetails": true, "unixUser": "borgwarehouse"}])
        .to_string(),
    )
    .unwrap();
    let out = Server::cli(dir.path(), &["import-borgwarehouse", repo_json.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = server.cli_token("e2e", "create,read,update,delete");
    let (status, one) = server.get("/api/repo/id/5", &token);
    assert_eq!((status, one["repo"]["repositoryName"].as_str()), (200, Some(name)), "{one}");
    // The same client, untouched, after the move.
    borg.ok(&client, &["create", &format!("{}::after-the-move", borg.url(name)), src.to_str().unwrap()]);
    let repo_dir = pool.join(name);

    // compact frees the space of deleted archives.
    harness::random_file(&src.join("big.bin"), 40 * 1024 * 1024);
    borg.ok(&client, &["create", "-C", "none", &format!("{}::big", borg.url(name)), src.to_str().unwrap()]);
    fs::remove_file(src.join("big.bin")).unwrap();
    borg.ok(&client, &["delete", &format!("{}::big", borg.url(name))]);
    let before = du(&repo_dir);
    let (status, body) = server.post(&format!("/api/v1/repositories/{name}/compact"), &token, &json!({}));
    assert_eq!(
        (status, body["message"].as_str()),
        (200, Some(format!("Repository {name} has been compacted").as_str())),
        "{body}"
    );
    let freed = before.saturating_sub(du(&repo_dir));
    assert!(freed > 30 * 1024, "compact freed only {freed} KiB of a deleted 40 MiB archive");
    borg.ok(&client, &["list", &borg.url(name)]);

    // break-lock: SIGKILL the server-side borg serve in the middle of a backup (held under way
    // by the test, so it cannot end first); its lock stays.
    let running = hold::HeldBackup::start(&borg, &client, &format!("{}::interrupted", borg.url(name)), &repo_dir);
    let lock = repo_dir.join("lock.exclusive");
    let serve = harness::borg_serve_pids(name);
    assert!(!serve.is_empty(), "no borg serve for a backup under way");
    for pid in serve {
        bw_tests::frozen::signal(pid, bw_tests::frozen::Signal::KILL);
    }
    assert!(!running.wait(), "a backup whose server side was killed succeeded");
    assert!(lock.exists(), "no stale lock was left to break");
    let (status, body) = server.post(&format!("/api/v1/repositories/{name}/break-lock"), &token, &json!({}));
    assert_eq!(
        (status, body["message"].as_str()),
        (200, Some(format!("Lock on repository {name} has been released").as_str())),
        "{body}"
    );
    assert!(!lock.exists() && !repo_dir.join("lock.roster").exists(), "the lock is still there");
    borg.ok(&client, &["create", &format!("{}::after-the-lock", borg.url(name)), src.to_str().unwrap()]);

    // archive shuts the client out; unarchive lets it back in.
    assert_eq!(server.post(&format!("/api/v1/repositories/{name}/archive"), &token, &json!({"archived": true})).0, 200);
    assert!(!borg.run(&client, &["list", &borg.url(name)]).status.success(), "an archived repository's client got in");
    assert!(repo_dir.join("data").is_dir(), "archiving kept the data");
    assert_eq!(
        server.post(&format!("/api/v1/repositories/{name}/archive"), &token, &json!({"archived": false})).0,
        200
    );
    let listed = String::from_utf8_lossy(&borg.ok(&client, &["list", &borg.url(name)]).stdout).into_owned();
    for archive in ["before-the-move", "after-the-move", "after-the-lock"] {
        assert!(listed.contains(archive), "{archive} missing: {listed}");
    }
}
