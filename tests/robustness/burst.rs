//! An unauthenticated burst: wrong passwords sent all at once, from one address and from many.
//! Each attempt is counted before it is checked, so one address gets at most the limit of
//! password checks however many requests it sends in parallel, and the checks that do run
//! (argon2, ~19 MiB each) run one per core, so memory stays bounded whatever the addresses.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use crate::harness::Server;
use bw_tests::basic;

const PASSWORD: &str = "the right password, at last";
/// BW_AUTH_FAILURE_LIMIT's default.
const LIMIT: usize = 20;

/// The process's peak resident memory so far (VmHWM), in MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib / 1024.0
}

/// Sends `n` requests at once (each on its own connection, released together), the i-th as if
/// from `from(i)` (the server trusts 127.0.0.1 as a proxy), and answers their statuses.
fn burst(server: &Server, n: usize, method: &str, path: &str, from: impl Fn(usize) -> String) -> Vec<u16> {
    let start = Arc::new(Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let (start, url, method, from) =
                (start.clone(), format!("http://127.0.0.1:{}{path}", server.port()), method.to_string(), from(i));
            std::thread::spawn(move || {
                let req = ureq::request(&method, &url)
                    .set("Authorization", &basic("admin", &format!("guess number {i}")))
                    .set("X-Forwarded-For", &from)
                    .timeout(Duration::from_secs(120));
                start.wait();
                let result = if method == "POST" { req.send_string("") } else { req.call() };
                match result {
                    Ok(r) => r.status(),
                    Err(ureq::Error::Status(s, _)) => s,
                    Err(e) => panic!("{method} {url}: {e}"),
                }
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

#[test]
fn a_burst_of_wrong_passwords_gets_at_most_the_limit_of_checks_and_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("BW_ADMIN_PASSWORD".to_string(), PASSWORD.to_string()),
        ("BW_TRUSTED_PROXIES".to_string(), r#"["127.0.0.1"]"#.to_string()),
    ];
    let server = Server::start(dir.path(), &env);
    let before = peak_rss_mib(server.pid());

    // 120 parallel wrong passwords from one address: at most the limit are checked (401), the
    // rest refused unchecked (429).
    let statuses = burst(&server, 120, "GET", "/api/repo", |_| "127.0.0.2".into());
    assert_eq!(count(&statuses, 401) + count(&statuses, 429), 120, "{statuses:?}");
    assert!(count(&statuses, 401) <= LIMIT, "{} of 120 wrong passwords were checked", count(&statuses, 401));
    // The sign-in route takes the same credentials, and the same count.
    let statuses = burst(&server, 60, "POST", "/api/v1/sign-in", |_| "127.0.0.3".into());
    assert_eq!(count(&statuses, 401) + count(&statuses, 429), 60, "{statuses:?}");
    assert!(count(&statuses, 401) <= LIMIT, "{} of 60 sign-ins were checked", count(&statuses, 401));
    // 120 addresses, one guess each: every one is checked, one per core at a time.
    let statuses = burst(&server, 120, "GET", "/api/repo", |i| format!("127.0.1.{i}"));
    assert_eq!(count(&statuses, 401) + count(&statuses, 429), 120, "{statuses:?}");

    let after = peak_rss_mib(server.pid());
    assert!(after - before < 64.0, "peak resident memory grew from {before:.1} to {after:.1} MiB");
    println!("burst: peak resident memory {before:.1} -> {after:.1} MiB");

    // The address that guessed stays refused, even with the right password; another is served.
    let right = |from: &str| {
        ureq::get(&format!("http://127.0.0.1:{}/api/repo", server.port()))
            .set("Authorization", &basic("admin", PASSWORD))
            .set("X-Forwarded-For", from)
            .call()
            .map_or_else(|e| if let ureq::Error::Status(s, _) = e { s } else { 0 }, |r| r.status())
    };
    assert_eq!(right("127.0.0.2"), 429);
    assert_eq!(right("127.0.0.9"), 200);
}
