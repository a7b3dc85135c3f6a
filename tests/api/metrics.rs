//! `GET /metrics`: who may scrape, what each series says about the store, the server's own
//! counters, both exposition formats, and `promtool check metrics` on the answer.

use std::io::Write;
use std::process::{Command, Stdio};

use bw_tests::{ed25519_key, json, repo_body, tool_or_skip, TestServer};

/// The text of a scrape, with `auth` as in [`TestServer::call`].
fn scrape(s: &TestServer, auth: Option<&str>) -> String {
    let (status, body) = s.get("/metrics", auth);
    assert_eq!(status, 200, "{body}");
    body.as_str().expect("text, not JSON").to_string()
}

/// The value of the one sample named `series` (name and labels exactly as written).
fn sample(text: &str, series: &str) -> Option<String> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ').map(str::to_string))
}

#[test]
fn who_may_scrape() {
    let s = TestServer::with_config(|c| c.auth.cronjob_key = Some("cron-key-for-metrics".to_string().into()));
    let admin = s.create_admin();
    let reader = s.token("reader", "read");
    let writer = s.token("writer", "create");
    assert_eq!(s.get("/metrics", None), (401, json!({"message": "Unauthorized"})));
    assert_eq!(s.get("/metrics", Some("not-a-token")), (403, json!({"message": "Invalid API key"})));
    assert_eq!(s.get("/metrics", Some(&writer)).0, 403, "a token without read");
    for who in [&admin, &reader, &"cron-key-for-metrics".to_string()] {
        assert!(scrape(&s, Some(who)).contains("borgwarehouse_repositories 0\n"), "{who}");
    }
    // The cron key in the URL would end up in proxy logs: the header only.
    assert_eq!(s.get("/metrics?key=cron-key-for-metrics", None).0, 401);
    let answer = s.raw(b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");

    let public = TestServer::with_config(|c| c.auth.metrics_public = true);
    assert!(scrape(&public, None).contains("borgwarehouse_repositories 0\n"));
}

#[test]
fn series_show_the_store_at_scrape_time() {
    let s = TestServer::start();
    let t = s.full_token();
    let mut body = repo_body(&ed25519_key(71, ""));
    body["alias"] = json!("web \"prod\"\\1");
    body["storageSize"] = json!(3);
    body["alert"] = json!(3600);
    body["appendOnlyMode"] = json!(true);
    let (status, a) = s.post("/api/v1/repositories", Some(&t), &body);
    assert_eq!(status, 200, "{a}");
    let a_name = a["repositoryName"].as_str().unwrap().to_string();
    let mut body = repo_body(&ed25519_key(72, ""));
    body["alert"] = json!(0);
    let (_, b) = s.post("/api/v1/repositories", Some(&t), &body);
    let b_name = b["repositoryName"].as_str().unwrap().to_string();
    assert_eq!(s.post(&format!("/api/v1/repositories/{b_name}/archive"), Some(&t), &json!({"archived": true})).0, 200);
    // A backup one minute ago, as the status check would have read it.
    s.set_last_save(a["id"].as_u64().unwrap(), bw_tests::NOW - 60);
    s.block_on(s.state.repos.update_scans(vec![(a["id"].as_u64().unwrap(), 5u64)], |scan, _, kib| {
        scan.storage_used = kib;
        false
    }))
    .unwrap();

    let text = scrape(&s, Some(&t));
    let of = |series: &str, name: &str| sample(&text, &format!("{series}{{repositoryName=\"{name}\"}}"));
    assert_eq!(
        of("borgwarehouse_repository_last_backup_timestamp_seconds", &a_name),
        Some((bw_tests::NOW - 60).to_string())
    );
    assert_eq!(of("borgwarehouse_repository_used_bytes", &a_name).as_deref(), Some("5120"));
    assert_eq!(of("borgwarehouse_repository_quota_bytes", &a_name).as_deref(), Some("3000000000"));
    assert_eq!(of("borgwarehouse_repository_status", &a_name).as_deref(), Some("1"));
    assert_eq!(of("borgwarehouse_repository_append_only", &a_name).as_deref(), Some("1"));
    assert_eq!(of("borgwarehouse_repository_archived", &a_name).as_deref(), Some("0"));
    assert_eq!(of("borgwarehouse_repository_archived", &b_name).as_deref(), Some("1"));
    assert_eq!(of("borgwarehouse_repository_alert_seconds", &b_name).as_deref(), Some("0"));
    let info = format!(r#"borgwarehouse_repository_info{{repositoryName="{a_name}",alias="web \"prod\"\\1"}}"#);
    assert_eq!(sample(&text, &info).as_deref(), Some("1"), "the alias, escaped:\n{text}");
    assert_eq!(sample(&text, "borgwarehouse_repositories").as_deref(), Some("2"));
    assert_eq!(sample(&text, "borgwarehouse_repositories_archived").as_deref(), Some("1"));
    assert_eq!(
        sample(&text, "borgwarehouse_repositories_late").as_deref(),
        Some("0"),
        "b is archived and not monitored"
    );
    assert_eq!(sample(&text, "borgwarehouse_repositories_used_bytes").as_deref(), Some("5120"));

    // Time passes past a's alert delay: late, with nothing else changed.
    s.clock.set(bw_tests::NOW + 3600);
    let text = scrape(&s, Some(&t));
    assert_eq!(
        sample(&text, &format!("borgwarehouse_repository_status{{repositoryName=\"{a_name}\"}}")).as_deref(),
        Some("0")
    );
    assert_eq!(sample(&text, "borgwarehouse_repositories_late").as_deref(), Some("1"));

    // An edit shows at the next scrape: the series come from the store's index, which every
    // change updates.
    let patch = json!({"alias": "renamed", "storageSize": 7, "appendOnlyMode": false});
    let (status, answer) = s.patch(&format!("/api/v1/repositories/{a_name}"), Some(&t), &patch);
    assert_eq!(status, 200, "{answer}");
    let text = scrape(&s, Some(&t));
    let of = |series: &str, name: &str| sample(&text, &format!("{series}{{repositoryName=\"{name}\"}}"));
    assert_eq!(of("borgwarehouse_repository_quota_bytes", &a_name).as_deref(), Some("7000000000"));
    assert_eq!(of("borgwarehouse_repository_append_only", &a_name).as_deref(), Some("0"));
    let info = format!(r#"borgwarehouse_repository_info{{repositoryName="{a_name}",alias="renamed"}}"#);
    assert_eq!(sample(&text, &info).as_deref(), Some("1"), "the new alias:\n{text}");
    assert!(!text.contains("prod"), "the old alias is gone:\n{text}");

    // A delete shows at the next scrape.
    assert_eq!(s.delete(&format!("/api/v1/repositories/{b_name}"), Some(&t)).0, 200);
    let text = scrape(&s, Some(&t));
    assert!(!text.contains(&b_name), "{text}");
    assert_eq!(sample(&text, "borgwarehouse_repositories").as_deref(), Some("1"));
}

#[test]
fn the_server_counts_requests_refusals_and_checks() {
    let s = TestServer::with_config(|c| c.auth.cronjob_key = Some("cron-key-for-metrics".to_string().into()));
    let t = s.full_token();
    let (_, created) = s.post("/api/v1/repositories", Some(&t), &repo_body(&ed25519_key(73, "")));
    let name = created["repositoryName"].as_str().unwrap();
    assert_eq!(s.get(&format!("/api/v1/repositories/{name}"), Some(&t)).0, 200);
    assert_eq!(s.get("/api/v1/repositories/ffffffff", Some(&t)).0, 404);
    assert_eq!(s.get("/api/v1/repositories", Some("wrong-token")).0, 403);
    assert_eq!(s.get("/api/v1/repositories", None).0, 401);
    assert_eq!(s.get("/no/such/route", None).0, 404);
    assert_eq!(s.call("POST", "/api/v1/cron/status", Some("cron-key-for-metrics"), None).0, 200);

    let text = scrape(&s, Some(&t));
    let requests = |route: &str, method: &str, status: u16| {
        sample(
            &text,
            &format!(r#"borgwarehouse_http_requests_total{{route="{route}",method="{method}",status="{status}"}}"#),
        )
    };
    // By template, never by the name a client sent: a scan of names cannot grow the series.
    assert_eq!(requests("/api/v1/repositories/{repositoryName}", "GET", 200).as_deref(), Some("1"));
    assert_eq!(requests("/api/v1/repositories/{repositoryName}", "GET", 404).as_deref(), Some("1"));
    assert_eq!(requests("/api/v1/repositories", "POST", 200).as_deref(), Some("1"));
    assert_eq!(requests("unmatched", "GET", 404).as_deref(), Some("1"));
    assert!(!text.contains(&format!("route=\"/api/v1/repositories/{name}\"")), "{text}");
    let failures =
        |reason: &str| sample(&text, &format!(r#"borgwarehouse_authentication_failures_total{{reason="{reason}"}}"#));
    assert_eq!(failures("invalid_api_key").as_deref(), Some("1"));
    assert_eq!(failures("unauthorized").as_deref(), Some("1"));
    assert_eq!(sample(&text, r#"borgwarehouse_check_success{check="status"}"#).as_deref(), Some("1.0"));
    assert!(sample(&text, r#"borgwarehouse_check_duration_seconds{check="status"}"#).is_some());
    assert_eq!(
        sample(&text, r#"borgwarehouse_check_last_run_timestamp_seconds{check="status"}"#).as_deref(),
        Some(&*format!("{}.0", bw_tests::NOW)),
    );
    assert_eq!(sample(&text, r#"borgwarehouse_check_success{check="storage"}"#), None, "the storage check has not run");
    assert!(text.contains("borgwarehouse_build_info{version=\""), "{text}");
    // Alone on its store: this server runs the periodic work.
    let store = if bw_tests::on_postgres() { "postgresql" } else { "embedded" };
    assert_eq!(sample(&text, &format!(r#"borgwarehouse_store_info{{store="{store}"}}"#)).as_deref(), Some("1"));
    assert_eq!(sample(&text, "borgwarehouse_periodic_work").as_deref(), Some("1"));
}

#[test]
fn prometheus_gets_openmetrics_and_everyone_else_the_text_format() {
    let s = TestServer::with_config(|c| c.auth.metrics_public = true);
    let head = |accept: &str| {
        let answer = s.raw(
            format!("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        (head.to_lowercase(), body.to_string())
    };
    // Prometheus's own Accept header.
    let (h, body) = head("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1");
    assert!(h.contains("content-type: application/openmetrics-text; version=1.0.0"), "{h}");
    assert!(body.contains("# TYPE borgwarehouse_http_requests counter") && body.contains("# EOF"), "{body}");
    let (h, body) = head("*/*");
    assert!(h.contains("content-type: text/plain; version=0.0.4"), "{h}");
    assert!(body.contains("# TYPE borgwarehouse_http_requests_total counter") && !body.contains("# EOF"), "{body}");
}

/// The text format passes `promtool check metrics`, Prometheus's own parser and linter, with
/// one accepted lint: the `repositoryName` label keeps the API's spelling (so a dashboard and a
/// script name a repository alike), where promtool prefers snake_case.
#[test]
fn promtool_accepts_the_text_format() {
    let Some(promtool) = tool_or_skip("promtool", "promtool check metrics") else { return };
    let s = TestServer::start();
    let t = s.full_token();
    let mut body = repo_body(&ed25519_key(74, ""));
    body["alias"] = json!("quote \" and backslash \\ {braces}");
    assert_eq!(s.post("/api/v1/repositories", Some(&t), &body).0, 200);
    assert_eq!(s.get("/api/v1/repositories", Some("wrong")).0, 403);
    s.block_on(bw_plugin_metrics_checks(&s));
    let text = scrape(&s, Some(&t));
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let problems: Vec<&str> = report
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !l.ends_with("label names should be written in 'snake_case' not 'camelCase'"))
        .collect();
    assert!(problems.is_empty(), "promtool found problems:\n{report}\n--- the answer ---\n{text}");
    // Exit 3 is lint findings only (the accepted one); a parse error exits 1.
    assert!(matches!(out.status.code(), Some(0 | 3)), "{:?}: {report}", out.status);
}

/// Both checks once, so every family has samples.
async fn bw_plugin_metrics_checks(s: &TestServer) {
    bw_plugin_cron_status::run(&s.state).await.unwrap();
    bw_plugin_cron_storage::run(&s.state).await.unwrap();
}

/// Scrapes are built two at a time; more wait their turn and all are answered whole.
#[test]
fn concurrent_scrapes_all_get_the_whole_answer() {
    let s = TestServer::with_config(|c| c.auth.metrics_public = true);
    let t = s.full_token();
    for seed in 0..50 {
        assert_eq!(s.post("/api/v1/repositories", Some(&t), &repo_body(&ed25519_key(200 + seed, ""))).0, 200);
    }
    let url = format!("{}/metrics", s.url);
    let scrapes: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || bw_tests::request("GET", &url, None, None))
        })
        .collect();
    for scrape in scrapes {
        let (status, body) = scrape.join().unwrap();
        let text = body.as_str().unwrap().to_string();
        assert_eq!(status, 200);
        assert_eq!(sample(&text, "borgwarehouse_repositories").as_deref(), Some("50"));
        assert_eq!(text.matches("borgwarehouse_repository_info{").count(), 50, "a whole answer");
    }
}
