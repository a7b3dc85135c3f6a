use bw_tests::TestServer;

#[test]
fn version_on_both_paths() {
    let s = TestServer::start();
    for path in ["/api/version", "/api/v1/version"] {
        let (status, body) = s.get(path, None);
        assert_eq!(status, 200, "{path}");
        assert_eq!(body["version"], env!("CARGO_PKG_VERSION"), "{path}");
        insta::assert_json_snapshot!("version", body, { ".version" => "[version]" });
    }
}

#[test]
fn unknown_path_and_wrong_method_answer_json() {
    let s = TestServer::start();
    let (status, body) = s.get("/api/nope", None);
    assert_eq!(status, 404);
    insta::assert_json_snapshot!("not_found", body);
    let (status, body) = s.call("POST", "/api/version", None, None);
    assert_eq!(status, 405);
    insta::assert_json_snapshot!("method_not_allowed", body);
    let (status, body) = s.call("PUT", "/api/repo/id/1/edit", None, Some("{}"));
    assert_eq!((status, body["message"].as_str()), (405, Some("Method Not Allowed")));
    let answer = s.raw(b"TRACE /api/v1/repositories/abcdef12 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    assert!(answer.to_lowercase().contains("allow: delete, get, patch\r\n"), "405 names the allowed methods: {answer}");
}

#[test]
fn healthz_reports_a_usable_store() {
    let s = TestServer::start();
    let (status, body) = s.get("/healthz", None);
    let store = if bw_tests::on_postgres() { "postgresql" } else { "embedded" };
    // Alone on its store, the server runs the periodic work from its first answer on.
    assert_eq!((status, body), (200, serde_json::json!({"status": "ok", "store": store, "periodicWork": true})));
}

#[test]
fn swagger_ui_is_served_without_network() {
    let s = TestServer::start();
    let resp = ureq::get(&format!("{}/docs", s.url)).call().unwrap();
    // People type tokens into this page: no framing, no referrer, only its own inline scripts
    // (named by hash). The browser test (tests/clients/dashboard_flows.py) checks it still runs.
    let csp = resp.header("Content-Security-Policy").unwrap_or_default().to_string();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'sha256-"), "{csp}");
    assert!(!csp.contains("script-src 'unsafe-inline'") && !csp.contains("script-src *"), "{csp}");
    assert_eq!(resp.header("X-Frame-Options"), Some("DENY"));
    assert_eq!(resp.header("Referrer-Policy"), Some("no-referrer"));
    let html = resp.into_string().unwrap();
    assert!(html.contains("SwaggerUIBundle"), "no embedded Swagger UI");
    assert!(html.contains("/openapi.json") || html.contains("\"openapi\""), "UI does not load our document");
    assert!(!html.contains("https://unpkg.com") && !html.contains("cdn."), "UI pulls assets from the network");
}

#[test]
fn oversized_body_gets_413_and_not_json_gets_400() {
    let s = TestServer::start();
    let token = s.full_token();
    let big = format!("{{\"alias\":\"{}\"}}", "a".repeat(70 * 1024));
    let declared = format!(
        "POST /api/repo/add HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{big}",
        big.len()
    );
    let answer = s.raw(declared.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains(r#"{"message":"Payload Too Large""#), "{answer}");
    // Chunked, so no Content-Length announces the size.
    let chunked = format!(
        "POST /api/repo/add HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{big}\r\n0\r\n\r\n",
        big.len()
    );
    let answer = s.raw(chunked.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    let (status, body) = s.call("POST", "/api/repo/add", Some(&token), Some("{not json"));
    assert_eq!(status, 400);
    insta::assert_json_snapshot!("invalid_body", body["message"]);
    assert!(s.state.repos.is_empty());
}

#[test]
fn plugins_of_the_default_build() {
    let mut names = borgwarehouse::plugin_names().unwrap();
    // Registered by this test binary itself (tests/api/plugins.rs), not by the server.
    names.retain(|n| *n != "test-plugin");
    // `health-alerts`: the alerts crate's task that sends the health alerts (`alerts` is its
    // alert plugin and route); `verify`: the repo crate's scheduled verify; `events`: the live
    // updates' route and watcher; `key-folder-repair`: the repo crate's task that repairs the
    // key folder after a change cut off (several servers on one database).
    assert_eq!(
        names,
        [
            "alerts",
            "audit",
            "audit-retention",
            "cron-status",
            "cron-storage",
            "dashboard",
            "events",
            "health-alerts",
            "history",
            "key-folder-repair",
            "metrics",
            "repo",
            "sessions",
            "sign-in",
            "sign-in-providers",
            "tenants",
            "tokens",
            "users",
            "verify",
            "version"
        ]
    );
}
