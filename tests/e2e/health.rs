//! Health alerts with real borg repositories: a real sshd runs `borg serve` under the session
//! recorder (the default), the server takes each session in, and the alerts come through the
//! test mail server. A backup that crosses 80% of the quota; six ordinary backups and then one
//! far larger; that archive deleted and the space compacted away. Each alert comes once.

use std::time::{Duration, Instant};

use crate::harness::{self, BackupHost, Server};
use bw_tests::sinks::SmtpSink;

/// The mails whose subject holds `subject`.
fn mails(smtp: &SmtpSink, subject: &str) -> Vec<String> {
    smtp.mails()
        .into_iter()
        .map(|m| m.data.replace("=\r\n", ""))
        .filter(|d| d.lines().any(|l| l.starts_with("Subject: ") && l.contains(subject)))
        .collect()
}

/// Waits up to 30 s for `n` mails with `subject`.
fn wait_for(smtp: &SmtpSink, subject: &str, n: usize) -> Vec<String> {
    let start = Instant::now();
    loop {
        let found = mails(smtp, subject);
        if found.len() >= n {
            return found;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{} mails \"{subject}\" after 30 s", found.len());
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits until the repository has `n` sessions taken in, then a second more (so that the next
/// session's point stands at another second).
fn sessions(server: &Server, token: &str, name: &str, n: usize) {
    let start = Instant::now();
    loop {
        let (_, body) = server.get(&format!("/api/v1/repositories/{name}/sessions"), token);
        if body["sessions"].as_array().map_or(0, |s| s.len()) >= n {
            std::thread::sleep(Duration::from_millis(1100));
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "fewer than {n} sessions after 30 s: {body}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_backup_that_crosses_80_percent_of_the_quota_alerts_once() {
    let Some(BackupHost { dir, smtp, server, _sshd, token, key, name, borg }) = BackupHost::start("nearly full", 1)
    else {
        return;
    };

    // 800 MiB of incompressible data: 84% of the 1 GB quota.
    let src = dir.path().join("src");
    harness::random_file(&src.join("big.bin"), 800 * 1024 * 1024);
    borg.ok(&key, &["create", "-C", "none", &format!("{}::big", borg.url(&name)), src.to_str().unwrap()]);
    std::fs::remove_file(src.join("big.bin")).unwrap();
    let mail = wait_for(&smtp, "near the quota", 1).remove(0);
    assert!(mail.contains(&format!("- nearly full ({name}): 8")) && mail.contains("past 80%"), "{mail}");

    // Another backup, still past 80% and below 95%: no second alert.
    harness::random_file(&src.join("small.bin"), 1024 * 1024);
    borg.ok(&key, &["create", &format!("{}::small", borg.url(&name)), src.to_str().unwrap()]);
    sessions(&server, &token, &name, 3);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(mails(&smtp, "near the quota").len(), 1, "the crossing alerted twice");
}

#[test]
fn a_backup_far_larger_than_usual_then_a_compaction_that_halves_it_alert_once_each() {
    let Some(BackupHost { dir, smtp, server, _sshd, token, key, name, borg }) = BackupHost::start("db", 10) else {
        return;
    };
    let archive = |a: &str| format!("{}::{a}", borg.url(&name));
    sessions(&server, &token, &name, 1);

    // Six ordinary nights: 1 MiB of new data each.
    let src = dir.path().join("src");
    for night in 1..=6 {
        harness::random_file(&src.join(format!("night-{night}.bin")), 1024 * 1024);
        borg.ok(&key, &["create", "-C", "none", &archive(&format!("night-{night}")), src.to_str().unwrap()]);
        sessions(&server, &token, &name, 1 + night);
    }
    assert!(mails(&smtp, "").is_empty(), "ordinary backups alerted: {:?}", smtp.mails());

    // Then a night with 40 MiB of new data: 40 times the usual.
    harness::random_file(&src.join("dump.bin"), 40 * 1024 * 1024);
    borg.ok(&key, &["create", "-C", "none", &archive("dump"), src.to_str().unwrap()]);
    let mail = wait_for(&smtp, "grew far more than usual", 1).remove(0);
    assert!(mail.contains(&format!("- db ({name}): one backup grew storage used by 4")), "{mail}");
    assert!(mail.contains("times its median growth of 1."), "{mail}");
    sessions(&server, &token, &name, 8);

    // That archive deleted and compacted away: storage used falls by more than half.
    borg.ok(&key, &["delete", &archive("dump")]);
    borg.ok(&key, &["compact", &borg.url(&name)]);
    let mail = wait_for(&smtp, "fell sharply", 1).remove(0);
    assert!(mail.contains(&format!("- db ({name}): storage used fell by 8")), "{mail}");
    assert!(mail.contains("borg list"), "{mail}");
    sessions(&server, &token, &name, 10);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(mails(&smtp, "grew far more than usual").len(), 1);
    assert_eq!(mails(&smtp, "fell sharply").len(), 1);
    assert!(mails(&smtp, "near the quota").is_empty());
}
