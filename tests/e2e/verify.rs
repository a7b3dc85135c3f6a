//! Verify jobs with real borg repositories: a sound repository verified OK, one with a segment
//! damaged on purpose verified not OK with an alert, and a verify that keeps out of a client's
//! way (it does not start while a client backs up, and stops when one comes), so that neither
//! the backup breaks nor a false failure is reported.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{self, BackupHost, Server};
use crate::hold::HeldBackup;
use bw_tests::frozen::{self, Frozen};
use bw_tests::json;
use bw_tests::sinks::SmtpSink;

fn env(smtp: &SmtpSink) -> Vec<(String, String)> {
    harness::mail_and_sessions_env(smtp)
}

/// borg run here, on the folder, as the borg user (this test's user) would.
fn local_borg(borg: &Path, base: &Path, args: &[&str]) {
    let out = Command::new(borg)
        .args(args)
        .env("BORG_BASE_DIR", base)
        .env("BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK", "yes")
        .output()
        .unwrap();
    assert!(out.status.success(), "borg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn create(server: &Server, token: &str, key: &str, alias: &str, size: u64) -> String {
    let body = json!({"alias": alias, "sshPublicKey": key, "storageSize": size, "alert": 3600});
    let (status, created) = server.post("/api/v1/repositories", token, &body);
    assert_eq!(status, 200, "{created}");
    created["repositoryName"].as_str().unwrap().to_string()
}

/// The largest segment file of a borg repository.
fn largest_segment(repo: &Path) -> PathBuf {
    harness::segments(repo).into_iter().max_by_key(|p| std::fs::metadata(p).unwrap().len()).unwrap()
}

#[test]
fn a_sound_repository_verifies_ok_and_a_damaged_one_fails_with_an_alert() {
    let Some(tools) = harness::tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpSink::start();
    let server = Server::start(dir.path(), &env(&smtp));
    let token = server.cli_token("e2e", "create,read,update,delete");
    let key = harness::keygen(dir.path(), "client");
    let name = create(&server, &token, &key.public, "files", 1);
    let folder = dir.path().join("home/repos").join(&name);
    let base = dir.path().join("borg-local");
    let verify = format!("/api/v1/repositories/{name}/verify");

    // No borg data yet: nothing to verify.
    assert_eq!(
        server.post(&verify, &token, &json!({})),
        (409, json!({"message": format!("Repository {name} has no borg data yet")}))
    );
    local_borg(&tools.borg, &base, &["init", "-e", "none", folder.to_str().unwrap()]);
    let src = dir.path().join("src");
    harness::random_file(&src.join("a.bin"), 4 * 1024 * 1024);
    local_borg(&tools.borg, &base, &["create", &format!("{}::one", folder.display()), src.to_str().unwrap()]);

    let (status, result) = server.post(&verify, &token, &json!({}));
    assert_eq!(status, 200, "{result}");
    assert_eq!((result["ok"].as_bool(), result["message"].as_str()), (Some(true), Some("")), "{result}");
    let shown = server.repo(&token, &name);
    assert_eq!(shown["lastVerify"], result, "the repository shows its last verify");
    let (_, list) = server.get("/api/v1/repositories", &token);
    assert_eq!(list["repoList"][0]["lastVerify"], result, "and so does the list");
    let (_, seed) = server.get(&format!("/api/repo/id/{}", shown["id"]), &token);
    assert!(seed["repo"].get("lastVerify").is_none(), "the 2.x paths keep their shape: {seed}");

    // A lock held (a client's backup) or a session under way: not now.
    std::fs::create_dir(folder.join("lock.exclusive")).unwrap();
    let (status, body) = server.post(&verify, &token, &json!({}));
    assert_eq!(
        (status, body["message"].as_str()),
        (409, Some("The repository is in use by a client; the verify runs when it is free"))
    );
    std::fs::remove_dir(folder.join("lock.exclusive")).unwrap();

    // A segment damaged on purpose: 64 bytes in its middle zeroed.
    let segment = largest_segment(&folder);
    let mut bytes = std::fs::read(&segment).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle..middle + 64].fill(0);
    std::fs::write(&segment, bytes).unwrap();
    let (status, failed) = server.post(&verify, &token, &json!({}));
    assert_eq!(status, 200, "{failed}");
    assert_eq!(failed["ok"], false, "{failed}");
    assert!(failed["message"].as_str().unwrap().starts_with("borg check exited with 1: "), "{failed}");
    assert_eq!(server.repo(&token, &name)["lastVerify"], failed);

    // The alert, through the mail server, once.
    let start = Instant::now();
    let failed_mails = || {
        smtp.mails()
            .into_iter()
            .map(|m| m.data.replace("=\r\n", ""))
            .filter(|d| d.contains("Subject: BorgWarehouse: the verify of 1 repository failed"))
            .collect::<Vec<_>>()
    };
    while failed_mails().is_empty() {
        assert!(start.elapsed() < Duration::from_secs(20), "no alert mail: {:?}", smtp.mails().len());
        std::thread::sleep(Duration::from_millis(200));
    }
    let mail = failed_mails().remove(0);
    assert!(
        mail.contains(&format!("- files ({name}): borg check exited with 1")) && mail.contains("--repair"),
        "{mail}"
    );
    // One sentence: the advice once carried a backslash, a line break and 13 spaces inside it.
    assert!(mail.contains("(after a copy of the folder) can mend"), "{mail}");

    // /metrics says it too.
    let metrics = bw_tests::request(
        "GET",
        &format!("http://127.0.0.1:{}/metrics", server.port()),
        Some(&format!("Bearer {token}")),
        None,
    )
    .1;
    let metrics = metrics.as_str().map(str::to_string).unwrap_or_else(|| metrics.to_string());
    assert!(
        metrics.contains(&format!("borgwarehouse_repository_last_verify_ok{{repositoryName=\"{name}\"}} 0")),
        "{metrics}"
    );

    // Names and credentials as on every route.
    assert_eq!(server.post("/api/v1/repositories/deadbeef/verify", &token, &json!({})).0, 404);
    assert_eq!(bw_tests::request("POST", &format!("http://127.0.0.1:{}{verify}", server.port()), None, None).0, 401);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(failed_mails().len(), 1, "one failure, one alert");
}

#[test]
fn a_verify_keeps_out_of_a_clients_way_and_reports_no_false_failure() {
    let Some(BackupHost { dir, smtp, server, _sshd, token, key, name, borg }) = BackupHost::start("big", 5) else {
        return;
    };
    let folder = dir.path().join("home/repos").join(&name);
    let verify = format!("/api/v1/repositories/{name}/verify");
    let src = dir.path().join("src");
    // Enough data that borg check reads for a while; the order below does not depend on it.
    harness::random_file(&src.join("big.bin"), 64 * 1024 * 1024);
    borg.ok(&key, &["create", "-C", "none", &format!("{}::first", borg.url(&name)), src.to_str().unwrap()]);

    // 1. A client backs up (held under way by the test: it reads from a pipe), and a verify
    //    asked for meanwhile does not start.
    let backup = HeldBackup::start(&borg, &key, &format!("{}::held", borg.url(&name)), &folder);
    let (status, body) = server.post(&verify, &token, &json!({}));
    assert_eq!(
        (status, body["message"].as_str()),
        (409, Some("The repository is in use by a client; the verify runs when it is free")),
        "{body}"
    );
    backup.finish();
    assert!(server.repo(&token, &name).get("lastVerify").is_none(), "a verify that did not run left a result");

    // 2. A verify runs, and a client comes: the verify stops to let it in. borg check is
    //    frozen once it holds the lock, so it cannot finish before the client comes however
    //    busy the machine is, and is let go once the server has told it to stop.
    let port = server.port();
    let (t, v) = (token.clone(), verify.clone());
    let running = std::thread::spawn(move || {
        bw_tests::request("POST", &format!("http://127.0.0.1:{port}{v}"), Some(&format!("Bearer {t}")), Some("{}"))
    });
    let folder_arg = folder.to_str().unwrap().to_string();
    let check = Frozen::when(
        "the verify's borg check",
        || frozen::pid_with_args(&["check", "--repository-only", &folder_arg]),
        || folder.join("lock.exclusive").exists(),
    );
    harness::random_file(&src.join("more.bin"), 1024 * 1024);
    let (b, k, url, s) = (borg.clone(), key.clone(), format!("{}::second", borg.url(&name)), src.clone());
    let client = std::thread::spawn(move || b.run(&k, &["create", &url, s.to_str().unwrap()]));
    check.wait_for_sigterm("the verify's borg check");
    check.resume();
    let out = client.join().unwrap();
    assert!(out.status.success(), "the backup failed while a verify ran: {}", String::from_utf8_lossy(&out.stderr));
    let (status, body) = running.join().unwrap();
    assert_eq!(
        (status, body["message"].as_str()),
        (409, Some("A client started a session; the verify stopped to let it in and will run again later")),
        "{body}"
    );
    assert!(server.repo(&token, &name).get("lastVerify").is_none(), "a stopped verify left a result");
    assert!(!folder.join("lock.exclusive").exists(), "the verify left borg's lock behind");

    // 3. With the client gone, the verify runs whole: the repository is sound.
    let (status, result) = server.post(&verify, &token, &json!({}));
    assert_eq!((status, result["ok"].as_bool()), (200, Some(true)), "{result}");
    assert!(smtp.mails().is_empty(), "a false alert: {:?}", smtp.mails().len());
}
