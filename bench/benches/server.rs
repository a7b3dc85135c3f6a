//! `cargo bench -p bw-bench`: each figure beside its target, against the real server binary,
//! with the load generator on the same host (so both share the machine's cores).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bw_bench::{run_load, seed_store, timed, Conn, Load, Report, Req, ServerProcess};

const BIN: &str = env!("CARGO_BIN_EXE_borgwarehouse-bench-server");
const LOAD_TIME: Duration = Duration::from_secs(4);
const CONNECTIONS: usize = 8;
const CRON_KEY: &str = "bench-cron-key";

fn rss_row(rows: &mut Report, what: &str, server: &ServerProcess) {
    let rss = server.rss();
    rows.row(what, format!("{rss:.1} MiB"), "< 40 MiB", Some(rss < 40.0));
}

/// A throughput row (met when at least `min_rate` and no error), then its latencies.
fn load_row(rows: &mut Report, what: &str, l: &Load, min_rate: Option<f64>) {
    let rate = l.per_second();
    let target = min_rate.map(|m| format!(">= {m:.0} req/s")).unwrap_or_default();
    rows.row(what, format!("{rate:.0} req/s"), &target, min_rate.map(|m| rate >= m && l.errors == 0));
    latency_line(l);
}

fn latency_line(l: &Load) {
    println!(
        "{:<58} {:>16}",
        "  latency median / p99",
        format!("{:.2} / {:.2} ms", l.percentile_ms(0.5), l.percentile_ms(0.99))
    );
}

/// The server binary as a process, with its data folder and borg home under `root`.
struct Server;

impl Server {
    fn start(root: &Path) -> (ServerProcess, Duration) {
        ServerProcess::start(BIN, root, &[("CRONJOB_KEY", CRON_KEY.to_string())])
    }
}

fn get(path: String) -> Req {
    Req { method: "GET", path, body: None }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    format!("{cores} cores, {cpu}")
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a listing; there are no test cases here.
    }
    println!("machine: {}", machine());
    let mut rows = Report::default();

    // 1,000 repositories: reads.
    {
        let dir = tempfile::tempdir().unwrap();
        let (token, _) = seed_store(dir.path(), 1_000, 0);
        let auth = format!("Bearer {token}");
        let (server, _) = Server::start(dir.path());
        std::thread::sleep(Duration::from_millis(300));
        rss_row(&mut rows, "resident memory, idle (1,000 repositories)", &server);
        let l = run_load(server.port, &auth, CONNECTIONS, LOAD_TIME, |_, _| get("/api/version".into()));
        load_row(&mut rows, "GET /api/version", &l, Some(30_000.0));
        let l = run_load(server.port, &auth, CONNECTIONS, LOAD_TIME, |_, _| get("/api/repo".into()));
        load_row(&mut rows, "GET /api/repo, 1,000 repositories", &l, Some(2_000.0));
        // The v1 list as 3.x clients read it (no gzip): without `keys`, as the contract says.
        let l = run_load(server.port, &auth, CONNECTIONS, LOAD_TIME, |_, _| get("/api/v1/repositories".into()));
        load_row(&mut rows, "GET /api/v1/repositories, 1,000 repositories", &l, Some(5_000.0));
        let l =
            run_load(
                server.port,
                &auth,
                CONNECTIONS,
                LOAD_TIME,
                |_, _| get("/api/v1/repositories?include=keys".into()),
            );
        load_row(&mut rows, "GET /api/v1/repositories?include=keys, 1,000", &l, None);
        rss_row(&mut rows, "resident memory after the list load", &server);
        let l = run_load(server.port, &auth, CONNECTIONS, LOAD_TIME, |c, n| {
            get(format!("/api/repo/id/{}", (c * 7919 + n * 31) % 1000))
        });
        load_row(&mut rows, "GET /api/repo/id/{id}", &l, None);
        let l = run_load(server.port, &auth, CONNECTIONS, LOAD_TIME, |c, n| {
            if n % 10 == 9 {
                Req {
                    method: "PATCH",
                    path: format!("/api/repo/id/{}/edit", (c * 131 + n) % 1000),
                    body: Some(format!("{{\"comment\":\"edit {n}\"}}")),
                }
            } else {
                get("/api/repo".into())
            }
        });
        rows.row(
            "mix 90% list / 10% edit, 1,000 repositories",
            format!("{:.0} req/s", l.per_second()),
            "",
            Some(l.errors == 0),
        );
        latency_line(&l);
    }

    // 10,000 repositories: start-up, list, mutations, status check.
    {
        let dir = tempfile::tempdir().unwrap();
        let (token, folders) = seed_store(dir.path(), 10_000, 100_000);
        let auth = format!("Bearer {token}");
        // Each repository has a folder with an integrity file, as after a first backup.
        for folder in &folders {
            std::fs::create_dir_all(folder).unwrap();
            std::fs::write(folder.join("integrity.1"), b"x").unwrap();
        }
        let (server, startup) = Server::start(dir.path());
        rows.row(
            "start-up to first answer, 10,000 repositories",
            format!("{:.0} ms", startup.as_secs_f64() * 1000.0),
            "",
            None,
        );
        let l = run_load(server.port, &auth, CONNECTIONS, LOAD_TIME, |_, _| get("/api/repo".into()));
        rows.row("GET /api/repo, 10,000 repositories", format!("{:.0} req/s", l.per_second()), "", Some(l.errors == 0));
        latency_line(&l);
        rss_row(&mut rows, "resident memory after 10,000-repository list load", &server);

        for (what, m, p) in bw_bench::mutations(server.port, &token, 900_000, 200) {
            rows.row(
                &format!("{what} at 10,000 repositories, median (p99 {p:.1} ms)"),
                format!("{m:.2} ms"),
                "< 20 ms",
                Some(m < 20.0),
            );
        }

        let mut cron = Conn::open(server.port, &format!("Bearer {CRON_KEY}"));
        let t = timed(&mut cron, &Req { method: "POST", path: "/api/cronjob/checkStatus".into(), body: None });
        rows.row(
            "status check over 10,000 repositories",
            format!("{:.0} ms", t.as_secs_f64() * 1000.0),
            "< 1,000 ms",
            Some(t < Duration::from_secs(1)),
        );
        rss_row(&mut rows, "resident memory after the status check", &server);
    }

    // 10,000 repositories of 10 files each: the storage check against du -s -L.
    {
        let dir = tempfile::tempdir().unwrap();
        let (_, seeded) = seed_store(dir.path(), 10_000, 200_000);
        let pool = dir.path().join("home/repos");
        let mut folders = Vec::new();
        for path in seeded {
            std::fs::create_dir_all(path.join("data/0")).unwrap();
            for f in 0..10 {
                std::fs::write(path.join(format!("data/0/{f}")), vec![1u8; 1000 + f * 400]).unwrap();
            }
            folders.push(path);
        }
        let (server, _) = Server::start(dir.path());
        let mut cron = Conn::open(server.port, &format!("Bearer {CRON_KEY}"));
        // Warm the page cache once for both, then time each.
        let _ = Command::new("du").arg("-s").arg("-L").args(&folders).output().unwrap();
        let t = timed(&mut cron, &Req { method: "POST", path: "/api/cronjob/getStorageUsed".into(), body: None });
        let du_start = Instant::now();
        let out = Command::new("du").arg("-s").arg("-L").args(&folders).output().unwrap();
        let du_time = du_start.elapsed();
        assert!(out.status.success());
        let ratio = t.as_secs_f64() / du_time.as_secs_f64();
        rows.row(
            "storage check, 10,000 repositories x 10 files",
            format!("{:.0} ms", t.as_secs_f64() * 1000.0),
            "",
            None,
        );
        rows.row("du -s -L over the same pool", format!("{:.0} ms", du_time.as_secs_f64() * 1000.0), "", None);
        rows.row("storage check / du time", format!("{ratio:.2}x"), "<= 1.00x", Some(ratio <= 1.0));
        rss_row(&mut rows, "resident memory after the storage check", &server);
        drop(pool);
    }

    rows.finish();
}
