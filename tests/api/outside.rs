//! Defects found from outside (fuzzing the live server and hand-made requests), each checked
//! the way it was found.

use std::time::Duration;

use bw_tests::{ed25519_key, json, repo_body, TestServer};

const KEY: &str = "cron-key-for-tests";

fn status_line(answer: &str) -> &str {
    answer.lines().next().unwrap_or_default()
}

fn allow_header(answer: &str) -> Option<String> {
    answer.lines().find_map(|l| l.to_lowercase().strip_prefix("allow: ").map(|v| v.trim().to_string()))
}

/// A HEAD must never have a side effect: on the GET forms of the cron routes it ran the check.
#[test]
fn head_on_a_cron_route_is_405_and_runs_nothing() {
    let s = TestServer::with_config(|c| c.auth.cronjob_key = Some(KEY.into()));
    let t = s.full_token();
    let (_, created) = s.post("/api/v1/repositories", Some(&t), &repo_body(&ed25519_key(1, "")));
    let folder = s.home.join("repos").join(created["repositoryName"].as_str().unwrap());
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("integrity.3"), b"x").unwrap();
    std::fs::write(folder.join("data"), vec![1u8; 100_000]).unwrap();
    for path in ["/api/v1/cron/status", "/api/v1/cron/storage"] {
        let answer = s.raw(
            format!("HEAD {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        assert_eq!(status_line(&answer), "HTTP/1.1 405 Method Not Allowed", "{path}: {answer}");
        assert_eq!(allow_header(&answer).as_deref(), Some("get, post"), "{path}: {answer}");
    }
    let repo = s.state.repos.get(created["id"].as_u64().unwrap()).unwrap().unwrap();
    assert_eq!((repo.last_save, repo.storage_used), (0, 0), "a HEAD ran a check");
    // The GET itself still runs it.
    assert_eq!(s.get(&format!("/api/v1/cron/storage?key={KEY}"), None).0, 200);
    assert!(s.state.repos.get(repo.id).unwrap().unwrap().storage_used > 0);
}

/// The document and Swagger UI answered 200 to every method.
#[test]
fn document_and_ui_take_only_get_and_head() {
    let s = TestServer::start();
    for path in ["/openapi.json", "/docs", "/healthz"] {
        for method in ["POST", "DELETE", "PUT", "FOO"] {
            let answer = s.raw(
                format!("{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            );
            assert_eq!(status_line(&answer), "HTTP/1.1 405 Method Not Allowed", "{method} {path}");
            assert_eq!(allow_header(&answer).as_deref(), Some("get, head"), "{method} {path}");
            assert!(answer.contains(r#"{"message":"Method Not Allowed"}"#), "{answer}");
        }
        let answer = s.raw(format!("HEAD {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes());
        assert_eq!(status_line(&answer), "HTTP/1.1 200 OK", "HEAD {path}");
        assert_eq!(s.call("GET", path, None, None).0, 200, "GET {path}");
    }
}

/// Credentials were checked only after the body arrived: an anonymous request that announced a
/// body and sent none waited for the body deadline and got 408.
#[test]
fn credentials_are_checked_before_the_body_arrives() {
    let s = TestServer::with_config(|c| c.server.request_timeout = Duration::from_secs(3));
    let answer = s.raw(b"POST /api/repo/add HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\nConnection: close\r\n\r\n");
    assert_eq!(status_line(&answer), "HTTP/1.1 401 Unauthorized", "{answer}");
    assert!(answer.contains(r#"{"message":"Unauthorized"}"#), "{answer}");
    let answer = s.raw(b"PATCH /api/v1/repositories/abcdef12 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer bw_unknown\r\nContent-Length: 500\r\nConnection: close\r\n\r\n");
    assert_eq!(status_line(&answer), "HTTP/1.1 403 Forbidden", "{answer}");
    assert!(answer.contains(r#"{"message":"Invalid API key"}"#), "{answer}");
}

/// `Expect: 100-continue` with a bad token got `100 Continue`: the client was invited to send
/// a body the server would refuse.
#[test]
fn a_bad_token_gets_no_100_continue() {
    let s = TestServer::with_config(|c| c.server.request_timeout = Duration::from_secs(3));
    for (auth, status) in [("Bearer bw_unknown", "HTTP/1.1 403 Forbidden"), ("", "HTTP/1.1 401 Unauthorized")] {
        let header = if auth.is_empty() { String::new() } else { format!("Authorization: {auth}\r\n") };
        let answer = s.raw(
            format!(
                "POST /api/v1/repositories HTTP/1.1\r\nHost: x\r\n{header}Content-Type: application/json\r\nContent-Length: 300\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        );
        assert_eq!(status_line(&answer), status, "{auth}: {answer}");
        assert!(!answer.contains("100 Continue"), "{auth}: {answer}");
    }
    // A good token is invited to send its body, and the body is read.
    let t = s.full_token();
    let body = repo_body(&ed25519_key(5, "")).to_string();
    let answer = s.raw(
        format!(
            "POST /api/repo/add HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {t}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    assert!(answer.contains("HTTP/1.1 200 OK"), "{answer}");
    assert_eq!(s.state.repos.len(), 1);
}

/// Token create accepted a `permissions` object with keys missing, even `{}`.
#[test]
fn token_permissions_need_all_four_keys() {
    let s = TestServer::start();
    let admin = s.create_admin();
    for permissions in [json!({}), json!({"read": true}), json!({"create": true, "read": true, "update": true})] {
        let (status, body) = s.post(
            "/api/v1/integration/token-manager",
            Some(&admin),
            &json!({"name": "ci", "permissions": permissions}),
        );
        assert_eq!(status, 400, "{permissions}");
        let message = body["message"].as_str().unwrap();
        assert!(message.starts_with("permissions.") && message.contains("required"), "{message}");
    }
    assert!(s.state.tokens.list().unwrap().is_empty());
    let all = json!({"create": false, "read": true, "update": false, "delete": false});
    assert_eq!(
        s.post("/api/v1/integration/token-manager", Some(&admin), &json!({"name": "ci", "permissions": all})).0,
        200
    );
}

/// A second key on the same line was kept with key B as the comment.
#[test]
fn a_second_key_in_the_comment_is_refused() {
    let s = TestServer::start();
    let t = s.full_token();
    let a = ed25519_key(1, "");
    let b = ed25519_key(2, "");
    let (status, body) = s.post("/api/repo/add", Some(&t), &repo_body(&format!("{a} {b}")));
    assert_eq!(status, 422, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("second"), "{body}");
    assert!(s.state.repos.is_empty());
    assert_eq!(s.authorized_keys_text(), "");
    let (_, created) = s.post("/api/repo/add", Some(&t), &repo_body(&a));
    let (status, _) = s.patch(
        &format!("/api/repo/id/{}/edit", created["id"]),
        Some(&t),
        &json!({"sshPublicKey": format!("{a} {b}")}),
    );
    assert_eq!(status, 422);
}

/// `/api/repo/id/0631` and `/api/repo/id/+631` named repository 631; `%FF` was "Invalid
/// request body". An id is a plain decimal.
#[test]
fn an_id_is_a_plain_decimal() {
    let s = TestServer::start();
    let t = s.full_token();
    for i in 0..2 {
        assert_eq!(s.post("/api/repo/add", Some(&t), &repo_body(&ed25519_key(i, ""))).0, 200);
    }
    assert_eq!(s.get("/api/repo/id/1", Some(&t)).0, 200);
    for id in ["01", "+1", "1.0", "1e0", "%FF", "%2B1", " 1", "0x1", "-0", "18446744073709551617"] {
        let (status, body) = s.get(&format!("/api/repo/id/{id}"), Some(&t));
        assert_eq!(status, 404, "{id}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.starts_with("No repository with id #"), "{id}: {message}");
        let (status, _) = s.patch(&format!("/api/repo/id/{id}/edit"), Some(&t), &json!({"alias": "x"}));
        assert_eq!(status, 404, "edit {id}");
        assert_eq!(s.delete(&format!("/api/repo/id/{id}/delete"), Some(&t)).0, 404, "delete {id}");
    }
    assert_eq!(s.state.repos.len(), 2);
    assert!(s.state.repos.list().unwrap().iter().all(|r| r.alias == "MyRepo"));
}
