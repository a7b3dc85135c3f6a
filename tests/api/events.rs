//! `GET /api/v1/events` (contract: "Live updates"): a stream a client reads while the host
//! changes: a repository made through the API, a token made, and the stream of a revoked token
//! ending.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bw_tests::{ed25519_key, json, repo_body, TestServer};

/// An open stream: its events as JSON, read line by line.
pub(crate) struct Stream {
    reader: BufReader<TcpStream>,
}

impl Stream {
    pub(crate) fn open(s: &TestServer, token: &str) -> (String, Stream) {
        let mut tcp = TcpStream::connect(s.url.trim_start_matches("http://")).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(tcp, "GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n").unwrap();
        let mut reader = BufReader::new(tcp);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push_str(&line);
        }
        (head, Stream { reader })
    }

    /// The next event within `wait`, `None` when the stream ended.
    pub(crate) fn next(&mut self, wait: Duration) -> Option<serde_json::Value> {
        let until = Instant::now() + wait;
        loop {
            assert!(Instant::now() < until, "no event within {wait:?}");
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                    continue
                }
                Err(e) => panic!("{e}"),
            }
            // Chunked framing: the chunk sizes are hex lines; the events are `data: {...}`.
            if let Some(data) = line.trim_end().strip_prefix("data: ") {
                return Some(serde_json::from_str(data).unwrap());
            }
            if line.trim_end() == "0" {
                return None;
            }
        }
    }

    /// Reads until an event of `kind` (others are skipped).
    pub(crate) fn until(&mut self, kind: &str) -> serde_json::Value {
        loop {
            let event = self.next(Duration::from_secs(10)).unwrap_or_else(|| panic!("ended before a {kind} event"));
            if event["type"] == kind {
                return event;
            }
        }
    }
}

#[test]
fn a_stream_tells_of_each_change_and_ends_with_its_token() {
    let s = TestServer::start();
    let admin = s.full_token();
    // Only the administrator manages tokens.
    let administrator = s.create_admin();
    let listener = s.token("listener", "read");
    let (head, mut stream) = Stream::open(&s, &listener);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_ascii_lowercase().contains("content-type: text/event-stream"), "{head}");

    let (status, made) = s.post("/api/v1/repositories", Some(&admin), &repo_body(&ed25519_key(1, "")));
    assert_eq!(status, 200, "{made}");
    let event = stream.until("repository");
    assert!(event["at"].as_i64().unwrap() > 0, "{event}");

    let (status, _) = s.post(
        "/api/v1/integration/token-manager",
        Some(&administrator),
        &json!({"name": "ci", "permissions": {"create": false, "read": true, "update": false, "delete": false}}),
    );
    assert_eq!(status, 200);
    stream.until("token");

    // Revoked: the revoke's own event is where the stream asks its token again, and ends.
    let (status, _) = s.call(
        "DELETE",
        "/api/v1/integration/token-manager",
        Some(&administrator),
        Some(&json!({"name": "listener"}).to_string()),
    );
    assert_eq!(status, 200);
    while let Some(event) = stream.next(Duration::from_secs(10)) {
        assert_ne!(event["type"], "token", "the revoked token heard of its own revoke: {event}");
    }
}

/// A sign-out ends the page's stream at once, not at its next ping 25 s later.
#[test]
fn a_sign_out_ends_its_stream_at_once() {
    let s = TestServer::start();
    let admin = s.create_admin();
    let (status, body) = s.post("/api/v1/sign-in", Some(&admin), &json!({}));
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap().to_string();
    let (head, mut stream) = Stream::open(&s, &token);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(s.post("/api/v1/sign-out", Some(&format!("Bearer {token}")), &json!({})).0, 200);
    // `next` fails the test when neither an event nor the end comes within 10 s.
    while let Some(event) = stream.next(Duration::from_secs(10)) {
        eprintln!("HEARD {event}");
        assert_ne!(event["type"], "ping", "the signed-out stream went on to its ping: {event}");
    }
}

#[test]
fn a_stream_needs_read_credentials() {
    let s = TestServer::start();
    let (head, _) = Stream::open(&s, "bw_not-a-token");
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
}

/// A credential bound to a tenant hears only of its own repositories: another tenant's and
/// events that name none (they could tell it that something changed elsewhere) are left out.
#[test]
fn a_scoped_stream_hears_only_of_its_own_repositories() {
    let s = TestServer::start();
    let admin = s.create_admin();
    let made = |tenant: &str, seed: u32| {
        let body = json!({"alias": tenant, "sshPublicKey": ed25519_key(seed, ""), "storageSize": 1, "tenant": tenant});
        let (status, answer) = s.post("/api/v1/repositories", Some(&admin), &body);
        assert_eq!(status, 200, "{answer}");
        answer["repositoryName"].as_str().unwrap().to_string()
    };
    let (a, b) = (made("a", 1), made("b", 2));
    let (_, token) = s.post(
        "/api/v1/integration/token-manager",
        Some(&admin),
        &json!({"name": "a-only", "permissions": {"create": false, "read": true, "update": false, "delete": false}, "tenant": "a"}),
    );
    let (head, mut stream) = Stream::open(&s, token["token"].as_str().unwrap());
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // Give the stream a moment to subscribe: what is published before is not for it.
    std::thread::sleep(Duration::from_millis(300));
    let now = s.clock.now();
    for name in [Some(b.clone()), None, Some(a.clone())] {
        s.state.events.publish(bw_api::events::Event::new("repository", name, now));
    }
    let heard = stream.until("repository");
    assert_eq!(heard["repositoryName"].as_str(), Some(a.as_str()), "the first heard is its own: {heard}");
}
