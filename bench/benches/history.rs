//! `cargo bench -p bw-bench --bench history`: the history at 100,000 repositories with 30 days
//! of daily points each (3,000,000 points), seeded straight into the store: the disk it takes
//! (and, from the cost of a point, what 5 years would take), a fold, the real server's status
//! check and memory with it, and the history routes' answers.
//!
//! `BENCH_HISTORY=10000` runs another size.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bw_bench::{percentile_ms, Conn, Report, Req, ServerProcess};
use bw_store::history::HostPoint;

const BIN: &str = env!("CARGO_BIN_EXE_borgwarehouse-bench-server");
const CRON_KEY: &str = "bench-cron-key";
const DAYS: i64 = 30;
/// Points a repository keeps after 5 years at two check runs an hour: 96 in the last 48 hours,
/// about 398 daily and 204 weekly ones.
const POINTS_AFTER_5_YEARS: u64 = 96 + 398 + 204;

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// KiB used by `path`, as `du -s` counts them.
fn du_kib(path: &Path) -> u64 {
    let out = Command::new("du").arg("-s").arg("-k").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().parse().unwrap()
}

fn get_ms(conn: &mut Conn, path: String) -> u64 {
    let t = Instant::now();
    let (status, _) = conn.send(&Req { method: "GET", path, body: None });
    assert_eq!(status, 200);
    t.elapsed().as_micros() as u64
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a listing; there are no test cases here.
    }
    let n: u32 = std::env::var("BENCH_HISTORY").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let mut report = Report::default();
    println!("\n== {n} repositories, {DAYS} days of daily points ==");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (token, folders) = bw_bench::seed_store(root, n, 0);
    for folder in &folders {
        std::fs::create_dir_all(folder).unwrap();
        std::fs::write(folder.join("integrity.1"), b"x").unwrap();
    }
    // The store and the run files beside it.
    let db = root.join("data");
    let before = du_kib(&db);

    // 30 days of points, one check run a day, written as the checks write them: one batch a run.
    let now = bw_store::clock::Clock::system().now();
    let state = bw_api::AppState::open(bw_bench::bench_config(root), bw_store::clock::Clock::system()).unwrap();
    let ids: Vec<u64> = {
        let mut ids = Vec::with_capacity(n as usize);
        state.repos.summaries(now, |s| ids.push(s.id));
        ids
    };
    let t = Instant::now();
    for day in 0..DAYS {
        let at = now - (DAYS - day) * 86_400;
        let points: Vec<(u64, u64, i64)> =
            ids.iter().map(|&id| (id, 1_000_000 + day as u64 * 10_000 + id % 977, at - 3600)).collect();
        let host = HostPoint { at, storage_used: points.iter().map(|p| p.1).sum(), repositories: n as u64, late: 0 };
        state.history.record(at, &points, Some(host)).unwrap();
    }
    let seeded = t.elapsed();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(state.flush()).unwrap();
    let points = n as u64 * DAYS as u64;
    report.row(
        &format!("writing {points} points, one batch per run of {n}"),
        format!("{} ({} per run)", ms(seeded), ms(seeded / DAYS as u32)),
        "",
        None,
    );
    let t = Instant::now();
    let first = state.history.fold(0, now).unwrap();
    report.row(&format!("first fold, every point read ({} read)", first.read), ms(t.elapsed()), "", None);
    let t = Instant::now();
    let hourly = state.history.fold(now - 3600, now).unwrap();
    report.row(&format!("an hourly fold ({} points read)", hourly.read), ms(t.elapsed()), "", None);
    drop(state);
    let after = du_kib(&db);
    let per_point = (after.saturating_sub(before)) as f64 * 1024.0 / points as f64;
    report.row(
        "data folder on disk before / after the points (MiB)",
        format!("{:.0} / {:.0}", before as f64 / 1024.0, after as f64 / 1024.0),
        "",
        None,
    );
    report.row("disk per point (bytes)", format!("{per_point:.0}"), "", None);
    let five_years = per_point * POINTS_AFTER_5_YEARS as f64;
    report.row(
        &format!("5 years of points per repository ({POINTS_AFTER_5_YEARS} points), and at 100,000"),
        format!("{:.0} KiB, {:.1} GiB", five_years / 1024.0, five_years * 100_000.0 / (1u64 << 30) as f64),
        "",
        None,
    );

    // The real server on that store, in command key mode as the scale bench measures memory
    // (its first start writes the key folder; the everyday start is after a graceful stop).
    let env = [
        ("CRONJOB_KEY", CRON_KEY.to_string()),
        ("BW_SESSIONS", "false".to_string()),
        ("BW_KEY_MODE", "command".to_string()),
        ("BW_KEY_LOOKUP_DIR", root.join("keys").display().to_string()),
    ];
    let (first, _) = ServerProcess::start(BIN, root, &env);
    first.stop();
    let (server, startup) = ServerProcess::start(BIN, root, &env);
    report.row("start-up to first answer", ms(startup), "", None);
    std::thread::sleep(Duration::from_millis(200));
    let idle = server.rss();
    let mut cron = Conn::open(server.port, &format!("Bearer {CRON_KEY}"));
    let status = bw_bench::timed(&mut cron, &Req { method: "POST", path: "/api/v1/cron/status".into(), body: None });
    report.row("status check, with its history write", ms(status), "< 1000 ms", Some(status < Duration::from_secs(1)));
    let storage = bw_bench::timed(&mut cron, &Req { method: "POST", path: "/api/v1/cron/storage".into(), body: None });
    report.row("storage check, with its history write", ms(storage), "", None);
    let after_checks = server.rss();
    // A list and a scrape, as the scale bench's memory target has them.
    for path in ["/api/v1/repositories", "/metrics"] {
        let resp = ureq::get(&format!("http://127.0.0.1:{}{path}", server.port))
            .set("Authorization", &format!("Bearer {token}"))
            .call()
            .unwrap();
        std::io::copy(&mut resp.into_reader(), &mut std::io::sink()).unwrap();
    }
    // Steady state: the checks' reader threads and the background fold end within seconds.
    std::thread::sleep(Duration::from_millis(3000));
    let rss = server.rss();
    report.row("resident memory idle / after both checks (MiB)", format!("{idle:.1} / {after_checks:.1}"), "", None);
    report.row(
        "resident memory after both checks, a list and a scrape",
        format!("{rss:.1} MiB"),
        "< 64 MiB",
        Some(rss < 64.0),
    );
    let mut conn = Conn::open(server.port, &format!("Bearer {token}"));

    let names: Vec<String> = folders.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
    let mut times: Vec<u64> = (0..300)
        .map(|i| get_ms(&mut conn, format!("/api/v1/repositories/{}/history", names[(i * 7919) % names.len()])))
        .collect();
    times.sort_unstable();
    let (median, p99) = (percentile_ms(&times, 0.5), percentile_ms(&times, 0.99));
    report.row(
        &format!("a repository's history, {} points, median (p99 {p99:.1} ms)", DAYS + 2),
        format!("{median:.2} ms"),
        "< 10 ms",
        Some(median < 10.0),
    );
    let mut times: Vec<u64> = (0..20).map(|_| get_ms(&mut conn, "/api/v1/history".into())).collect();
    times.sort_unstable();
    let (median, p99) = (percentile_ms(&times, 0.5), percentile_ms(&times, 0.99));
    report.row(
        &format!("the host's history, median (p99 {p99:.1} ms)"),
        format!("{median:.2} ms"),
        "< 200 ms",
        Some(median < 200.0),
    );

    std::thread::sleep(Duration::from_millis(1000));
    let (anon, file) = bw_bench::rss_split_mib(server.child.id());
    report.row(
        "resident memory after 320 history answers: heap / program (MiB)",
        format!("{:.1}: {anon:.1} / {file:.1}", server.rss()),
        "",
        None,
    );
    server.stop();
    report.row(
        "data folder on disk after the server's two runs (MiB)",
        format!("{:.0}", du_kib(&db) as f64 / 1024.0),
        "",
        None,
    );
    report.finish();
}
