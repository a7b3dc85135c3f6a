use bw_tests::{basic, ed25519_key, repo_body, TestServer, ADMIN_PASSWORD};

#[test]
fn missing_or_malformed_authorization_is_401() {
    let s = TestServer::start();
    for auth in [None, Some(""), Some("Bearer"), Some("Token abc"), Some("Basic !!!")] {
        let (status, body) = s.get("/api/repo", auth);
        assert_eq!(status, 401, "{auth:?}");
        assert_eq!(body, serde_json::json!({"message": "Unauthorized"}), "{auth:?}");
    }
    insta::assert_json_snapshot!("unauthorized", s.get("/api/repo", None).1);
}

#[test]
fn unknown_token_is_403_invalid_api_key() {
    let s = TestServer::start();
    let (status, body) = s.get("/api/repo", Some("bw_not-a-token"));
    assert_eq!(status, 403);
    insta::assert_json_snapshot!("invalid_api_key", body);
}

#[test]
fn token_permissions_are_exact() {
    let s = TestServer::start();
    let admin = s.create_admin();
    assert_eq!(s.post("/api/repo/add", Some(&admin), &repo_body(&ed25519_key(1, ""))).0, 200);
    let cases = [
        ("read", ("GET", "/api/repo")),
        ("create", ("POST", "/api/repo/add")),
        ("update", ("PATCH", "/api/repo/id/0/edit")),
        ("delete", ("DELETE", "/api/repo/id/0/delete")),
    ];
    for (perm, _) in cases {
        let token = s.token(perm, perm);
        for (other, (method, path)) in cases {
            if other == perm {
                continue;
            }
            let body = (method == "POST" || method == "PATCH").then(|| repo_body(&ed25519_key(2, "")).to_string());
            let (status, answer) = s.call(method, path, Some(&token), body.as_deref());
            assert_eq!(status, 403, "{perm} token on {method} {path}");
            assert_eq!(answer["message"], "Insufficient permissions");
        }
    }
    insta::assert_json_snapshot!("insufficient_permissions", s.get("/api/repo", Some(&s.token("w", "create"))).1);
    let reader = s.token("reader", "read");
    assert_eq!(s.get("/api/repo", Some(&reader)).0, 200);
    assert_eq!(s.state.repos.len(), 1);
}

#[test]
fn admin_basic_credentials_work_everywhere_and_wrong_ones_do_not() {
    let s = TestServer::with_config(|c| c.auth.disable_integrations = true);
    let admin = s.create_admin();
    let (status, _) = s.post(
        "/api/v1/repositories",
        Some(&admin),
        &serde_json::json!({"alias": "a", "sshPublicKey": ed25519_key(1, ""), "storageSize": 1}),
    );
    assert_eq!(status, 200);
    assert_eq!(s.get("/api/repo", Some(&admin)).0, 200);
    assert_eq!(s.get("/api/repo", Some(&basic("admin", "wrong password!"))).0, 401);
    assert_eq!(s.get("/api/repo", Some(&basic("root", ADMIN_PASSWORD))).0, 401);
}

#[test]
fn disabled_integrations_refuse_every_token() {
    let s = TestServer::with_config(|c| c.auth.disable_integrations = true);
    let token = s.full_token();
    let (status, body) = s.get("/api/repo", Some(&token));
    assert_eq!((status, body["message"].as_str()), (403, Some("Invalid API key")));
}

#[test]
fn expired_and_revoked_tokens_are_refused() {
    let s = TestServer::start();
    let p = bw_store::token_store::Permissions::parse_list("read").unwrap();
    let token = s.state.tokens.create("short", p, Some(bw_tests::NOW + 60), bw_tests::NOW).unwrap();
    assert_eq!(s.get("/api/repo", Some(&token)).0, 200);
    s.clock.set(bw_tests::NOW + 60);
    assert_eq!(s.get("/api/repo", Some(&token)).0, 403, "expired");
    let other = s.token("other", "read");
    assert_eq!(s.get("/api/repo", Some(&other)).0, 200);
    s.state.tokens.revoke("other", None).unwrap();
    assert_eq!(s.get("/api/repo", Some(&other)).0, 403, "revoked");
}

#[test]
fn repeated_failures_are_throttled() {
    let s = TestServer::start();
    let good = s.token("good", "read");
    for _ in 0..20 {
        assert_eq!(s.get("/api/repo", Some("bw_guess")).0, 403);
    }
    let (status, body) = s.get("/api/repo", Some(&good));
    assert_eq!(status, 429, "even a good token waits once the address is throttled");
    insta::assert_json_snapshot!("throttled", body);
}

fn status_of(raw: &str) -> u16 {
    raw.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn get_from(s: &TestServer, token: &str, forwarded_for: &str) -> u16 {
    let req = format!("GET /api/repo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nX-Forwarded-For: {forwarded_for}\r\nConnection: close\r\n\r\n");
    status_of(&s.raw(req.as_bytes()))
}

#[test]
fn forwarded_for_counts_only_from_a_trusted_proxy() {
    let trusted = TestServer::with_config(|c| c.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]);
    let good = trusted.token("good", "read");
    for _ in 0..20 {
        assert_eq!(get_from(&trusted, "bw_guess", "203.0.113.7"), 403);
    }
    assert_eq!(get_from(&trusted, &good, "203.0.113.7"), 429, "the client behind the proxy is throttled");
    assert_eq!(get_from(&trusted, &good, "203.0.113.8"), 200, "other clients of the proxy are not");

    let direct = TestServer::start();
    let good = direct.token("good", "read");
    for i in 0..20 {
        assert_eq!(get_from(&direct, "bw_guess", &format!("203.0.113.{i}")), 403);
    }
    assert_eq!(
        get_from(&direct, &good, "198.51.100.1"),
        429,
        "an untrusted peer cannot dodge the throttle with the header"
    );
}

#[test]
fn credentials_are_checked_before_the_body_is_read() {
    let s = TestServer::start();
    let (status, body) = s.call("POST", "/api/repo/add", None, Some("{not json"));
    assert_eq!((status, body["message"].as_str()), (401, Some("Unauthorized")));
    let (status, body) = s.call("PATCH", "/api/repo/id/0/edit", Some("bw_unknown"), Some("[]"));
    assert_eq!((status, body["message"].as_str()), (403, Some("Invalid API key")));
}

/// A body is JSON only when sent as `application/json` (in UTF-8): anything else is refused
/// with 415 and writes nothing, as BorgWarehouse's own API parses no other type.
#[test]
fn a_body_not_sent_as_json_is_refused_with_415_and_changes_nothing() {
    let s = TestServer::start();
    let t = s.full_token();
    let body = repo_body(&ed25519_key(1, "")).to_string();
    let send = |content_type: Option<&str>| {
        let header = content_type.map(|c| format!("Content-Type: {c}\r\n")).unwrap_or_default();
        s.raw(
            format!(
                "POST /api/repo/add HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {t}\r\n{header}Content-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
    };
    for refused in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/json; charset=iso-8859-1"),
    ] {
        let answer = send(refused);
        assert!(answer.starts_with("HTTP/1.1 415"), "{refused:?}: {answer}");
        assert!(answer.ends_with(r#"{"message":"Content-Type must be application/json"}"#), "{answer}");
    }
    assert_eq!(s.state.repos.len(), 0, "a refused body was written");
    // Credentials still come first: 401 before 415.
    let (status, _) = s.call("POST", "/api/v1/repositories", None, None);
    assert_eq!(status, 401);
    let answer = send(Some("application/json; charset=UTF-8"));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(s.state.repos.len(), 1);
}
