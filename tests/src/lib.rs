//! Test harness: a real server with its own data folder, started by the same [`App`] start-up
//! that `serve` runs, on a port the system gives (127.0.0.1:0), and a blocking HTTP client that
//! returns status and JSON body.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use borgwarehouse::App;
use bw_api::config::Config;
use bw_api::AppState;
use bw_host::folder_scan::RepoScanner;
use bw_store::clock::Clock;
use bw_store::token_store::Permissions;
use serde_json::Value;

pub use serde_json::json;

/// A fixed "now" for tests: 2024-11-27T00:00:00Z.
pub const NOW: i64 = 1_732_665_600;
pub const ADMIN_USER: &str = "admin";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// `authorized_keys` text without blanked lines (spaces only), which sshd skips.
pub fn as_sshd_reads(text: &str) -> String {
    text.split_inclusive('\n')
        .filter(|l| !(l.trim_end_matches('\n').bytes().all(|b| b == b' ') && l.len() > 1))
        .collect()
}

pub struct TestServer {
    pub url: String,
    pub state: AppState,
    pub clock: Clock,
    pub home: PathBuf,
    pub dir: tempfile::TempDir,
    runtime: Option<tokio::runtime::Runtime>,
    /// Ends the server's run (graceful shutdown, store flushed) and its task.
    stop: Option<(tokio::sync::oneshot::Sender<()>, ServerTask)>,
}

type ServerTask = tokio::task::JoinHandle<Result<(), borgwarehouse::StartError>>;

/// A configuration whose every folder is under `dir`, sessions off ([`Config::in_process`]).
pub fn test_config(dir: &std::path::Path) -> Config {
    Config::in_process(dir)
}

/// Sends alerts by mail to the test mail server on `smtp_port` (plain SMTP, no TLS), and to the
/// webhook `hook_url` when given.
pub fn alert_to(c: &mut Config, smtp_port: u16, hook_url: Option<String>) {
    c.plugins.update(|a: &mut bw_plugin_alerts::ChannelSettings| {
        a.email_to = Some("admin@example.org".into());
        a.webhook_url = hook_url;
    });
    c.plugins.update(|m: &mut bw_plugin_alerts::MailSettings| {
        m.host = Some("127.0.0.1".into());
        m.port = Some(smtp_port);
        m.tls = Some(bw_plugin_alerts::MailTls::None);
        m.from = Some("bw@example.org".into());
    });
}

impl TestServer {
    pub fn start() -> Self {
        Self::with_config(|_| {})
    }

    pub fn with_config(change: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(dir.path());
        change(&mut config);
        Self::start_in(dir, config)
    }

    /// Starts with `scanner` reading repository folders (a stand-in the test controls).
    pub fn with_scanner(change: impl FnOnce(&mut Config), scanner: Arc<dyn RepoScanner>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(dir.path());
        change(&mut config);
        Self::start_full(dir, config, Some(scanner))
    }

    /// Starts on an existing folder (a restart).
    pub fn start_in(dir: tempfile::TempDir, config: Config) -> Self {
        Self::start_full(dir, config, None)
    }

    fn start_full(dir: tempfile::TempDir, mut config: Config, scanner: Option<Arc<dyn RepoScanner>>) -> Self {
        on_the_store_under_test(&mut config);
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let clock = Clock::fixed(NOW);
        let home = config.home();
        // Test servers listen on 127.0.0.1 only: a port the test chose there (a provider must
        // know the address to send people back to), else one the system gives.
        let default = bw_api::config::ServerSettings::default().listen;
        if !config.server.listen.ip().is_loopback() || config.server.listen == default {
            config.server.listen = "127.0.0.1:0".parse().unwrap();
        }
        let app = App::new(config, clock.clone(), scanner).expect("start-up");
        let state = app.state.clone();
        let listening = runtime.block_on(app.listen()).expect("listen");
        let addr = listening.addr;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = runtime.spawn(listening.run(async move {
            let _ = stopped.await;
        }));
        TestServer {
            url: format!("http://{addr}"),
            state,
            clock,
            home,
            dir,
            runtime: Some(runtime),
            stop: Some((stop, served)),
        }
    }

    /// Stops the server and hands back its folder, to start again on the same store.
    pub fn stop(mut self) -> (tempfile::TempDir, Config) {
        let config = self.state.config.clone();
        if let (Some(rt), Some((stop, served))) = (self.runtime.as_ref(), self.stop.take()) {
            let _ = stop.send(());
            rt.block_on(served).expect("server task").expect("server stopped cleanly");
        }
        if let Some(rt) = self.runtime.take() {
            // Waits for the blocking tasks still running (a history fold, a hash), each holding
            // the state and with it sled's lock on the store, which the caller opens next. It
            // returns as soon as they end: the bound is for a test machine under full load,
            // where 5 s was once too short.
            rt.shutdown_timeout(Duration::from_secs(60));
        }
        // Moving the folder out leaves a fresh, empty one for Drop to remove.
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        drop(self);
        (dir, config)
    }

    /// Sets a repository's `lastSave` as the status check would.
    pub fn set_last_save(&self, id: u64, t: i64) {
        let rt = self.runtime.as_ref().unwrap();
        assert!(rt.block_on(self.state.repos.update_scanned(id, |r| r.last_save = t)).unwrap());
    }

    /// Runs a future on the server's runtime (store calls, checks).
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.as_ref().unwrap().block_on(f)
    }

    pub fn authorized_keys(&self) -> PathBuf {
        self.home.join(".ssh/authorized_keys")
    }

    /// Whether the store holds `needle` anywhere, and how many entries (sled: files) were read:
    /// sled's files, read raw while the server runs; in PostgreSQL every entry of every table.
    pub fn store_holds(&self, needle: &[u8]) -> (bool, usize) {
        let found = |b: &[u8]| b.windows(needle.len()).any(|w| w == needle);
        match &self.state.config.server.database_url {
            None => {
                let files: Vec<Vec<u8>> = std::fs::read_dir(self.state.config.db_path())
                    .unwrap()
                    .filter_map(|f| std::fs::read(f.unwrap().path()).ok())
                    .collect();
                (files.iter().any(|b| found(b)), files.len())
            }
            Some(url) => {
                use bw_store::backend::Backend;
                let db = bw_store::backend::PostgresBackend::open(url.expose()).unwrap();
                let (mut any, mut read) = (false, 0);
                for name in db.table_names().unwrap() {
                    for entry in db.table(&name).unwrap().iter() {
                        let (k, v) = entry.unwrap();
                        any |= found(&k) || found(&v);
                        read += 1;
                    }
                }
                (any, read)
            }
        }
    }

    /// The key lines sshd reads: `authorized_keys` without the lines a delete or an edit blanked
    /// in place (spaces only; see `core/host/src/authorized_keys/incremental.rs`); in command
    /// key mode (the suite on PostgreSQL), the key folder's lines, sorted, one per line.
    pub fn authorized_keys_text(&self) -> String {
        if let (bw_api::config::KeyMode::Command, Some(dir)) =
            (self.state.config.ssh.key_mode, self.state.config.ssh.key_lookup_dir.as_ref())
        {
            let mut lines = bw_host::key_lookup::KeyDir::new(dir.clone()).lines().unwrap_or_default();
            lines.sort();
            return lines.iter().map(|l| format!("{}\n", l.trim_end())).collect();
        }
        as_sshd_reads(&std::fs::read_to_string(self.authorized_keys()).unwrap_or_default())
    }

    /// A token made through the store, as the CLI makes it.
    pub fn token(&self, name: &str, perms: &str) -> String {
        let p = Permissions::parse_list(perms).unwrap();
        self.state.tokens.create(name, p, None, self.clock.now()).unwrap()
    }

    /// A token with every permission.
    pub fn full_token(&self) -> String {
        self.token("full", "create,read,update,delete")
    }

    pub fn create_admin(&self) -> String {
        self.state.users.set_password(ADMIN_USER, ADMIN_PASSWORD, self.clock.now(), None).unwrap();
        basic(ADMIN_USER, ADMIN_PASSWORD)
    }

    /// Sends a request; `auth` is a whole `Authorization` value or a bare token (Bearer).
    pub fn call(&self, method: &str, path: &str, auth: Option<&str>, body: Option<&str>) -> (u16, Value) {
        request(method, &format!("{}{}", self.url, path), auth, body)
    }

    /// Sends raw bytes and returns the raw answer, for requests a well-behaved client would
    /// not make.
    pub fn raw(&self, request: &[u8]) -> String {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(self.url.trim_start_matches("http://")).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let _ = stream.write_all(request);
        let mut out = Vec::new();
        let _ = stream.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    pub fn get(&self, path: &str, auth: Option<&str>) -> (u16, Value) {
        self.call("GET", path, auth, None)
    }

    pub fn post(&self, path: &str, auth: Option<&str>, body: &Value) -> (u16, Value) {
        self.call("POST", path, auth, Some(&body.to_string()))
    }

    pub fn patch(&self, path: &str, auth: Option<&str>, body: &Value) -> (u16, Value) {
        self.call("PATCH", path, auth, Some(&body.to_string()))
    }

    pub fn delete(&self, path: &str, auth: Option<&str>) -> (u16, Value) {
        self.call("DELETE", path, auth, None)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// The store the suite runs on: the embedded one, or with `BW_TEST_STORE=postgres` (and
/// `BW_TEST_POSTGRES_PORT`, a server [`postgres::TempPostgres`] started) a schema of its own in
/// PostgreSQL for each server, in command key mode (which a database needs). A test that
/// chose its store itself keeps it.
fn on_the_store_under_test(config: &mut Config) {
    if !on_postgres() || config.server.database_url.is_some() {
        return;
    }
    let port: u16 = std::env::var("BW_TEST_POSTGRES_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .expect("BW_TEST_STORE=postgres needs BW_TEST_POSTGRES_PORT");
    let url = postgres::TempPostgres::at(port).fresh_schema_url();
    config.server.database_url = Some(bw_api::config::Secret::new(url));
    if config.ssh.key_mode == bw_api::config::KeyMode::File {
        config.ssh.key_mode = bw_api::config::KeyMode::Command;
        config.ssh.key_lookup_dir =
            Some(config.server.data_dir.parent().unwrap_or(&config.server.data_dir).join("keys"));
    }
}

/// Whether the suite runs on PostgreSQL (`BW_TEST_STORE=postgres`).
pub fn on_postgres() -> bool {
    std::env::var("BW_TEST_STORE").as_deref() == Ok("postgres")
}

/// For a test of what only the embedded store does (file key mode, sled's own files, a data
/// folder's lock): true, after saying so, when the suite runs on PostgreSQL.
pub fn embedded_store_only(what: &str) -> bool {
    if on_postgres() {
        eprintln!("not on PostgreSQL: {what}");
    }
    on_postgres()
}

/// Sends a request to `url` (a server of this process or another); `auth` is a whole
/// `Authorization` value or a bare token (sent as Bearer). The answer's JSON, or its text.
pub fn request(method: &str, url: &str, auth: Option<&str>, body: Option<&str>) -> (u16, Value) {
    let mut req = ureq::request(method, url).timeout(Duration::from_secs(30));
    if let Some(a) = auth {
        // A bare token (no space) is sent as Bearer; anything else verbatim.
        let value =
            if a.contains(' ') || a == "Bearer" || a.is_empty() { a.to_string() } else { format!("Bearer {a}") };
        req = req.set("Authorization", &value);
    }
    let result = match body {
        Some(b) => req.set("Content-Type", "application/json").send_string(b),
        None => req.call(),
    };
    let resp = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = resp.status();
    let text = resp.into_string().unwrap_or_default();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// A program on `PATH`, for tests that need a tool CI installs (schemathesis, redocly, a client
/// generator).
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).map(|d| d.join(name)).find(|p| p.is_file())
}

/// The tool, or `None` outside CI after saying the test was skipped; in CI a missing tool fails.
pub fn tool_or_skip(name: &str, what: &str) -> Option<PathBuf> {
    let found = which(name);
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "CI must provide {name} (see .ci/run)");
        eprintln!("SKIPPED {what}: `{name}` is not installed");
    }
    found
}

/// What `du -s -L` prints for `dir`, in KiB: the figure `storageUsed` must equal.
pub fn du(dir: &std::path::Path) -> u64 {
    let out = std::process::Command::new("du").arg("-s").arg("-L").arg(dir).output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().parse().unwrap()
}

pub fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

fn ssh_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// A well-formed ed25519 public key, distinct for each seed.
pub fn ed25519_key(seed: u32, comment: &str) -> String {
    let mut blob = Vec::new();
    ssh_string(&mut blob, b"ssh-ed25519");
    let mut point = [7u8; 32];
    point[..4].copy_from_slice(&seed.to_be_bytes());
    ssh_string(&mut blob, &point);
    let b64 = base64::engine::general_purpose::STANDARD.encode(blob);
    if comment.is_empty() {
        format!("ssh-ed25519 {b64}")
    } else {
        format!("ssh-ed25519 {b64} {comment}")
    }
}

/// A well-formed RSA public key with a modulus of `bits` bits.
pub fn rsa_key(bits: usize, seed: u8) -> String {
    let mut blob = Vec::new();
    ssh_string(&mut blob, b"ssh-rsa");
    ssh_string(&mut blob, &[0x01, 0x00, 0x01]);
    let mut n = vec![0u8; bits / 8 + 1];
    n[1] = 0xC0;
    n[2] = seed;
    *n.last_mut().unwrap() = 0x01;
    ssh_string(&mut blob, &n);
    format!("ssh-rsa {}", base64::engine::general_purpose::STANDARD.encode(blob))
}

/// A valid create body (seed form) for the given key.
pub fn repo_body(key: &str) -> Value {
    json!({
        "alias": "MyRepo",
        "sshPublicKey": key,
        "storageSize": 100,
        "comment": "nightly",
        "alert": 90000,
        "lanCommand": false,
        "appendOnlyMode": false
    })
}

pub mod frozen;
pub mod postgres;
pub mod process;
pub mod sinks;
pub mod ssh;
