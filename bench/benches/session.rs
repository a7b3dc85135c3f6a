//! `cargo bench -p bw-bench --bench session`: what sessions cost.
//!
//! - A client's session: `borg serve` run under the recorder against run directly, the
//!   difference in the time a session takes (target: a few milliseconds at most).
//! - The server's side, at `BENCH_SCALE` repositories (default 10,000): the first start with
//!   sessions on (every line rewritten to run under the recorder), and how fast a burst of
//!   1,000 ended sessions is taken in (each one reads only its repository's folder).

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bw_bench::{Report, ServerProcess};
use bw_host::session_spool::{drop_record, SessionRecord};

const BIN: &str = env!("CARGO_BIN_EXE_borgwarehouse-bench-server");

/// Median and 99th percentile of `runs` runs of `cmd`, in ms.
fn spawn_times(runs: usize, mut cmd: impl FnMut() -> Command) -> (f64, f64) {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let status = cmd().stdin(Stdio::null()).stdout(Stdio::null()).status().unwrap();
            assert!(status.success());
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[runs / 2], times[runs * 99 / 100])
}

/// The ended sessions' records in `spool` (it also holds `active/`, where live sessions are
/// marked).
fn records(spool: &Path) -> usize {
    fs::read_dir(spool).unwrap().flatten().filter(|e| e.path().extension().is_some_and(|x| x == "session")).count()
}

fn recorder_row(root: &Path, report: &mut Report) {
    let spool = root.join("recorder-spool");
    fs::create_dir_all(&spool).unwrap();
    let runs = 400;
    let (direct, _) = spawn_times(runs, || Command::new("/bin/true"));
    let (recorded, p99) = spawn_times(runs, || {
        let mut c = Command::new(BIN);
        c.args(["session", "--spool", spool.to_str().unwrap(), "--repository", "aaaaaaaa", "--key", "k", "--"]);
        c.arg("/bin/true");
        c
    });
    assert_eq!(records(&spool), runs, "a record per session");
    let extra = recorded - direct;
    report.row(
        &format!("session recorder: added to a session, median (p99 {:.1} ms)", p99 - direct),
        format!("{extra:.2} ms"),
        "< 5 ms",
        Some(extra < 5.0),
    );
}

fn server_rows(root: &Path, n: u32, report: &mut Report) {
    let (token, folders) = bw_bench::seed_store(root, n, 0);
    for folder in &folders {
        fs::create_dir_all(folder).unwrap();
        fs::write(folder.join("integrity.1"), b"x").unwrap();
    }
    let spool = root.join("spool");
    let env = [
        ("BW_SESSIONS", "true".to_string()),
        ("BW_SESSION_PROGRAM", BIN.to_string()),
        ("BW_SESSION_SPOOL", spool.display().to_string()),
        ("BW_SESSION_INTERVAL", "1s".to_string()),
    ];
    let (server, first) = ServerProcess::start(BIN, root, &env);
    report.row(
        &format!("sessions on: first start (rewrites {n} lines)"),
        format!("{} ms", first.as_millis()),
        "",
        None,
    );
    let burst = 1000.min(folders.len());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    for folder in folders.iter().take(burst) {
        let name = folder.file_name().unwrap().to_str().unwrap();
        let record = SessionRecord {
            repository: name.into(),
            key: "k".into(),
            started_at: now - 60,
            ended_at: now,
            exit_code: 0,
            client: "192.0.2.1 1 22".into(),
            wrote: Some(true),
        };
        drop_record(&spool, &record).unwrap();
    }
    let t = Instant::now();
    while records(&spool) > 0 {
        assert!(t.elapsed() < Duration::from_secs(120), "the spool was not taken in");
        std::thread::sleep(Duration::from_millis(5));
    }
    // The wait includes up to one interval (1 s) before the first read.
    let took = t.elapsed();
    report.row(
        &format!("{burst} ended sessions taken in (at most 1 s of it waiting)"),
        format!("{} ms", took.as_millis()),
        "< 10 s",
        Some(took < Duration::from_secs(10)),
    );
    let name = folders[0].file_name().unwrap().to_str().unwrap();
    let url = format!("http://127.0.0.1:{}/api/v1/repositories/{name}/sessions", server.port);
    let body: serde_json::Value =
        ureq::get(&url).set("Authorization", &format!("Bearer {token}")).call().unwrap().into_json().unwrap();
    assert_eq!(body["sessions"].as_array().unwrap().len(), 1, "{body}");
    report.row("resident memory after the burst (MiB)", format!("{:.1}", server.rss()), "", None);
    latency_row(&server, &token, &folders, &spool, &root.join("data").join("checks"), report);
    server.stop();
}

/// From a backup's end (the recorder's record in the spool) to its `lastSave` in the API, one
/// session at a time on repositories outside the burst: what a client or a dashboard waits.
///
/// And what each such backup writes of the checks' figures (`DATA_DIR/checks/`): the pages
/// rewritten, against all of them (one value of every repository's figures, rewritten whole
/// for each session, before they were pages).
fn latency_row(
    server: &ServerProcess,
    token: &str,
    folders: &[std::path::PathBuf],
    spool: &Path,
    pages: &Path,
    report: &mut Report,
) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let mut times: Vec<Duration> = Vec::new();
    // Each page's size and when it was written.
    let page_files = || -> std::collections::BTreeMap<std::path::PathBuf, (u64, std::time::SystemTime)> {
        fs::read_dir(pages)
            .unwrap()
            .flatten()
            .filter_map(|e| e.metadata().ok().map(|m| (e.path(), (m.len(), m.modified().unwrap()))))
            .collect()
    };
    let mut written: Vec<u64> = Vec::new();
    for (i, folder) in folders.iter().rev().take(20).enumerate() {
        let name = folder.file_name().unwrap().to_str().unwrap();
        // A backup that ended at a second of its own, as its integrity file says.
        let ended = now + 100 + i as i64;
        let file = fs::File::options().write(true).open(folder.join("integrity.1")).unwrap();
        file.set_modified(std::time::UNIX_EPOCH + Duration::from_secs(ended as u64)).unwrap();
        let record = SessionRecord {
            repository: name.into(),
            key: "k".into(),
            started_at: ended - 30,
            ended_at: ended,
            exit_code: 0,
            client: "192.0.2.1 1 22".into(),
            wrote: Some(true),
        };
        let url = format!("http://127.0.0.1:{}/api/v1/repositories/{name}", server.port);
        let before = page_files();
        drop_record(spool, &record).unwrap();
        let t = Instant::now();
        loop {
            let body: serde_json::Value =
                ureq::get(&url).set("Authorization", &format!("Bearer {token}")).call().unwrap().into_json().unwrap();
            if body["repo"]["lastSave"] == ended {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(30), "lastSave never followed the session: {body}");
            std::thread::sleep(Duration::from_millis(10));
        }
        times.push(t.elapsed());
        // lastSave is answered from memory before the pages are saved: wait for the save.
        let t = Instant::now();
        let changed = loop {
            let after = page_files();
            let changed: u64 = after
                .iter()
                .filter(|(path, (_, at))| before.get(*path).is_none_or(|(_, was)| was != at))
                .map(|(_, (len, _))| len)
                .sum();
            if changed > 0 || t.elapsed() > Duration::from_secs(5) {
                break changed;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        written.push(changed);
    }
    written.sort();
    let all: u64 = page_files().values().map(|(len, _)| len).sum();
    let per_session = written[written.len() / 2];
    report.row(
        &format!("checks' figures written per backup taken in, median (all of them: {} KiB)", all / 1024),
        format!("{:.1} KiB", per_session as f64 / 1024.0),
        "< 1/16 of all",
        Some(per_session > 0 && per_session * 16 < all),
    );
    times.sort();
    let (median, max) = (times[times.len() / 2], times[times.len() - 1]);
    report.row(
        &format!("backup's end to its lastSave in the API (interval 1 s), median (max {} ms)", max.as_millis()),
        format!("{} ms", median.as_millis()),
        "< 5 s",
        Some(max < Duration::from_secs(5)),
    );
}

fn main() {
    let n: u32 = std::env::var("BENCH_SCALE").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let mut report = Report::default();
    let dir = tempfile::tempdir().unwrap();
    println!("== sessions ({n} repositories) ==");
    recorder_row(dir.path(), &mut report);
    server_rows(dir.path(), n, &mut report);
    report.finish();
}
