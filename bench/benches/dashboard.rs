//! `cargo bench -p bw-bench --bench dashboard`: the dashboard at 10,000 repositories in a real
//! browser (tests/clients/dashboard_bench.py: Playwright with Debian's Chromium), against the
//! release server binary with the repositories seeded straight into its store. Targets of the
//! dashboard issue: sign-in to the table under 1 s, a search or a sort under 200 ms in the
//! page, and no request per row.
//!
//! `BENCH_DASHBOARD=100000` runs another size. Without Playwright or Chromium it says so and
//! measures nothing.

use std::path::PathBuf;
use std::process::Command;

use bw_bench::{Report, ServerProcess};

const BIN: &str = env!("CARGO_BIN_EXE_borgwarehouse-bench-server");
const PASSWORD: &str = "bench dashboard password";

fn figure<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("figure {name} ")))
        .unwrap_or_else(|| panic!("no figure {name} in:\n{out}"))
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a listing; there are no test cases here.
    }
    let n: u32 = std::env::var("BENCH_DASHBOARD").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let (Some(playwright), Some(chromium)) = (bw_tests::which("playwright"), bw_tests::which("chromium")) else {
        println!("SKIPPED the dashboard bench: needs playwright (PyPI) and chromium (Debian) on PATH");
        return;
    };
    let python = playwright.parent().map(|d| d.join("python3")).filter(|p| p.is_file()).unwrap_or("python3".into());
    let mut report = Report::default();
    println!("\n== the dashboard at {n} repositories ==");
    let dir = tempfile::tempdir().unwrap();
    bw_bench::seed_store(dir.path(), n, 0);
    // Sessions off: the page is measured, not the rewrite of 10,000 lines at the first start.
    let env = [("BW_ADMIN_PASSWORD", PASSWORD.to_string()), ("BW_SESSIONS", "false".to_string())];
    let (server, _) = ServerProcess::start(BIN, dir.path(), &env);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/clients/dashboard_bench.py");
    let out = Command::new(python)
        .arg(script)
        .env("BW_URL", format!("http://127.0.0.1:{}", server.port))
        .env("BW_ADMIN_PASSWORD", PASSWORD)
        .env("CHROMIUM", chromium)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let number = |name: &str| figure(&text, name).parse::<f64>().unwrap();
    println!("the page says: {}", figure(&text, "summary"));
    // The targets are for 10,000 repositories; other sizes print their figures only.
    let judged = |met: bool| (n <= 10_000).then_some(met);
    let signin = number("signin_median_ms");
    report.row(
        "sign-in to the table drawn, median of 5 (max)",
        format!("{signin:.0} ms ({:.0})", number("signin_max_ms")),
        "< 1000 ms",
        judged(number("signin_max_ms") < 1000.0),
    );
    report.row(
        "a search, in the page, median (max)",
        format!("{:.1} ms ({:.1})", number("search_median_ms"), number("search_max_ms")),
        "< 200 ms",
        judged(number("search_max_ms") < 200.0),
    );
    report.row(
        "a sort, in the page, median (max)",
        format!("{:.1} ms ({:.1})", number("sort_median_ms"), number("sort_max_ms")),
        "< 200 ms",
        judged(number("sort_max_ms") < 200.0),
    );
    let paths = figure(&text, "api_paths");
    let per_row = paths.contains("/api/v1/repositories/");
    report.row(
        &format!("API requests from sign-in to table: {paths}"),
        format!("{:.0}", number("api_requests")),
        "none per row",
        Some(!per_row),
    );
    server.stop();
    report.finish();
}
