//! `cargo bench -p bw-bench --bench postgres`: several servers on one PostgreSQL (#34), with
//! PostgreSQL on the same machine (Debian's, started by the bench as the tests start it).
//! 100,000 repositories (`BENCH_POSTGRES=N` for another size) seeded straight into the
//! database, then two server processes in command key mode over one home: mutations through
//! one, the list (and the embedded store's, seeded alike, beside it), resident memory after a
//! list, both checks and a scrape, and the time another server takes the periodic work over
//! when its holder is killed.

use std::path::Path;
use std::time::{Duration, Instant};

use bw_bench::{timed, Conn, Report, Req, ServerProcess};

const BIN: &str = env!("CARGO_BIN_EXE_borgwarehouse-bench-server");
const CRON_KEY: &str = "bench-cron-key";
const MUTATIONS: u32 = 200;

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// The server's settings: the shared home and key folder under `shared`, the database when
/// given, each server's own data folder.
fn env(shared: &Path, data: &Path, url: Option<&str>) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("CRONJOB_KEY", CRON_KEY.to_string()),
        ("BW_DATA_DIR", data.display().to_string()),
        ("BW_HOME", shared.join("home").display().to_string()),
        ("BW_KEY_MODE", "command".into()),
        ("BW_KEY_LOOKUP_DIR", shared.join("keys").display().to_string()),
        ("BW_STATUS_INTERVAL", "0".into()),
        ("BW_STORAGE_INTERVAL", "0".into()),
    ];
    if let Some(url) = url {
        env.push(("BW_DATABASE_URL", url.to_string()));
    }
    env
}

/// The cached v1 list: the first answer (built), then the median of 20 more (from the cache).
fn list(server: &ServerProcess, token: &str) -> (Duration, Duration) {
    let mut conn = Conn::open(server.port, &format!("Bearer {token}"));
    let req = Req { method: "GET", path: "/api/v1/repositories".into(), body: None };
    let first = timed(&mut conn, &req);
    let mut again: Vec<Duration> = (0..20).map(|_| timed(&mut conn, &req)).collect();
    again.sort();
    (first, again[again.len() / 2])
}

fn cron(server: &ServerProcess, path: &str) -> Duration {
    let mut conn = Conn::open(server.port, &format!("Bearer {CRON_KEY}"));
    timed(&mut conn, &Req { method: "POST", path: path.into(), body: None })
}

fn scrape(server: &ServerProcess, token: &str) {
    let mut conn = Conn::open(server.port, &format!("Bearer {token}"));
    timed(&mut conn, &Req { method: "GET", path: "/metrics".into(), body: None });
}

fn leads(port: u16) -> bool {
    ureq::get(&format!("http://127.0.0.1:{port}/healthz"))
        .call()
        .ok()
        .and_then(|r| r.into_json::<serde_json::Value>().ok())
        .is_some_and(|h| h["periodicWork"] == true)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a listing; there are no test cases here.
    }
    let n: u32 = std::env::var("BENCH_POSTGRES").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let Some(pg) = bw_tests::postgres::TempPostgres::start() else {
        println!("PostgreSQL is not installed (apt-get install postgresql): nothing to measure");
        return;
    };
    let mut report = Report::default();
    println!("\n== {n} repositories, two servers on one PostgreSQL ==");
    let url = pg.fresh_schema_url();
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path();
    let seeding = Instant::now();
    let (token, _) = bw_bench::seed_store_with(&shared.join("seed"), n, 0, |c| {
        c.server.database_url = Some(bw_api::config::Secret::new(&url));
        c.server.home = Some(shared.join("home"));
        c.ssh.key_mode = bw_api::config::KeyMode::Command;
        c.ssh.key_lookup_dir = Some(shared.join("keys"));
    });
    report.row("seeding the database, no HTTP (not a target)", ms(seeding.elapsed()), "", None);

    let (one, startup) = ServerProcess::start(BIN, shared, &env(shared, &shared.join("data-1"), Some(&url)));
    report.row("server 1: start-up to first answer", ms(startup), "", None);
    let (two, _) = ServerProcess::start(BIN, shared, &env(shared, &shared.join("data-2"), Some(&url)));
    let (built, cached) = list(&one, &token);
    report.row("the list, built (first answer)", ms(built), "", None);
    let status = cron(&one, "/api/v1/cron/status");
    let storage = cron(&one, "/api/v1/cron/storage");
    report.row("status check / storage check", format!("{} / {}", ms(status), ms(storage)), "", None);
    scrape(&one, &token);
    std::thread::sleep(Duration::from_millis(2500));
    for (name, server) in [("server 1", &one), ("server 2", &two)] {
        let _ = list(server, &token);
        scrape(server, &token);
        std::thread::sleep(Duration::from_millis(500));
        let rss = server.rss();
        report.row(
            &format!("{name}: resident memory after list, checks and a scrape"),
            format!("{rss:.1} MiB"),
            "< 64 MiB",
            Some(rss < 64.0),
        );
    }
    for (what, median, p99) in bw_bench::mutations(one.port, &token, 3_000_000, MUTATIONS) {
        report.row(
            &format!("mutation through one server: {what}, median (p99 {p99:.1} ms)"),
            format!("{median:.2} ms"),
            "< 10 ms",
            Some(median < 10.0),
        );
    }

    // A change through one server, seen by the other: 20 creates through server 1, each
    // polled for on server 2 until it answers for it.
    let mut seen: Vec<Duration> = (0..20u32)
        .map(|i| {
            let mut conn = Conn::open(one.port, &format!("Bearer {token}"));
            let body = format!(
                "{{\"alias\":\"seen-{i}\",\"sshPublicKey\":\"{}\",\"storageSize\":10}}",
                bw_bench::key(4_000_000 + i)
            );
            let (status, made) =
                conn.send(&Req { method: "POST", path: "/api/v1/repositories".into(), body: Some(body) });
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&made));
            let t = Instant::now();
            let name = serde_json::from_slice::<serde_json::Value>(&made).unwrap()["repositoryName"]
                .as_str()
                .unwrap()
                .to_string();
            let mut other = Conn::open(two.port, &format!("Bearer {token}"));
            let get = Req { method: "GET", path: format!("/api/v1/repositories/{name}"), body: None };
            while other.send(&get).0 != 200 {
                assert!(t.elapsed() < Duration::from_secs(60), "server 2 never saw {name}");
                std::thread::sleep(Duration::from_millis(2));
            }
            t.elapsed()
        })
        .collect();
    seen.sort();
    report.row(
        &format!("a create through one, seen by the other: median (max {})", ms(seen[seen.len() - 1])),
        ms(seen[seen.len() / 2]),
        "< 1 s",
        Some(seen[seen.len() / 2] < Duration::from_secs(1)),
    );

    // The embedded store, seeded alike, for the list's comparison.
    let embedded = tempfile::tempdir().unwrap();
    let (sled_token, _) = bw_bench::seed_store_with(embedded.path(), n, 0, |c| {
        c.ssh.key_mode = bw_api::config::KeyMode::Command;
        c.ssh.key_lookup_dir = Some(embedded.path().join("keys"));
    });
    let (alone, _) =
        ServerProcess::start(BIN, embedded.path(), &env(embedded.path(), &embedded.path().join("data"), None));
    let (_, sled_cached) = list(&alone, &sled_token);
    alone.stop();
    report.row(
        "the list from the cache, PostgreSQL / embedded (median of 20)",
        format!("{} / {}", ms(cached), ms(sled_cached)),
        "no slower",
        // Within a millisecond: both are the same cached bytes; the rest is the machine's noise.
        Some(cached <= sled_cached + Duration::from_millis(1)),
    );

    // A takeover: the holder killed, the other's /healthz says it runs the periodic work.
    let (holder, other) = if leads(one.port) { (one, two) } else { (two, one) };
    let killed = Instant::now();
    holder.kill();
    while !leads(other.port) {
        assert!(killed.elapsed() < Duration::from_secs(60), "no takeover within 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = killed.elapsed();
    report.row(
        "a takeover: holder killed, the other runs the work",
        ms(took),
        "< 10 s",
        Some(took < Duration::from_secs(10)),
    );
    other.stop();
    report.finish();
}
