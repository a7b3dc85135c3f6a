//! A small closed-loop HTTP load generator (keep-alive connections, one thread each) and
//! process helpers for the bench.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Latencies and throughput of one scenario.
pub struct Load {
    pub requests: usize,
    pub errors: usize,
    pub elapsed: Duration,
    pub latencies_us: Vec<u64>,
}

impl Load {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    pub fn percentile_ms(&self, p: f64) -> f64 {
        percentile_ms(&self.latencies_us, p)
    }
}

pub fn percentile_ms(sorted_us: &[u64], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted_us.len() as f64 - 1.0) * p).round() as usize;
    sorted_us[i] as f64 / 1000.0
}

/// A request the generator sends: method, path, body.
#[derive(Clone)]
pub struct Req {
    pub method: &'static str,
    pub path: String,
    pub body: Option<String>,
}

pub struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    auth: String,
}

impl Conn {
    pub fn open(port: u16, auth: &str) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_nodelay(true).unwrap();
        Conn { reader: BufReader::new(s.try_clone().unwrap()), writer: s, auth: auth.to_string() }
    }

    /// Sends one request and reads the whole answer; returns the status and body.
    pub fn send(&mut self, req: &Req) -> (u16, Vec<u8>) {
        let mut head =
            format!("{} {} HTTP/1.1\r\nHost: bench\r\nAuthorization: {}\r\n", req.method, req.path, self.auth);
        if let Some(b) = &req.body {
            head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", b.len()));
        }
        head.push_str("\r\n");
        if let Some(b) = &req.body {
            head.push_str(b);
        }
        self.writer.write_all(head.as_bytes()).unwrap();
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let status: u16 = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut length = 0usize;
        loop {
            line.clear();
            self.reader.read_line(&mut line).unwrap();
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; length];
        self.reader.read_exact(&mut body).unwrap();
        (status, body)
    }
}

/// Runs `connections` closed loops for `duration`, each picking its next request with `next`.
pub fn run_load(
    port: u16,
    auth: &str,
    connections: usize,
    duration: Duration,
    next: impl Fn(usize, usize) -> Req + Sync,
) -> Load {
    let start = Instant::now();
    let results: Vec<(usize, usize, Vec<u64>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..connections)
            .map(|c| {
                let next = &next;
                scope.spawn(move || {
                    let mut conn = Conn::open(port, auth);
                    let (mut n, mut errors, mut lat) = (0usize, 0usize, Vec::new());
                    while start.elapsed() < duration {
                        let req = next(c, n);
                        let t = Instant::now();
                        let (status, _) = conn.send(&req);
                        lat.push(t.elapsed().as_micros() as u64);
                        if status != 200 {
                            errors += 1;
                        }
                        n += 1;
                    }
                    (n, errors, lat)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let elapsed = start.elapsed();
    let mut latencies_us: Vec<u64> = results.iter().flat_map(|r| r.2.iter().copied()).collect();
    latencies_us.sort_unstable();
    Load {
        requests: results.iter().map(|r| r.0).sum(),
        errors: results.iter().map(|r| r.1).sum(),
        elapsed,
        latencies_us,
    }
}

/// Resident memory of a process, in MiB.
pub fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Resident memory of a process split into anonymous (heap, stacks) and file-backed (the
/// program's own pages) MiB.
pub fn rss_split_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(f64::NAN)
    };
    (field("RssAnon:"), field("RssFile:"))
}

/// A distinct, well-formed ed25519 public key.
pub fn key(seed: u32) -> String {
    use base64::Engine;
    let mut blob = Vec::new();
    blob.extend_from_slice(&11u32.to_be_bytes());
    blob.extend_from_slice(b"ssh-ed25519");
    blob.extend_from_slice(&32u32.to_be_bytes());
    // As random as a real key's point (lists of real keys hardly compress), yet reproducible.
    let mut point = [0u8; 32];
    let mut x = u64::from(seed).wrapping_add(0x9E37_79B9_7F4A_7C15);
    for chunk in point.chunks_mut(8) {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_be_bytes());
    }
    point[..4].copy_from_slice(&seed.to_be_bytes());
    blob.extend_from_slice(&point);
    format!("ssh-ed25519 {} bench{seed}", base64::engine::general_purpose::STANDARD.encode(blob))
}

/// The server binary as a process, stopped (SIGTERM) on drop.
pub struct ServerProcess {
    pub child: std::process::Child,
    pub port: u16,
}

impl ServerProcess {
    /// Starts `bin` with its data folder and borg home under `root` and `env` set, and returns
    /// it with the time to its first answer.
    pub fn start(bin: &str, root: &std::path::Path, env: &[(&str, String)]) -> (ServerProcess, Duration) {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let t = Instant::now();
        let mut cmd = std::process::Command::new(bin);
        cmd.env("BW_DATA_DIR", root.join("data"))
            .env("BW_HOME", root.join("home"))
            .env("BW_LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        loop {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                s.write_all(b"GET /api/version HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n").unwrap();
                let mut out = String::new();
                let _ = s.read_to_string(&mut out);
                if out.starts_with("HTTP/1.1 200") {
                    break;
                }
            }
            assert!(t.elapsed() < Duration::from_secs(300), "server did not start");
            std::thread::sleep(Duration::from_millis(2));
        }
        (ServerProcess { child, port }, t.elapsed())
    }

    pub fn rss(&self) -> f64 {
        rss_mib(self.child.id())
    }

    /// SIGTERM, then wait: the store is flushed.
    pub fn stop(mut self) {
        self.terminate();
    }

    /// SIGKILL: a crash.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn terminate(&mut self) {
        let _ = std::process::Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
        }
    }
}

/// The figures of a bench run, each printed beside its target as it comes, and the summary.
#[derive(Default)]
pub struct Report {
    met: usize,
    missed: Vec<String>,
}

impl Report {
    /// Prints one figure; `met` is `None` for a figure without a target.
    pub fn row(&mut self, what: &str, value: String, target: &str, met: Option<bool>) {
        let mark = match met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "",
        };
        println!("{what:<60} {value:>16}   target {target:<16} {mark}");
        match met {
            Some(true) => self.met += 1,
            Some(false) => self.missed.push(format!("{what} = {value} (target {target})")),
            None => {}
        }
    }

    pub fn finish(&self) {
        println!("\n{} targets met, {} missed", self.met, self.missed.len());
        for m in &self.missed {
            println!("  missed: {m}");
        }
    }
}

/// A configuration whose data folder and borg home are under `root` (seeding a store in
/// process; the server started on the store afterwards puts its own recorder on the lines).
pub fn bench_config(root: &std::path::Path) -> bw_api::config::Config {
    bw_api::config::Config::in_process(root)
}

/// Sends `req`, checks for 200, and returns how long the answer took.
pub fn timed(conn: &mut Conn, req: &Req) -> Duration {
    let t = Instant::now();
    let (status, body) = conn.send(req);
    assert_eq!(status, 200, "{} {}: {}", req.method, req.path, String::from_utf8_lossy(&body));
    t.elapsed()
}

/// Median and p99 (ms) of `count` creates, then as many edits and deletes, over the v1 routes,
/// one after the other on one connection; keys from `first_key` on.
pub fn mutations(port: u16, token: &str, first_key: u32, count: u32) -> [(&'static str, f64, f64); 3] {
    let mut conn = Conn::open(port, &format!("Bearer {token}"));
    let (mut creates, mut edits, mut deletes, mut names) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..count {
        let body = format!("{{\"alias\":\"new-{i}\",\"sshPublicKey\":\"{}\",\"storageSize\":10}}", key(first_key + i));
        let req = Req { method: "POST", path: "/api/v1/repositories".into(), body: Some(body) };
        let t = Instant::now();
        let (status, body) = conn.send(&req);
        creates.push(t.elapsed().as_micros() as u64);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        names.push(v["repositoryName"].as_str().unwrap().to_string());
    }
    for name in &names {
        let body = Some("{\"storageSize\":20,\"appendOnlyMode\":true}".into());
        let req = Req { method: "PATCH", path: format!("/api/v1/repositories/{name}"), body };
        edits.push(timed(&mut conn, &req).as_micros() as u64);
    }
    for name in &names {
        let req = Req { method: "DELETE", path: format!("/api/v1/repositories/{name}"), body: None };
        deletes.push(timed(&mut conn, &req).as_micros() as u64);
    }
    [("create", creates), ("edit", edits), ("delete", deletes)].map(|(what, mut d)| {
        d.sort_unstable();
        (what, percentile_ms(&d, 0.5), percentile_ms(&d, 0.99))
    })
}

/// Fills the store under `root` with `n` repositories (keys from `first_key` on) and a token
/// with every permission, before the server starts; file key mode, so `authorized_keys` has
/// their lines. Returns the token and each repository's folder (not made yet).
pub fn seed_store(root: &std::path::Path, n: u32, first_key: u32) -> (String, Vec<std::path::PathBuf>) {
    seed_store_with(root, n, first_key, |_| {})
}

/// [`seed_store`] with the configuration changed by `change` first (another store).
pub fn seed_store_with(
    root: &std::path::Path,
    n: u32,
    first_key: u32,
    change: impl FnOnce(&mut bw_api::config::Config),
) -> (String, Vec<std::path::PathBuf>) {
    use bw_store::clock::Clock;
    let mut config = bench_config(root);
    change(&mut config);
    let state = bw_api::AppState::open(config, Clock::system()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let news: Vec<bw_store::repo_store::NewRepo> = (0..n)
        .map(|i| bw_store::repo_store::NewRepo {
            alias: format!("host-{i}"),
            key: bw_host::ssh_key::ClientKey::parse(&key(first_key + i)).unwrap(),
            storage_size: 100,
            comment: "seeded by the bench".into(),
            alert: 90000,
            lan_command: false,
            append_only_mode: false,
            icon: None,
            storage_target: None,
            tenant: None,
        })
        .collect();
    let created = runtime.block_on(state.repos.create_many(news)).unwrap();
    let all = bw_store::token_store::Permissions { create: true, read: true, update: true, delete: true };
    let token = state.tokens.create("bench", all, None, Clock::system().now()).unwrap();
    runtime.block_on(state.flush()).unwrap();
    let folders = created.iter().map(|r| state.repos.pool().repo_path(&r.repository_name)).collect();
    (token, folders)
}
