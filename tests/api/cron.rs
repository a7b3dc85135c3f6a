//! The status and storage checks over real folders, alerts to real receivers, and the
//! guarantees around them: timeouts, no lost updates, one run at a time, the scheduler.

use bw_plugin_alerts::{ChannelSettings, MailSettings, MailTls};
use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bw_host::folder_scan::{FsScanner, RepoScanner};
use bw_tests::sinks::{HttpReceiver, SmtpSink};
use bw_tests::{du, ed25519_key, json, repo_body, TestServer, NOW};

const KEY: &str = "cron-secret-key-0123456789";

fn touch(path: &Path, mtime: i64) {
    let f = fs::File::create(path).unwrap();
    f.set_modified(UNIX_EPOCH + Duration::from_secs(mtime as u64)).unwrap();
}

fn add_repo(s: &TestServer, token: &str, seed: u32, alias: &str, alert: u64) -> (u64, String) {
    let mut body = repo_body(&ed25519_key(seed, ""));
    body["alias"] = json!(alias);
    body["alert"] = json!(alert);
    let (status, c) = s.post("/api/repo/add", Some(token), &body);
    assert_eq!(status, 200, "{c}");
    (c["id"].as_u64().unwrap(), c["repositoryName"].as_str().unwrap().to_string())
}

fn cron(s: &TestServer, path: &str) -> (u16, serde_json::Value) {
    s.call("POST", path, Some(&format!("Bearer {KEY}")), None)
}

#[test]
fn cron_routes_need_the_key() {
    let s = TestServer::with_config(|c| c.auth.cronjob_key = Some(KEY.into()));
    for path in
        ["/api/cronjob/checkStatus", "/api/v1/cron/status", "/api/cronjob/getStorageUsed", "/api/v1/cron/storage"]
    {
        let (status, body) = s.call("POST", path, Some("Bearer wrong"), None);
        assert_eq!((status, body.clone()), (401, json!({"status": 401, "message": "Unauthorized"})), "{path}");
        assert_eq!(s.call("POST", path, None, None).0, 401, "{path}");
    }
    insta::assert_json_snapshot!("cron_unauthorized", s.call("POST", "/api/cronjob/checkStatus", None, None).1);
    let (status, body) = cron(&s, "/api/cronjob/checkStatus");
    assert_eq!(status, 200);
    insta::assert_json_snapshot!("cron_status_ok", body);
    let (status, body) = cron(&s, "/api/cronjob/getStorageUsed");
    assert_eq!(status, 200);
    insta::assert_json_snapshot!("cron_storage_ok", body);
    // BorgWarehouse's crontab example: GET on the v1 path with the key in the query.
    assert_eq!(s.get(&format!("/api/v1/cron/status?key={KEY}"), None).0, 200);
    assert_eq!(s.get(&format!("/api/v1/cron/storage?key={KEY}"), None).0, 200);
    assert_eq!(s.get("/api/v1/cron/status?key=nope", None).0, 401);
}

#[test]
fn an_unset_or_empty_key_refuses_every_call() {
    for key in [None, Some(String::new())] {
        let s = TestServer::with_config(|c| c.auth.cronjob_key = key.clone().map(Into::into));
        assert_eq!(s.call("POST", "/api/cronjob/checkStatus", Some("Bearer "), None).0, 401);
        assert_eq!(s.get("/api/v1/cron/status?key=", None).0, 401);
        assert_eq!(s.call("POST", "/api/v1/cron/storage", None, None).0, 401);
    }
}

#[test]
fn status_reads_integrity_mtimes_and_alerts_once_per_90000_seconds() {
    let smtp = SmtpSink::start();
    let hook = HttpReceiver::start();
    let s = TestServer::with_config(|c| {
        c.auth.cronjob_key = Some(KEY.into());
        bw_tests::alert_to(c, smtp.port, Some(format!("{}/hook", hook.url)));
        c.plugins.update(|a: &mut ChannelSettings| a.webhook_secret = Some("hook-secret".into()));
    });
    let t = s.full_token();
    let (fresh, fresh_name) = add_repo(&s, &t, 1, "fresh", 3600);
    let (late, late_name) = add_repo(&s, &t, 2, "late \"quoted\" $(alias)", 3600);
    let (_, _) = add_repo(&s, &t, 3, "never alerted", 0);
    let pool = s.home.join("repos");
    fs::create_dir_all(pool.join(&fresh_name)).unwrap();
    touch(&pool.join(&fresh_name).join("integrity.3"), NOW - 60);
    touch(&pool.join(&fresh_name).join("integrity.1"), NOW - 6000);
    fs::create_dir_all(pool.join(&late_name)).unwrap();
    touch(&pool.join(&late_name).join("integrity.7"), NOW - 7200);

    assert_eq!(cron(&s, "/api/cronjob/checkStatus").0, 200);
    let (_, one) = s.get(&format!("/api/repo/id/{fresh}"), Some(&t));
    assert_eq!((one["repo"]["lastSave"].as_i64(), one["repo"]["status"].as_bool()), (Some(NOW - 60), Some(true)));
    let (_, one) = s.get(&format!("/api/repo/id/{late}"), Some(&t));
    assert_eq!((one["repo"]["lastSave"].as_i64(), one["repo"]["status"].as_bool()), (Some(NOW - 7200), Some(false)));
    assert_eq!(one["repo"]["lastStatusAlertSend"], NOW);

    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "one email");
    assert!(mails[0].to[0].contains("admin@example.org"));
    assert!(mails[0].data.contains("late \"quoted\" $(alias)"), "{}", mails[0].data);
    assert!(!mails[0].data.contains("fresh ("), "only late repositories are listed");
    let calls = hook.requests();
    assert_eq!(calls.len(), 1, "one webhook call");
    let body: serde_json::Value = serde_json::from_slice(&calls[0].body).unwrap();
    assert_eq!(body, json!({"status": "down", "repos": ["late \"quoted\" $(alias)"], "timestamp": NOW}));
    assert_eq!(
        calls[0].header(bw_plugin_alerts::SIGNATURE_HEADER),
        Some(bw_plugin_alerts::signature("hook-secret", &calls[0].body).as_str())
    );
    // BorgWarehouse 3.x's header, for receivers written for it.
    assert_eq!(calls[0].header(bw_plugin_alerts::SECRET_HEADER), Some("hook-secret"));
    assert_ne!(
        bw_plugin_alerts::signature("other", &calls[0].body),
        bw_plugin_alerts::signature("hook-secret", &calls[0].body)
    );

    // The fresh repository becomes late at NOW + 89,999: it is alerted about alone; the one
    // already alerted about stays quiet within 90,000 s.
    s.clock.set(NOW + 89_999);
    assert_eq!(cron(&s, "/api/v1/cron/status").0, 200);
    assert_eq!((smtp.mails().len(), hook.requests().len()), (2, 2));
    let body: serde_json::Value = serde_json::from_slice(&hook.requests()[1].body).unwrap();
    assert_eq!(body["repos"], json!(["fresh"]));
    assert_eq!(cron(&s, "/api/v1/cron/status").0, 200);
    assert_eq!((smtp.mails().len(), hook.requests().len()), (2, 2), "a second check within 90,000 s sends nothing");
    // 90,000 s after its first alert, the late repository is alerted about again.
    s.clock.set(NOW + 90_000);
    assert_eq!(cron(&s, "/api/v1/cron/status").0, 200);
    assert_eq!((smtp.mails().len(), hook.requests().len()), (3, 3));
    let body: serde_json::Value = serde_json::from_slice(&hook.requests()[2].body).unwrap();
    assert_eq!(body["repos"], json!(["late \"quoted\" $(alias)"]));
}

#[test]
fn a_failing_channel_does_not_stop_the_others_or_the_run() {
    let hook = HttpReceiver::start();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let s = TestServer::with_config(|c| {
        c.auth.cronjob_key = Some(KEY.into());
        c.plugins.update(|a: &mut ChannelSettings| {
            a.email_to = Some("admin@example.org".into());
            a.webhook_url = Some(format!("{}/hook", hook.url));
        });
        c.plugins.update(|m: &mut MailSettings| {
            m.host = Some("127.0.0.1".into());
            m.port = Some(dead);
            m.tls = Some(MailTls::None);
        });
    });
    let t = s.full_token();
    add_repo(&s, &t, 1, "late", 3600);
    let report = s.block_on(bw_plugin_cron_status::run(&s.state)).unwrap();
    assert_eq!(report.late.len(), 1);
    assert_eq!((report.delivery.of("email"), report.delivery.of("webhook")), (Some(false), Some(true)));
    assert_eq!(hook.requests().len(), 1);
    // The log of fired alerts says which channel delivered it.
    let (_, log) = s.get("/api/v1/alerts", Some(&t));
    assert_eq!(log["alerts"][0]["kind"], "late");
    assert_eq!(log["alerts"][0]["message"], "no backup yet");
    assert_eq!(log["alerts"][0]["deliveredBy"], json!(["webhook"]));
    // The metrics count each channel's outcome.
    let (_, text) = s.get("/metrics", Some(&t));
    let text = text.as_str().unwrap().to_string();
    assert!(text.contains("borgwarehouse_alert_deliveries_total{channel=\"email\",outcome=\"failed\"} 1\n"), "{text}");
    assert!(
        text.contains("borgwarehouse_alert_deliveries_total{channel=\"webhook\",outcome=\"delivered\"} 1\n"),
        "{text}"
    );
}

#[test]
fn storage_used_is_what_du_reports() {
    let s = TestServer::with_config(|c| c.auth.cronjob_key = Some(KEY.into()));
    let t = s.full_token();
    let (id, name) = add_repo(&s, &t, 1, "a", 0);
    let (empty, _) = add_repo(&s, &t, 2, "never initialised", 0);
    let dir = s.home.join("repos").join(&name);
    fs::create_dir_all(dir.join("data/0")).unwrap();
    for i in 0..30 {
        fs::write(dir.join(format!("data/0/{i}")), vec![7u8; 5000 * (i + 1)]).unwrap();
    }
    fs::hard_link(dir.join("data/0/3"), dir.join("data/0/3.link")).unwrap();
    assert_eq!(cron(&s, "/api/v1/cron/storage").0, 200);
    let (_, one) = s.get(&format!("/api/repo/id/{id}"), Some(&t));
    assert_eq!(one["repo"]["storageUsed"].as_u64(), Some(du(&dir)));
    assert!(du(&dir) > 2000);
    assert_eq!(s.get(&format!("/api/repo/id/{empty}"), Some(&t)).1["repo"]["storageUsed"], 0);
}

/// A scanner that hangs on chosen repositories until released, like a dead external mount.
#[derive(Default)]
struct Gate {
    blocked: Mutex<HashSet<String>>,
    entered: Mutex<Vec<String>>,
    released: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    fn block(&self, name: &str) {
        self.blocked.lock().unwrap().insert(name.to_string());
    }

    fn wait_entered(&self, name: &str) {
        let start = Instant::now();
        while !self.entered.lock().unwrap().iter().any(|n| n == name) {
            assert!(start.elapsed() < Duration::from_secs(20), "scan never reached {name}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn release(&self) {
        *self.released.lock().unwrap() = true;
        self.cv.notify_all();
    }

    fn pass(&self, dir: &Path) {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        self.entered.lock().unwrap().push(name.clone());
        if self.blocked.lock().unwrap().contains(&name) {
            let mut released = self.released.lock().unwrap();
            while !*released {
                released = self.cv.wait(released).unwrap();
            }
        }
    }
}

struct GatedScanner(Arc<Gate>);

impl RepoScanner for GatedScanner {
    fn last_save(&self, dir: &Path) -> io::Result<Option<i64>> {
        self.0.pass(dir);
        FsScanner.last_save(dir)
    }

    fn disk_usage_kib(&self, dir: &Path) -> io::Result<Option<u64>> {
        self.0.pass(dir);
        FsScanner.disk_usage_kib(dir)
    }
}

#[test]
fn a_hung_repository_times_out_and_keeps_its_values() {
    let gate = Arc::new(Gate::default());
    let s = TestServer::with_scanner(
        |c| {
            c.auth.cronjob_key = Some(KEY.into());
            c.checks.scan_timeout = Duration::from_millis(500);
        },
        Arc::new(GatedScanner(gate.clone())),
    );
    let t = s.full_token();
    let (hung, hung_name) = add_repo(&s, &t, 1, "on a dead mount", 0);
    let (ok, ok_name) = add_repo(&s, &t, 2, "fine", 0);
    for name in [&hung_name, &ok_name] {
        fs::create_dir_all(s.home.join("repos").join(name)).unwrap();
        touch(&s.home.join("repos").join(name).join("integrity.1"), NOW - 10);
    }
    s.set_last_save(hung, 1234);
    gate.block(&hung_name);
    let started = Instant::now();
    let report = s.block_on(bw_plugin_cron_status::run(&s.state)).unwrap();
    assert!(started.elapsed() < Duration::from_secs(20), "the run did not wait for the hung mount");
    assert_eq!((report.scanned, report.failed), (1, 1));
    assert_eq!(s.state.repos.get(hung).unwrap().unwrap().last_save, 1234, "kept its old value");
    assert_eq!(s.state.repos.get(ok).unwrap().unwrap().last_save, NOW - 10);
    gate.release();
}

#[test]
fn no_update_made_during_a_scan_is_lost_and_a_second_run_gets_409() {
    let gate = Arc::new(Gate::default());
    let s = Arc::new(TestServer::with_scanner(
        |c| c.auth.cronjob_key = Some(KEY.into()),
        Arc::new(GatedScanner(gate.clone())),
    ));
    let t = s.full_token();
    let (edited, edited_name) = add_repo(&s, &t, 1, "before", 0);
    let (deleted, _) = add_repo(&s, &t, 2, "to delete", 0);
    fs::create_dir_all(s.home.join("repos").join(&edited_name)).unwrap();
    touch(&s.home.join("repos").join(&edited_name).join("integrity.2"), NOW - 5);
    gate.block(&edited_name);

    let runner = {
        let s = s.clone();
        std::thread::spawn(move || cron(&s, "/api/cronjob/checkStatus"))
    };
    gate.wait_entered(&edited_name);
    // While the scan runs: a second run is refused, an edit and a delete go through.
    let (status, body) = cron(&s, "/api/v1/cron/status");
    assert_eq!(status, 409);
    insta::assert_json_snapshot!("cron_status_running", body);
    assert_eq!(
        s.patch(&format!("/api/repo/id/{edited}/edit"), Some(&t), &json!({"alias": "after", "storageSize": 42})).0,
        200
    );
    assert_eq!(s.delete(&format!("/api/repo/id/{deleted}/delete"), Some(&t)).0, 200);
    let (added, _) = add_repo(&s, &t, 3, "added meanwhile", 0);
    gate.release();
    assert_eq!(runner.join().unwrap().0, 200);

    let repo = s.state.repos.get(edited).unwrap().unwrap();
    assert_eq!(
        (repo.alias.as_str(), repo.storage_size, repo.last_save),
        ("after", 42, NOW - 5),
        "edit kept, scan result written"
    );
    assert!(s.state.repos.get(deleted).unwrap().is_none(), "a delete made during the scan stays deleted");
    assert!(s.state.repos.get(added).unwrap().is_some());
    assert!(s.authorized_keys_text().contains("--storage-quota 42G"));
}

#[test]
fn storage_second_run_gets_409() {
    let gate = Arc::new(Gate::default());
    let s = Arc::new(TestServer::with_scanner(
        |c| c.auth.cronjob_key = Some(KEY.into()),
        Arc::new(GatedScanner(gate.clone())),
    ));
    let t = s.full_token();
    let (_, name) = add_repo(&s, &t, 1, "a", 0);
    gate.block(&name);
    let runner = {
        let s = s.clone();
        std::thread::spawn(move || cron(&s, "/api/cronjob/getStorageUsed"))
    };
    gate.wait_entered(&name);
    let (status, body) = cron(&s, "/api/v1/cron/storage");
    assert_eq!(status, 409);
    insta::assert_json_snapshot!("cron_storage_running", body);
    gate.release();
    assert_eq!(runner.join().unwrap().0, 200);
}

#[test]
fn the_scheduler_runs_the_checks_on_its_own() {
    let s = TestServer::with_config(|c| {
        c.checks.status_interval = Duration::from_secs(1);
        c.checks.storage_interval = Duration::from_secs(1);
    });
    let t = s.full_token();
    let (id, name) = add_repo(&s, &t, 1, "a", 0);
    let dir = s.home.join("repos").join(&name);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("data"), vec![1u8; 100_000]).unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    touch(&dir.join("integrity.4"), now - 30);
    let start = Instant::now();
    loop {
        let repo = s.state.repos.get(id).unwrap().unwrap();
        if repo.last_save == now - 30 && repo.storage_used == du(&dir) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "the scheduler did not run both checks: {repo:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn apprise_stateless_mode_posts_urls_and_body() {
    let apprise = HttpReceiver::start();
    let s = TestServer::with_config(|c| {
        c.plugins.update(|a: &mut ChannelSettings| {
            a.apprise_url = Some(apprise.url.clone());
            a.apprise_services = vec!["mailto://ops@example.org".into(), "tgram://bot/chat".into()];
        });
    });
    let t = s.full_token();
    add_repo(&s, &t, 1, "late; $(touch /tmp/pwned)", 3600);
    let report = s.block_on(bw_plugin_cron_status::run(&s.state)).unwrap();
    assert_eq!(report.delivery.of("apprise"), Some(true));
    let calls = apprise.requests();
    assert_eq!(calls.len(), 1);
    assert!(calls[0].request_line.starts_with("POST /notify "), "{}", calls[0].request_line);
    let body: serde_json::Value = serde_json::from_slice(&calls[0].body).unwrap();
    assert_eq!(body["urls"], "mailto://ops@example.org,tgram://bot/chat");
    assert!(body["body"].as_str().unwrap().contains("late; $(touch /tmp/pwned)"));
}

/// The checks' figures are saved in pages in `DATA_DIR/checks/`, not written into each record; after
/// a restart every repository shows the newer of the two: the check's, or what an edit wrote.
#[test]
fn check_figures_survive_a_restart_and_the_newer_write_wins() {
    let s = TestServer::with_config(|c| c.auth.cronjob_key = Some(KEY.into()));
    let t = s.full_token();
    let (a, name_a) = add_repo(&s, &t, 91, "edited-after-the-check", 3600);
    let (b, name_b) = add_repo(&s, &t, 92, "only-checked", 3600);
    for name in [&name_a, &name_b] {
        fs::create_dir_all(s.home.join("repos").join(name)).unwrap();
        touch(&s.home.join("repos").join(name).join("integrity.3"), NOW - 30);
    }
    assert_eq!(cron(&s, "/api/cronjob/checkStatus").0, 200);
    assert_eq!(cron(&s, "/api/cronjob/getStorageUsed").0, 200);
    // Beside the embedded store, files of the data folder (in PostgreSQL, entries there).
    let pages = std::fs::read_dir(s.state.config.server.data_dir.join("checks")).map_or(0, |d| d.count());
    assert_eq!(pages > 0, !bw_tests::on_postgres(), "{pages} pages of figures");
    assert_eq!(s.patch(&format!("/api/repo/id/{a}/edit"), Some(&t), &json!({"comment": "after"})).0, 200);
    let before: Vec<serde_json::Value> =
        [a, b].iter().map(|id| s.get(&format!("/api/repo/id/{id}"), Some(&t)).1).collect();
    assert_eq!(before[1]["repo"]["lastSave"], NOW - 30);
    assert!(before[1]["repo"]["storageUsed"].as_u64().unwrap() > 0);

    let (dir, config) = s.stop();
    let s = TestServer::start_in(dir, config);
    for (id, was) in [a, b].iter().zip(&before) {
        let (_, now) = s.get(&format!("/api/repo/id/{id}"), Some(&t));
        assert_eq!(now, *was, "repository {id} changed across the restart");
    }
    // A later check run still updates them.
    touch(&s.home.join("repos").join(&name_b).join("integrity.4"), NOW - 5);
    assert_eq!(cron(&s, "/api/cronjob/checkStatus").0, 200);
    assert_eq!(s.get(&format!("/api/repo/id/{b}"), Some(&t)).1["repo"]["lastSave"], NOW - 5);
}

/// `POST /api/v1/repositories/refresh` runs both checks now, for the administrator or a token
/// with update; 409 while a check runs, as the cron routes.
#[test]
fn refresh_runs_both_checks_now_and_gets_409_while_one_runs() {
    let gate = Arc::new(Gate::default());
    let s = Arc::new(TestServer::with_scanner(
        |c| c.auth.cronjob_key = Some(KEY.into()),
        Arc::new(GatedScanner(gate.clone())),
    ));
    let t = s.full_token();
    let (id, name) = add_repo(&s, &t, 71, "refreshed", 3600);
    let folder = s.home.join("repos").join(&name);
    fs::create_dir_all(folder.join("data")).unwrap();
    fs::write(folder.join("data/1"), vec![7u8; 200_000]).unwrap();
    touch(&folder.join("integrity.2"), NOW - 60);
    assert_eq!(s.call("POST", "/api/v1/repositories/refresh", None, None).0, 401);
    assert_eq!(
        s.call("POST", "/api/v1/repositories/refresh", Some(&format!("Bearer {}", s.token("ro", "read"))), None).0,
        403
    );

    let (status, body) = s.call("POST", "/api/v1/repositories/refresh", Some(&format!("Bearer {t}")), None);
    assert_eq!((status, body), (200, json!({"message": "Repositories refreshed"})));
    let (_, one) = s.get(&format!("/api/repo/id/{id}"), Some(&t));
    assert_eq!(one["repo"]["lastSave"], NOW - 60);
    assert_eq!(one["repo"]["storageUsed"].as_u64(), Some(du(&folder)));

    gate.block(&name);
    let runner = {
        let s = s.clone();
        std::thread::spawn(move || cron(&s, "/api/v1/cron/status"))
    };
    gate.wait_entered(&name);
    let admin = s.create_admin();
    let (status, _) = s.call("POST", "/api/v1/repositories/refresh", Some(&admin), None);
    assert_eq!(status, 409);
    gate.release();
    assert_eq!(runner.join().unwrap().0, 200);
    assert_eq!(
        s.call("POST", "/api/v1/repositories/refresh", Some(&admin), None).0,
        200,
        "the administrator may refresh"
    );
}
