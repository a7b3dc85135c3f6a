//! The whole API suite on both stores (#34): this test runs the suite's own binary again with
//! `BW_TEST_STORE=postgres`, every server of it on a schema of its own in a real PostgreSQL
//! started here (`bw_tests::on_the_store_under_test`). Tests of what only the embedded store
//! does say so and pass there (`bw_tests::embedded_store_only`); those that choose their store
//! themselves run once, in the first run.

use bw_tests::postgres::TempPostgres;

#[test]
fn the_api_suite_passes_on_postgres() {
    if bw_tests::on_postgres() {
        return;
    }
    let Some(pg) = TempPostgres::start() else { return };
    let mut suite = std::process::Command::new(std::env::current_exe().unwrap());
    suite.env("BW_TEST_STORE", "postgres").env("BW_TEST_POSTGRES_PORT", pg.port.to_string()).args([
        "--skip",
        "store_postgres::",
        "--skip",
        "several_servers::",
        "--skip",
        "suite_on_postgres::",
    ]);
    // A part of the suite only, while working on it: `BW_TEST_ONLY=repos::`.
    if let Ok(only) = std::env::var("BW_TEST_ONLY") {
        suite.arg(only);
    }
    let out = suite.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: Vec<&str> = stdout.lines().filter(|l| l.starts_with("test result") || l.ends_with("FAILED")).collect();
    println!("{}", summary.join("\n"));
    assert!(
        out.status.success(),
        "the API suite on PostgreSQL failed:\n{}\n{}",
        stdout.lines().filter(|l| !l.ends_with(" ok")).collect::<Vec<_>>().join("\n"),
        String::from_utf8_lossy(&out.stderr).lines().rev().take(60).collect::<Vec<_>>().join("\n")
    );
}
