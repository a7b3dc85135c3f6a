//! Sessions: with `BW_SESSIONS` on, each line runs `borg serve` under the recorder, and the
//! records the recorder drops are taken in: the repository's figures follow at once, and the
//! session is listed. (The recorder itself, under a real sshd and borg: tests/e2e.)

use std::fs;
use std::time::{Duration, UNIX_EPOCH};

use bw_api::config::Sessions;
use bw_host::session_spool::{drop_record, SessionRecord};
use bw_tests::{ed25519_key, json, repo_body, TestServer, NOW};

fn with_sessions(spool: &std::path::Path) -> TestServer {
    let spool = spool.to_path_buf();
    TestServer::with_config(move |c| {
        c.checks.sessions = Sessions::On;
        c.checks.session_program = Some(crate::cli_env::BIN.into());
        c.checks.session_spool = Some(spool);
        // Only sessions move the figures here.
        c.checks.status_interval = Duration::ZERO;
        c.checks.storage_interval = Duration::ZERO;
    })
}

fn record(repository: &str, ended_at: i64, exit_code: i32) -> SessionRecord {
    SessionRecord {
        repository: repository.into(),
        key: "0123456789abcdef".into(),
        started_at: ended_at - 20,
        ended_at,
        exit_code,
        client: "192.0.2.7 50123 22".into(),
        wrote: Some(true),
    }
}

#[test]
fn a_session_record_moves_its_repository_at_once_and_is_listed() {
    let spool_dir = tempfile::tempdir().unwrap();
    let spool = spool_dir.path().join("spool");
    let s = with_sessions(&spool);
    assert!(spool.is_dir(), "the spool is made at start");
    let t = s.full_token();
    let (_, created) = s.post("/api/repo/add", Some(&t), &repo_body(&ed25519_key(1, "")));
    let name = created["repositoryName"].as_str().unwrap().to_string();
    let line = s.authorized_keys_text();
    let key_id = bw_host::ssh_key::key_id(&ed25519_key(1, "")).unwrap();
    assert!(
        line.contains(&format!(
            "{} session --spool {} --repository {name} --key {key_id} -- borg serve --restrict-to-repository ",
            crate::cli_env::BIN,
            spool.display()
        )),
        "{line}"
    );

    // What a backup leaves in the folder, and what the recorder drops when borg ends.
    let folder = s.home.join("repos").join(&name);
    fs::create_dir_all(folder.join("data")).unwrap();
    fs::write(folder.join("data/1"), vec![7u8; 300_000]).unwrap();
    let f = fs::File::create(folder.join("integrity.2")).unwrap();
    f.set_modified(UNIX_EPOCH + Duration::from_secs((NOW - 30) as u64)).unwrap();
    drop_record(&spool, &record(&name, NOW - 30, 0)).unwrap();
    drop_record(&spool, &record(&name, NOW - 10, 2)).unwrap();
    drop_record(&spool, &record("deadbeef", NOW, 0)).unwrap();
    fs::write(spool.join("1-1.session"), "not a record").unwrap();

    let taken = s.block_on(bw_plugin_sessions::take_in(&s.state)).unwrap();
    assert_eq!((taken.sessions, taken.unknown, taken.unreadable), (2, 1, 1));
    let repo = &s.get(&format!("/api/v1/repositories/{name}"), Some(&t)).1["repo"];
    assert_eq!(repo["lastSave"], NOW - 30);
    assert_eq!(repo["status"], true);
    assert!(repo["storageUsed"].as_u64().unwrap() >= 290, "{repo}");
    // The session adds a point to the repository's history, with the figures after the backup
    // (and no host point: those come with the check runs).
    assert_eq!(
        s.get(&format!("/api/v1/repositories/{name}/history"), Some(&t)).1,
        json!({"points": [{"at": NOW, "storageUsed": repo["storageUsed"], "lastSave": NOW - 30}]})
    );
    assert_eq!(s.get("/api/v1/history", Some(&t)).1, json!({"points": []}));

    let (status, listed) = s.get(&format!("/api/v1/repositories/{name}/sessions"), Some(&t));
    assert_eq!(status, 200, "{listed}");
    assert_eq!(
        listed,
        json!({"sessions": [
            {"keyId": "0123456789abcdef", "startedAt": NOW - 30, "endedAt": NOW - 10, "exitCode": 2, "client": "192.0.2.7 50123 22", "wroteChanges": true},
            {"keyId": "0123456789abcdef", "startedAt": NOW - 50, "endedAt": NOW - 30, "exitCode": 0, "client": "192.0.2.7 50123 22", "wroteChanges": true},
        ]})
    );
    assert_eq!(
        s.get(&format!("/api/v1/repositories/{name}/sessions?limit=1"), Some(&t)).1["sessions"][0]["exitCode"],
        2
    );
    // /metrics shows the newest session of each repository that had one.
    let metrics = s.get("/metrics", Some(&t)).1.as_str().unwrap().to_string();
    let sample =
        |series: &str| metrics.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ').map(str::to_string));
    let labels = format!("{{repositoryName=\"{name}\"}}");
    assert_eq!(sample(&format!("borgwarehouse_repository_last_session_exit_code{labels}")).as_deref(), Some("2"));
    let ended = (NOW - 10).to_string();
    assert_eq!(
        sample(&format!("borgwarehouse_repository_last_session_end_timestamp_seconds{labels}")).as_deref(),
        Some(ended.as_str())
    );
    // Taken in once: the records are gone, the unreadable file set aside.
    let left: Vec<String> =
        fs::read_dir(&spool).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(left, ["1-1.unreadable"]);
    assert_eq!(s.block_on(bw_plugin_sessions::take_in(&s.state)).unwrap().sessions, 0);

    for bad in ["0", "101", "x", "-1"] {
        assert_eq!(s.get(&format!("/api/v1/repositories/{name}/sessions?limit={bad}"), Some(&t)).0, 400, "{bad}");
    }
    assert_eq!(s.get("/api/v1/repositories/deadbeef/sessions", Some(&t)).0, 404);
    assert_eq!(s.get(&format!("/api/v1/repositories/{name}/sessions"), None).0, 401);

    // A deleted repository's sessions go with it.
    let id = created["id"].as_u64().unwrap();
    assert_eq!(s.delete(&format!("/api/v1/repositories/{name}"), Some(&t)).0, 200);
    assert!(s.state.sessions.newest(id, 10).unwrap().is_empty());
}

#[test]
fn without_sessions_the_line_runs_borg_serve_itself() {
    let s = TestServer::start();
    let t = s.full_token();
    s.post("/api/repo/add", Some(&t), &repo_body(&ed25519_key(1, "")));
    assert!(s.authorized_keys_text().contains("command=\"cd "), "{}", s.authorized_keys_text());
    assert!(!s.authorized_keys_text().contains(" session "), "{}", s.authorized_keys_text());
}

#[test]
fn a_recorder_path_that_cannot_go_on_the_line_is_refused_at_start() {
    let mut config = bw_api::config::Config::default();
    config.checks.sessions = Sessions::On;
    config.checks.session_program = Some("/opt/my tools/borgwarehouse".into());
    let err = config.check().unwrap_err().0;
    assert!(err.contains("BW_SESSION_PROGRAM") && err.contains("unquoted"), "{err}");
}

/// The recorder passes everything through (standard input, output, error, and the exit code
/// itself) and drops its record; a spool it cannot write changes nothing for the client.
#[test]
fn the_recorder_passes_borgs_exit_code_and_streams_through() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    fs::create_dir(&spool).unwrap();
    let run = |spool: &std::path::Path| {
        let mut child = Command::new(crate::cli_env::BIN)
            .args(["session", "--spool", spool.to_str().unwrap(), "--repository", "aaaaaaaa", "--key", "k1", "--"])
            .args(["sh", "-c", "cat; echo to-stderr >&2; exit 3"])
            .env("SSH_CLIENT", "192.0.2.9 40000 22")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(b"borg protocol bytes\n").unwrap();
        child.wait_with_output().unwrap()
    };
    let out = run(&spool);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(out.stdout, b"borg protocol bytes\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "to-stderr\n");
    let waiting = bw_host::session_spool::waiting(&spool).unwrap();
    let record = waiting[0].record.clone().unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(
        (record.repository.as_str(), record.key.as_str(), record.exit_code, record.client.as_str()),
        ("aaaaaaaa", "k1", 3, "192.0.2.9 40000 22")
    );

    let out = run(&dir.path().join("missing"));
    assert_eq!(out.status.code(), Some(3), "a spool that cannot be written changed the exit code");
    assert_eq!(out.stdout, b"borg protocol bytes\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("will learn of this session at its next check"));
}

/// A repository that was late, and alerted about, sends its recovery the moment a backup ends,
/// through the same channels; one that was never alerted about sends nothing.
#[test]
fn a_late_repository_sends_its_recovery_when_a_session_brings_it_back() {
    use bw_tests::sinks::{HttpReceiver, SmtpSink};
    let spool_dir = tempfile::tempdir().unwrap();
    let spool = spool_dir.path().join("spool");
    let (smtp, hook) = (SmtpSink::start(), HttpReceiver::start());
    let (smtp_port, hook_url) = (smtp.port, format!("{}/hook", hook.url));
    let spool_c = spool.clone();
    let s = TestServer::with_config(move |c| {
        c.checks.sessions = Sessions::On;
        c.checks.session_program = Some(crate::cli_env::BIN.into());
        c.checks.session_spool = Some(spool_c);
        c.checks.status_interval = Duration::ZERO;
        c.checks.storage_interval = Duration::ZERO;
        bw_tests::alert_to(c, smtp_port, Some(hook_url));
    });
    let t = s.full_token();
    let mut names = Vec::new();
    for (seed, alias) in [(1, "late one"), (2, "quiet one")] {
        let mut body = repo_body(&ed25519_key(seed, ""));
        body["alias"] = json!(alias);
        body["alert"] = json!(3600);
        let (_, created) = s.post("/api/repo/add", Some(&t), &body);
        names.push(created["repositoryName"].as_str().unwrap().to_string());
    }
    let touch = |name: &str, t: i64| {
        let folder = s.home.join("repos").join(name);
        fs::create_dir_all(&folder).unwrap();
        let f = fs::File::create(folder.join("integrity.1")).unwrap();
        f.set_modified(UNIX_EPOCH + Duration::from_secs(t as u64)).unwrap();
    };
    // The first is late and alerted about by a status check.
    touch(&names[0], NOW - 7200);
    s.block_on(bw_plugin_cron_status::run(&s.state)).unwrap();
    assert_eq!((smtp.mails().len(), hook.requests().len()), (1, 1), "the lateness alert");
    // The second is late too, but has no alert (alert 0 is off).
    s.patch(&format!("/api/v1/repositories/{}", names[1]), Some(&t), &json!({"alert": 0}));

    touch(&names[0], NOW - 5);
    touch(&names[1], NOW - 5);
    drop_record(&spool, &record(&names[0], NOW - 5, 0)).unwrap();
    drop_record(&spool, &record(&names[1], NOW - 5, 0)).unwrap();
    let taken = s.block_on(bw_plugin_sessions::take_in(&s.state)).unwrap();
    assert_eq!((taken.sessions, taken.recovered), (2, 1));
    let calls = hook.requests();
    assert_eq!(calls.len(), 2, "one recovery, for the alerted repository only");
    let body: serde_json::Value = serde_json::from_slice(&calls[1].body).unwrap();
    assert_eq!(body, json!({"status": "up", "repos": ["late one"], "timestamp": NOW}));
    let mails = smtp.mails();
    assert_eq!(mails.len(), 2);
    assert!(mails[1].data.contains("backing up again") && mails[1].data.contains("late one ("), "{}", mails[1].data);
    let repo = &s.get(&format!("/api/v1/repositories/{}", names[0]), Some(&t)).1["repo"];
    assert_eq!((repo["status"].as_bool(), repo.get("lastStatusAlertSend")), (Some(true), None), "{repo}");

    // A second session of a repository on time says nothing more.
    drop_record(&spool, &record(&names[0], NOW - 1, 0)).unwrap();
    assert_eq!(s.block_on(bw_plugin_sessions::take_in(&s.state)).unwrap().recovered, 0);
    assert_eq!(hook.requests().len(), 2);
}

/// With `BW_WEBHOOK_BACKUP_COMPLETED`, each session taken in is also posted to the webhook as a
/// `backup.completed` event, signed like the alerts; without it, nothing is posted.
#[test]
fn the_webhook_can_hear_of_every_backup() {
    use bw_tests::sinks::HttpReceiver;
    for on in [true, false] {
        let spool_dir = tempfile::tempdir().unwrap();
        let spool = spool_dir.path().join("spool");
        let hook = HttpReceiver::start();
        let (hook_url, spool_c) = (format!("{}/hook", hook.url), spool.clone());
        let s = TestServer::with_config(move |c| {
            c.checks.sessions = Sessions::On;
            c.checks.session_program = Some(crate::cli_env::BIN.into());
            c.checks.session_spool = Some(spool_c);
            c.plugins.update(|a: &mut bw_plugin_alerts::ChannelSettings| {
                a.webhook_url = Some(hook_url);
                a.webhook_secret = Some("s3cret".into());
                a.webhook_backup_completed = on;
            });
        });
        let t = s.full_token();
        let mut body = repo_body(&ed25519_key(1, ""));
        body["alias"] = json!("laptop");
        let name = s.post("/api/repo/add", Some(&t), &body).1["repositoryName"].as_str().unwrap().to_string();
        drop_record(&spool, &record(&name, NOW - 3, 0)).unwrap();
        assert_eq!(s.block_on(bw_plugin_sessions::take_in(&s.state)).unwrap().sessions, 1);
        let start = std::time::Instant::now();
        while on && hook.requests().is_empty() && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let calls = hook.requests();
        if !on {
            std::thread::sleep(Duration::from_millis(300));
            assert!(hook.requests().is_empty(), "posted with the event turned off");
            continue;
        }
        assert_eq!(calls.len(), 1);
        let event: serde_json::Value = serde_json::from_slice(&calls[0].body).unwrap();
        assert_eq!(
            event,
            json!({"event": "backup.completed", "repository": name, "alias": "laptop", "keyId": "0123456789abcdef",
                   "startedAt": NOW - 23, "endedAt": NOW - 3, "exitCode": 0, "wroteChanges": true, "timestamp": NOW})
        );
        assert_eq!(
            calls[0].header(bw_plugin_alerts::SIGNATURE_HEADER),
            Some(bw_plugin_alerts::signature("s3cret", &calls[0].body).as_str())
        );
    }
}

/// A repository whose folder does not answer (a dead mount) does not hold the spool up: its
/// read is given up after `BW_SCAN_TIMEOUT`, its figures stay, and its session is kept.
#[test]
fn a_folder_that_hangs_does_not_hold_the_sessions_up() {
    struct Hangs;
    impl bw_host::folder_scan::RepoScanner for Hangs {
        fn last_save(&self, _dir: &std::path::Path) -> std::io::Result<Option<i64>> {
            // As long as a dead mount: were the spool to wait for it, this test would not end.
            std::thread::sleep(Duration::from_secs(3600));
            Ok(Some(NOW))
        }
        fn disk_usage_kib(&self, _dir: &std::path::Path) -> std::io::Result<Option<u64>> {
            Ok(Some(1))
        }
    }
    let spool_dir = tempfile::tempdir().unwrap();
    let spool = spool_dir.path().join("spool");
    let spool_c = spool.clone();
    let s = TestServer::with_scanner(
        move |c| {
            c.checks.sessions = Sessions::On;
            c.checks.session_program = Some(crate::cli_env::BIN.into());
            c.checks.session_spool = Some(spool_c);
            c.checks.scan_timeout = Duration::from_millis(300);
        },
        std::sync::Arc::new(Hangs),
    );
    let t = s.full_token();
    let name = s.post("/api/repo/add", Some(&t), &repo_body(&ed25519_key(1, ""))).1["repositoryName"]
        .as_str()
        .unwrap()
        .to_string();
    drop_record(&spool, &record(&name, NOW - 3, 0)).unwrap();
    let taken = s.block_on(bw_plugin_sessions::take_in(&s.state)).unwrap();
    assert_eq!(taken.sessions, 1);
    assert_eq!(s.get(&format!("/api/v1/repositories/{name}"), Some(&t)).1["repo"]["lastSave"], 0);
    assert_eq!(
        s.get(&format!("/api/v1/repositories/{name}/sessions"), Some(&t)).1["sessions"].as_array().unwrap().len(),
        1
    );
}

/// A program file the borg user (here, this test's user) cannot run: no execute bit.
fn unrunnable_program(dir: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let program = dir.join("borgwarehouse");
    fs::write(&program, "#!/bin/sh\n").unwrap();
    fs::set_permissions(&program, fs::Permissions::from_mode(0o644)).unwrap();
    program
}

/// Sessions unset: on when the borg user can run the recorder, and the start says which.
#[test]
fn unset_sessions_go_on_where_the_borg_user_can_run_the_recorder() {
    let s = TestServer::with_config(|c| {
        c.checks.sessions = Sessions::Auto;
        c.checks.session_program = Some(crate::cli_env::BIN.into());
    });
    assert_eq!(s.state.config.checks.sessions, Sessions::On, "the start settles Auto");
    let t = s.full_token();
    s.post("/api/repo/add", Some(&t), &repo_body(&ed25519_key(1, "")));
    let line = s.authorized_keys_text();
    assert!(line.contains(&format!(";{} session --spool ", crate::cli_env::BIN)), "{line}");
}

/// Sessions unset and a recorder the borg user cannot run: a line naming it would lock every
/// client out, so the server starts with plain lines (and warns) instead.
#[test]
fn unset_sessions_stay_off_when_the_recorder_cannot_run() {
    let programs = tempfile::tempdir().unwrap();
    let program = unrunnable_program(programs.path());
    let s = TestServer::with_config(move |c| {
        c.checks.sessions = Sessions::Auto;
        c.checks.session_program = Some(program);
    });
    assert_eq!(s.state.config.checks.sessions, Sessions::Off);
    let t = s.full_token();
    s.post("/api/repo/add", Some(&t), &repo_body(&ed25519_key(1, "")));
    let line = s.authorized_keys_text();
    assert!(line.contains(";borg serve --restrict-to-repository ") && !line.contains(" session "), "{line}");
}

/// Asked for, the same recorder refuses the start and names the setting and the file.
#[test]
fn asked_for_sessions_refuse_a_recorder_the_borg_user_cannot_run() {
    let dir = tempfile::tempdir().unwrap();
    let program = unrunnable_program(dir.path());
    let mut config = bw_tests::test_config(dir.path());
    config.checks.sessions = Sessions::On;
    config.checks.session_program = Some(program.clone());
    let err =
        bw_api::state::AppState::open(config, bw_store::clock::Clock::system()).err().expect("started").to_string();
    assert!(
        err.contains("BW_SESSION_PROGRAM") && err.contains("cannot run") && err.contains(&*program.to_string_lossy()),
        "{err}"
    );
    assert!(!dir.path().join("home/.ssh/authorized_keys").exists(), "no line written");
}
