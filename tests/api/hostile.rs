//! Requests a hostile client sends: each gets a clear error, the server stays up, and nothing
//! changes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bw_tests::{ed25519_key, json, repo_body, TestServer};

fn assert_alive(s: &TestServer) {
    assert_eq!(s.get("/api/version", None).0, 200, "the server stopped answering");
}

fn post_raw(s: &TestServer, token: &str, body: &[u8]) -> String {
    let mut req = format!(
        "POST /api/repo/add HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    s.raw(&req)
}

#[test]
fn deeply_nested_json_and_invalid_utf8_are_400() {
    let s = TestServer::start();
    let t = s.full_token();
    let nested = format!("{}{}", "[".repeat(30_000), "]".repeat(30_000));
    let answer = post_raw(&s, &t, nested.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 400"), "{}", &answer[..answer.len().min(300)]);
    assert!(answer.contains(r#""message":"Invalid request body""#));
    let mut bad_utf8 = br#"{"alias":"caf"#.to_vec();
    bad_utf8.extend_from_slice(&[0xff, 0xfe]);
    bad_utf8.extend_from_slice(br#"","storageSize":1}"#);
    let answer = post_raw(&s, &t, &bad_utf8);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    let answer = post_raw(&s, &t, b"\x00\x01\x02");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(s.state.repos.is_empty());
    assert_alive(&s);
}

#[test]
fn huge_headers_are_refused_and_the_server_stays_up() {
    let s = TestServer::start();
    let req = format!(
        "GET /api/version HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(1024 * 1024)
    );
    let answer = s.raw(req.as_bytes());
    assert!(!answer.starts_with("HTTP/1.1 200"), "a 1 MiB header was accepted: {}", &answer[..answer.len().min(200)]);
    let many: String = (0..2000).map(|i| format!("X-H{i}: v\r\n")).collect();
    let answer = s.raw(format!("GET /api/version HTTP/1.1\r\nHost: x\r\n{many}Connection: close\r\n\r\n").as_bytes());
    assert!(!answer.starts_with("HTTP/1.1 200"), "2,000 headers were accepted");
    assert_alive(&s);
}

#[test]
fn a_client_sending_a_byte_a_second_is_cut_off() {
    let s = TestServer::with_config(|c| c.server.request_timeout = Duration::from_secs(2));
    let mut slow = TcpStream::connect(s.url.trim_start_matches("http://")).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let start = Instant::now();
    let head = b"GET /api/version HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut closed = false;
    for b in head.iter() {
        if slow.write_all(&[*b]).is_err() {
            closed = true;
            break;
        }
        // Others are served meanwhile.
        if start.elapsed() < Duration::from_millis(700) {
            assert_alive(&s);
        }
        std::thread::sleep(Duration::from_millis(500));
        if start.elapsed() > Duration::from_secs(12) {
            break;
        }
    }
    if !closed {
        let mut out = Vec::new();
        // A read timeout means the connection is still open.
        closed = match slow.read_to_end(&mut out) {
            Ok(_) => !String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200"),
            Err(_) => false,
        };
    }
    assert!(closed, "the slow client was never cut off");
    assert!(start.elapsed() < Duration::from_secs(12));
    assert_alive(&s);
}

#[test]
fn a_body_that_trickles_in_gets_408() {
    let s = TestServer::with_config(|c| c.server.request_timeout = Duration::from_secs(2));
    let t = s.full_token();
    let body = repo_body(&ed25519_key(1, "")).to_string();
    let mut conn = TcpStream::connect(s.url.trim_start_matches("http://")).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    write!(conn, "POST /api/repo/add HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {t}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len()).unwrap();
    conn.write_all(&body.as_bytes()[..5]).unwrap();
    let mut out = vec![0u8; 4096];
    let n = conn.read(&mut out).unwrap_or(0);
    let answer = String::from_utf8_lossy(&out[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(s.state.repos.is_empty());
    assert_alive(&s);
}

#[test]
fn traversal_in_ids_and_names_reaches_nothing() {
    let s = TestServer::start();
    let t = s.full_token();
    let victim = s.dir.path().join("victim");
    std::fs::create_dir_all(&victim).unwrap();
    for path in [
        "/api/repo/id/..%2f..%2fvictim/delete",
        "/api/repo/id/%2e%2e/delete",
        "/api/v1/repositories/..%2f..%2fvictim",
        "/api/v1/repositories/%2e%2e%2f%2e%2e",
        "/api/v1/repositories/..",
    ] {
        let (status, _) = s.delete(path, Some(&t));
        assert!(status == 404 || status == 405, "{path}: {status}");
    }
    assert!(victim.is_dir());
    assert!(s.home.exists());
    assert_alive(&s);
}

/// What the HTTP layer answers by itself (a head it cannot parse) is JSON like every other
/// answer, and an HTTP/1.1 request without `Host` is refused (RFC 9112, 3.2).
#[test]
fn malformed_heads_get_json_answers_and_a_missing_host_is_400() {
    let s = TestServer::start();
    let json_answer = |answer: &str, status: &str| {
        assert!(answer.starts_with(&format!("HTTP/1.1 {status}")), "{}", &answer[..answer.len().min(300)]);
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.to_ascii_lowercase().contains("content-type: application/json"), "{head}");
        let body: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    };
    let long_path = format!("GET /{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "a".repeat(70_000));
    json_answer(&s.raw(long_path.as_bytes()), "414");
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    json_answer(&s.raw(format!("GET /api/version HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes()), "431");
    let conflicting = "POST /api/repo/add HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}";
    json_answer(&s.raw(conflicting.as_bytes()), "400");
    let bad_chunking = "POST /api/repo/add HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked, x\r\n\r\n0\r\n\r\n";
    json_answer(&s.raw(bad_chunking.as_bytes()), "400");
    json_answer(&s.raw(b"GET /api/version HTTP/1.1\r\nConnection: close\r\n\r\n"), "400");
    // HTTP/1.0 had no Host; it is still served.
    assert!(s.raw(b"GET /api/version HTTP/1.0\r\n\r\n").starts_with("HTTP/1.0 200"));
    assert_alive(&s);
}

/// RFC 9112, 3.2: more than one `Host`, or a `Host` that is not `host[:port]`, is 400; one of
/// a route's query parameters given twice is 400 (which one it would take is a guess); cleartext
/// HTTP/2, which none of the contract's answers hold on, is refused with GOAWAY
/// HTTP_1_1_REQUIRED before the server reads a frame.
#[test]
fn two_hosts_a_bad_host_a_repeated_parameter_and_cleartext_http2_are_refused() {
    let s = TestServer::start();
    let t = s.full_token();
    let status_and_message = |answer: String| {
        let status = answer.split(' ').nth(1).unwrap_or_default().to_string();
        let body: serde_json::Value =
            answer.split_once("\r\n\r\n").and_then(|(_, b)| serde_json::from_str(b).ok()).unwrap_or_default();
        (status, body["message"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(
        status_and_message(s.raw(b"GET /api/version HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n")),
        ("400".into(), "Bad request: more than one Host header".into())
    );
    for bad in ["a b", "user@host", "a/b", "[::1"] {
        let head = format!("GET /api/version HTTP/1.1\r\nHost: {bad}\r\nConnection: close\r\n\r\n");
        assert_eq!(
            status_and_message(s.raw(head.as_bytes())),
            ("400".into(), "Bad request: the Host header is not a host and port".into()),
            "Host: {bad}"
        );
    }
    for good in ["backup.example.com", "127.0.0.1:3000", "[::1]:3000", ""] {
        let head = format!("GET /api/version HTTP/1.1\r\nHost: {good}\r\nConnection: close\r\n\r\n");
        assert!(s.raw(head.as_bytes()).starts_with("HTTP/1.1 200"), "Host: {good}");
    }
    let (status, body) = s.get("/api/v1/alerts?repositoryName=a&repositoryName=b", Some(&t));
    assert_eq!(
        (status, body),
        (400, json!({"message": "Bad request: the query parameter repositoryName is given more than once"}))
    );
    assert_eq!(s.get("/api/v1/repositories?limit=1&%6Cimit=2", Some(&t)).0, 400, "the same name, encoded");
    assert_eq!(s.get("/api/v1/repositories?limit=1&offset=0", Some(&t)).0, 200);
    assert_eq!(s.get("/api/v1/repositories?x=1&x=2", Some(&t)).0, 200, "a parameter no route reads stays ignored");

    // Cleartext HTTP/2 with prior knowledge: the server's SETTINGS, then GOAWAY (0xd).
    let mut conn = TcpStream::connect(s.url.trim_start_matches("http://")).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    conn.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00").unwrap();
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer);
    assert_eq!(
        answer,
        [0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xd],
        "not a refusal of HTTP/2"
    );
    assert_alive(&s);
}
