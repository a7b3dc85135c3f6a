//! Compact and break-lock never harm a live backup: while a client's backup holds the
//! repository (held under way by the test, so the order is certain), both answer 409 at once
//! and leave the lock alone, and the backup then completes. Once the client is gone they work.

use std::time::{Duration, Instant};

use crate::harness::BackupHost;
use crate::hold::HeldBackup;
use bw_tests::json;

#[test]
fn compact_and_break_lock_answer_409_during_a_live_backup_which_then_completes() {
    let Some(BackupHost { dir, server, _sshd, token, key, name, borg, .. }) = BackupHost::start("live", 1) else {
        return;
    };
    let folder = dir.path().join("home/repos").join(&name);
    let lock = folder.join("lock.exclusive");
    let route = |what: &str| format!("/api/v1/repositories/{name}/{what}");

    let backup = HeldBackup::start(&borg, &key, &format!("{}::live", borg.url(&name)), &folder);
    let started = Instant::now();
    let (status, body) = server.post(&route("compact"), &token, &json!({}));
    assert_eq!(
        (status, body["message"].as_str()),
        (
            409,
            Some(
                "The repository is in use by a client (a backup or another borg command is under way); compact it \
                 when the client is done"
            )
        ),
        "{body}"
    );
    assert!(started.elapsed() < Duration::from_secs(5), "compact waited out borg's lock timeout");
    let (status, body) = server.post(&route("break-lock"), &token, &json!({}));
    assert_eq!(
        (status, body["message"].as_str()),
        (
            409,
            Some(
                "The repository is in use by a client (a backup or another borg command is under way); break-lock \
                 is only for a stale lock, left by a client that is gone; a live backup's lock is released when it \
                 ends"
            )
        ),
        "{body}"
    );
    assert!(lock.exists(), "the live backup's lock was touched");
    backup.finish();
    let listed = String::from_utf8_lossy(&borg.ok(&key, &["list", &borg.url(&name)]).stdout).into_owned();
    assert!(listed.contains("live"), "the backup is not in the repository: {listed}");

    // The client gone, both run.
    let (status, body) = server.post(&route("compact"), &token, &json!({}));
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.post(&route("break-lock"), &token, &json!({}));
    assert_eq!(status, 200, "{body}");
}
