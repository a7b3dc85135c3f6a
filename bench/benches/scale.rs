//! `cargo bench -p bw-bench --bench scale`: hosting scale. 10,000 and 100,000 repositories
//! seeded straight into the store (no 100,000 HTTP calls), then the real server binary in
//! command key mode: start-up, list, both checks, memory, mutations, and SSH logins against a
//! real sshd in both key modes beside a one-key file. File mode's figures are printed too.
//!
//! `BENCH_SCALE=10000` runs one size only; each size also runs with every repository late at
//! once (`BENCH_SCALE_ALL_LATE=only` runs that alone).

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bw_bench::{key, percentile_ms, timed, Conn, Report, Req, ServerProcess};
use bw_tests::ssh::{self, KeyLookupInstall, Sshd};

const BIN: &str = env!("CARGO_BIN_EXE_borgwarehouse-bench-server");
const CRON_KEY: &str = "bench-cron-key";
const MUTATIONS: u32 = 100;

struct Targets {
    mutation_ms: f64,
    memory_mib: f64,
    status_check: Option<Duration>,
    startup: Option<Duration>,
    login_ratio: Option<f64>,
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// `n` repositories (and a token) in the store and `authorized_keys` (file mode), each with a
/// folder holding an integrity file, as after a first backup: now, or `age` ago.
fn seed_aged(root: &Path, n: u32, age: Duration) -> String {
    let (token, folders) = bw_bench::seed_store(root, n, 0);
    let at = std::time::SystemTime::now() - age;
    for folder in &folders {
        fs::create_dir_all(folder).unwrap();
        let file = fs::File::create(folder.join("integrity.1")).unwrap();
        std::io::Write::write_all(&mut &file, b"x").unwrap();
        file.set_modified(at).unwrap();
    }
    token
}

fn seed(root: &Path, n: u32) -> String {
    seed_aged(root, n, Duration::ZERO)
}

/// Every repository late at once (after an outage, or an import of a host whose clients were
/// down): the status check finds `n` late repositories and alerts about all of them in one
/// alert, which the log of fired alerts keeps (bounded). Same targets as the everyday scenario:
/// the status check and the resident memory after a list, both checks and a scrape.
fn all_late(n: u32, t: &Targets, report: &mut Report) {
    println!("\n== {n} repositories, all late ==");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // Seeded with alert 90,000 s (25 h): a last backup two days ago is late.
    let token = seed_aged(root, n, Duration::from_secs(2 * 86_400));
    let (server, _) = ServerProcess::start(BIN, root, &env(root, true));
    server.stop();
    let (server, _) = ServerProcess::start(BIN, root, &env(root, true));
    std::thread::sleep(Duration::from_millis(200));
    let idle = server.rss();
    let _ = list(&server, &token);
    let after_list = server.rss();
    let status = cron(&server, "/api/v1/cron/status");
    let after_status = server.rss();
    report.row(
        "all late: status check (one alert naming every repository)",
        ms(status),
        &t.status_check.map(|s| format!("< {} ms", s.as_millis())).unwrap_or_default(),
        t.status_check.map(|s| status < s),
    );
    let again = cron(&server, "/api/v1/cron/status");
    report.row("all late: the next status check (alerted already)", ms(again), "", None);
    let _ = cron(&server, "/api/v1/cron/storage");
    let _ = scrape(&server, &token);
    std::thread::sleep(Duration::from_millis(2500));
    let rss = server.rss();
    let (anon, file) = bw_bench::rss_split_mib(server.child.id());
    report.row(
        "all late: resident memory idle / after list / after status (MiB)",
        format!("{idle:.1} / {after_list:.1} / {after_status:.1}"),
        "",
        None,
    );
    report.row("  of which heap and stacks / program pages (MiB)", format!("{anon:.1} / {file:.1}"), "", None);
    report.row(
        "all late: resident memory after list, both checks and a scrape",
        format!("{rss:.1} MiB"),
        &format!("< {:.0} MiB", t.memory_mib),
        Some(rss < t.memory_mib),
    );
    let fired = ureq::get(&format!("http://127.0.0.1:{}/api/v1/alerts?limit=2000", server.port))
        .set("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap()
        .into_json::<serde_json::Value>()
        .unwrap();
    let kept = fired["alerts"].as_array().map_or(0, |a| a.len());
    report.row("all late: fired alerts kept (the log's bound)", format!("{kept}"), "<= 2000", Some(kept <= 2000));
    server.stop();
}

fn env(root: &Path, command_mode: bool) -> Vec<(&'static str, String)> {
    let mut env = vec![("CRONJOB_KEY", CRON_KEY.to_string())];
    if command_mode {
        env.push(("BW_KEY_MODE", "command".into()));
        env.push(("BW_KEY_LOOKUP_DIR", root.join("keys").display().to_string()));
    }
    env
}

fn cron(server: &ServerProcess, path: &str) -> Duration {
    let mut conn = Conn::open(server.port, &format!("Bearer {CRON_KEY}"));
    timed(&mut conn, &Req { method: "POST", path: path.into(), body: None })
}

/// The whole v1 list, plain and gzipped: bytes of each.
fn list(server: &ServerProcess, token: &str) -> (usize, usize) {
    let url = format!("http://127.0.0.1:{}/api/v1/repositories", server.port);
    let mut sizes = [0usize; 2];
    for (i, encoding) in ["identity", "gzip"].into_iter().enumerate() {
        let resp = ureq::get(&url)
            .set("Authorization", &format!("Bearer {token}"))
            .set("Accept-Encoding", encoding)
            .call()
            .unwrap();
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut resp.into_reader(), &mut body).unwrap();
        sizes[i] = body.len();
    }
    (sizes[0], sizes[1])
}

/// One Prometheus scrape of `/metrics`, as Prometheus asks for it: its time and size.
fn scrape(server: &ServerProcess, token: &str) -> (Duration, usize) {
    let start = Instant::now();
    let resp = ureq::get(&format!("http://127.0.0.1:{}/metrics", server.port))
        .set("Authorization", &format!("Bearer {token}"))
        .set("Accept", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
        .call()
        .unwrap();
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut resp.into_reader(), &mut body).unwrap();
    (start.elapsed(), body.len())
}

fn scenario(n: u32, t: &Targets, report: &mut Report) {
    println!("\n== {n} repositories ==");
    import_row(n, report);
    // BENCH_SCALE_KEEP=1 keeps the seeded store and key folder to look into afterwards.
    let mut dir = Some(tempfile::tempdir().unwrap());
    let kept = match std::env::var_os("BENCH_SCALE_KEEP") {
        Some(_) => dir.take().map(|d| d.keep()),
        None => None,
    };
    let root = kept.as_deref().unwrap_or_else(|| dir.as_ref().unwrap().path());
    if let Some(k) = &kept {
        println!("keeping {}", k.display());
    }
    // sshd's AuthorizedKeysCommandUser reads the key folder under this one.
    ssh::open_to_others(root);
    let seeded = Instant::now();
    let token = seed(root, n);
    report.row("seeding the store, no HTTP (not a target)", ms(seeded.elapsed()), "", None);
    let file_mode_keys = root.join("authorized_keys.file-mode");
    fs::copy(root.join("home/.ssh/authorized_keys"), &file_mode_keys).unwrap();

    // File mode, printed for comparison.
    let (server, startup) = ServerProcess::start(BIN, root, &env(root, false));
    report.row("file mode: start-up to first answer", ms(startup), "", None);
    for (what, median, p99) in bw_bench::mutations(server.port, &token, 1_000_000, MUTATIONS) {
        report.row(&format!("file mode: {what}, median (p99 {p99:.1} ms)"), format!("{median:.2} ms"), "", None);
    }
    server.stop();

    // Command mode: the first start writes the key folder; a start after a crash reads it all
    // again; a start after a graceful stop (the everyday one) trusts it.
    let (server, first) = ServerProcess::start(BIN, root, &env(root, true));
    report.row("command mode: first start (writes the key folder)", ms(first), "", None);
    server.kill();
    let (server, after_crash) = ServerProcess::start(BIN, root, &env(root, true));
    report.row("command mode: start-up after a crash (reads the key folder)", ms(after_crash), "", None);
    server.stop();
    let (server, startup) = ServerProcess::start(BIN, root, &env(root, true));
    report.row(
        "command mode: start-up after a graceful stop",
        ms(startup),
        &t.startup.map(|s| format!("< {} s", s.as_secs())).unwrap_or_default(),
        t.startup.map(|s| startup < s),
    );
    std::thread::sleep(Duration::from_millis(200));
    let idle = server.rss();
    let (plain, gzip) = list(&server, &token);
    let after_list = server.rss();
    report.row(
        "list answer, plain / gzip (MB)",
        format!("{:.1} / {:.1}", plain as f64 / 1e6, gzip as f64 / 1e6),
        "",
        None,
    );
    let status = cron(&server, "/api/v1/cron/status");
    report.row(
        "status check",
        ms(status),
        &t.status_check.map(|s| format!("< {} ms", s.as_millis())).unwrap_or_default(),
        t.status_check.map(|s| status < s),
    );
    let after_status = server.rss();
    let storage = cron(&server, "/api/v1/cron/storage");
    let du_start = Instant::now();
    let du = Command::new("du").arg("-s").arg("-L").arg(root.join("home/repos")).output().unwrap();
    assert!(du.status.success());
    report.row(
        "storage check (du -s -L of the pool beside it)",
        format!("{} / {}", ms(storage), ms(du_start.elapsed())),
        "",
        None,
    );
    let (took, size) = scrape(&server, &token);
    report.row("metrics scrape (MB)", format!("{} / {:.1}", ms(took), size as f64 / 1e6), "", None);
    // Steady state: the checks' reader threads end after a second idle.
    std::thread::sleep(Duration::from_millis(2500));
    let rss = server.rss();
    let (anon, file) = bw_bench::rss_split_mib(server.child.id());
    report.row("  of which heap and stacks / program pages (MiB)", format!("{anon:.1} / {file:.1}"), "", None);
    report.row(
        "resident memory idle / after list / after status (MiB)",
        format!("{idle:.1} / {after_list:.1} / {after_status:.1}"),
        "",
        None,
    );
    report.row(
        "resident memory after list, both checks and a metrics scrape",
        format!("{rss:.1} MiB"),
        &format!("< {:.0} MiB", t.memory_mib),
        Some(rss < t.memory_mib),
    );
    lookup_row(root, report);
    for (what, median, p99) in bw_bench::mutations(server.port, &token, 2_000_000, MUTATIONS) {
        report.row(
            &format!("command mode: {what}, median (p99 {p99:.1} ms)"),
            format!("{median:.2} ms"),
            &format!("< {:.0} ms", t.mutation_ms),
            Some(median < t.mutation_ms),
        );
    }
    if let Some(ratio) = t.login_ratio {
        logins(root, &server, &token, &file_mode_keys, ratio, report);
    }
    server.stop();
}

/// `borgwarehouse key-lookup` as sshd runs it (a new process each time), for a seeded key.
fn lookup_row(root: &Path, report: &mut Report) {
    let seeded = key(7);
    let b64 = seeded.split(' ').nth(1).unwrap();
    let dir = root.join("keys");
    let mut times = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        let out = Command::new(BIN)
            .args(["key-lookup", "--dir", dir.to_str().unwrap(), "--user", "borg", "borg", "ssh-ed25519", b64])
            .output()
            .unwrap();
        times.push(t.elapsed().as_micros() as u64);
        assert!(String::from_utf8_lossy(&out.stdout).contains(b64), "the lookup did not find a seeded key");
    }
    times.sort_unstable();
    let median = percentile_ms(&times, 0.5);
    report.row("key-lookup, one process, median", format!("{median:.1} ms"), "< 5 ms", Some(median < 5.0));
}

/// `borgwarehouse import-borgwarehouse repo.json` of `n` repositories into a new data folder.
fn import_row(n: u32, report: &mut Report) {
    let dir = tempfile::tempdir().unwrap();
    let entries: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            serde_json::json!({
                "id": i + 1, "alias": format!("client-{i}"),
                // A bijection of u32: distinct names.
                "repositoryName": format!("{:08x}", i.wrapping_mul(0x9E37_79B1)),
                "status": true, "lastSave": 1_700_000_000, "lastStatusAlertSend": null, "alert": 90000,
                "storageSize": 100, "storageUsed": 1234, "sshPublicKey": key(3_000_000 + i),
                "comment": "from BorgWarehouse", "displayDetails": true, "lanCommand": false, "appendOnlyMode": false
            })
        })
        .collect();
    let file = dir.path().join("repo.json");
    fs::write(&file, serde_json::to_vec(&entries).unwrap()).unwrap();
    let t = Instant::now();
    let out = Command::new(BIN)
        .env("BW_DATA_DIR", dir.path().join("data"))
        .env("BW_HOME", dir.path().join("home"))
        .env("RUST_LOG", "warn")
        .arg("import-borgwarehouse")
        .arg(&file)
        .output()
        .unwrap();
    let took = t.elapsed();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let target = if n >= 100_000 { Some(Duration::from_secs(10)) } else { None };
    report.row(
        "import-borgwarehouse of repo.json (file mode)",
        ms(took),
        &target.map(|t| format!("< {} s", t.as_secs())).unwrap_or_default(),
        target.map(|t| took < t),
    );
}

/// SSH login time (`ssh -i KEY user@127.0.0.1 true`, the forced `borg serve` included) with a
/// real sshd: one-key file, command mode over every repository, file mode over every line.
fn logins(root: &Path, server: &ServerProcess, token: &str, file_mode_keys: &Path, ratio: f64, report: &mut Report) {
    let Some(tools) = ssh::tools() else { return };
    let Some(lookup) = KeyLookupInstall::install(Path::new(BIN)) else { return };
    let client = ssh::keygen(root, "login");
    let body = format!("{{\"alias\":\"login\",\"sshPublicKey\":\"{}\",\"storageSize\":1}}", client.public);
    let mut conn = Conn::open(server.port, &format!("Bearer {token}"));
    let (status, answer) = conn.send(&Req { method: "POST", path: "/api/v1/repositories".into(), body: Some(body) });
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let key_dir = root.join("keys");
    let line = String::from_utf8(
        Command::new(&lookup.program)
            .args(["key-lookup", "--dir", key_dir.to_str().unwrap(), "--user", &tools.user, &tools.user, "ssh-ed25519"])
            .arg(client.public.split(' ').nth(1).unwrap())
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(line.contains("borg serve"), "the lookup did not answer: {line:?}");
    // Homes for sshd: one line; every line (the newest repository last, as a create appends);
    // command mode's own (no line of ours in the file).
    let one = root.join("login-one");
    let all = root.join("login-file");
    fs::create_dir_all(one.join(".ssh")).unwrap();
    fs::create_dir_all(all.join(".ssh")).unwrap();
    fs::write(one.join(".ssh/authorized_keys"), &line).unwrap();
    let mut every = fs::read(file_mode_keys).unwrap();
    every.extend_from_slice(line.as_bytes());
    fs::write(all.join(".ssh/authorized_keys"), &every).unwrap();
    let sshd_one = Sshd::start_with(&tools, root, &one, "sshd-one", "");
    let sshd_file = Sshd::start_with(&tools, root, &all, "sshd-file", "");
    let sshd_command =
        Sshd::start_with(&tools, root, &root.join("home"), "sshd-command", &lookup.sshd_lines(&key_dir, &tools.user));
    let (mut t_one, mut t_file, mut t_command) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..15 {
        for (sshd, times) in [(&sshd_one, &mut t_one), (&sshd_command, &mut t_command), (&sshd_file, &mut t_file)] {
            let t = Instant::now();
            let out = sshd.ssh(&client, "true");
            times.push(t.elapsed().as_micros() as u64);
            assert!(!String::from_utf8_lossy(&out.stderr).contains("Permission denied"), "login refused");
        }
    }
    let median = |mut v: Vec<u64>| {
        v.sort_unstable();
        percentile_ms(&v, 0.5)
    };
    let (one_ms, command_ms, file_ms) = (median(t_one), median(t_command), median(t_file));
    let lines = every.iter().filter(|b| **b == b'\n').count();
    report.row("SSH login, one-key file", format!("{one_ms:.0} ms"), "", None);
    report.row(&format!("SSH login, file mode ({lines} lines)"), format!("{file_ms:.0} ms"), "", None);
    let r = command_ms / one_ms;
    report.row(
        "SSH login, command mode / one-key file",
        format!("{command_ms:.0} ms, {r:.2}x"),
        &format!("<= {ratio:.1}x"),
        Some(r <= ratio),
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a listing; there are no test cases here.
    }
    let only: Option<u32> = std::env::var("BENCH_SCALE").ok().and_then(|v| v.parse().ok());
    let mut report = Report::default();
    let sizes = [
        (10_000, Targets { mutation_ms: 3.0, memory_mib: 20.0, status_check: None, startup: None, login_ratio: None }),
        (
            100_000,
            Targets {
                mutation_ms: 5.0,
                memory_mib: 64.0,
                status_check: Some(Duration::from_secs(1)),
                startup: Some(Duration::from_secs(2)),
                login_ratio: Some(1.2),
            },
        ),
    ];
    // BENCH_SCALE_ALL_LATE=only runs the all-late scenario alone.
    let all_late_only = std::env::var("BENCH_SCALE_ALL_LATE").is_ok_and(|v| v == "only");
    for (n, targets) in sizes {
        if only.is_none_or(|o| o == n) {
            if !all_late_only {
                scenario(n, &targets, &mut report);
            }
            all_late(n, &targets, &mut report);
        }
    }
    report.finish();
}
