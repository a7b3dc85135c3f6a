//! Real processes for the end-to-end scenario: our server binary, sshd and the borg client.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, UNIX_EPOCH};

use serde_json::Value;

pub use bw_tests::ssh::*;

pub const BIN: &str = env!("CARGO_BIN_EXE_borgwarehouse-under-test");
pub const CRON_KEY: &str = "e2e-cron-key-5f2d9c";

/// Our server as a process, with its data folder and borg home under `root`.
pub struct Server {
    child: Option<Child>,
    port: u16,
    root: PathBuf,
    /// What it was started with beyond its folders (its store, key mode): the commands a
    /// sysadmin runs next to it get the same.
    env: Vec<(String, String)>,
}

impl Server {
    pub fn start(root: &Path, env: &[(String, String)]) -> Server {
        Self::start_with(Self::command(root), root, env)
    }

    /// Started as the packaged unit starts it, with `UMask=0077`: whatever the server makes
    /// without an explicit mode is then private to it.
    pub fn start_under_unit_umask(root: &Path, env: &[(String, String)]) -> Server {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg("umask 0077 && exec \"$0\"").arg(BIN);
        cmd.env("BW_DATA_DIR", root.join("data")).env("BW_HOME", root.join("home")).env("RUST_LOG", "info");
        Self::start_with(cmd, root, env)
    }

    fn start_with(mut cmd: Command, root: &Path, env: &[(String, String)]) -> Server {
        cmd.env("CRONJOB_KEY", CRON_KEY);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let (child, port) = bw_tests::process::spawn_on_free_port(cmd, &root.join("server.log"));
        Server { child: Some(child), port, root: root.to_path_buf(), env: env.to_vec() }
    }

    fn command(root: &Path) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.env("BW_DATA_DIR", root.join("data")).env("BW_HOME", root.join("home")).env("RUST_LOG", "info");
        cmd
    }

    /// Our command line, as a sysadmin runs it next to the running server (or with it
    /// stopped): `borgwarehouse ARGS`.
    pub fn cli(root: &Path, args: &[&str]) -> Output {
        Self::command(root).args(args).output().unwrap()
    }

    /// `borgwarehouse token create`, as a sysadmin runs it next to the running server.
    pub fn cli_token(&self, name: &str, perms: &str) -> String {
        let out = Self::command(&self.root)
            .envs(self.env.iter().cloned())
            .args(["token", "create", "--name", name, "--permissions", perms])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().lines().last().unwrap().to_string()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// SIGKILL: a crash at whatever point the server is.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call("GET", path, &format!("Bearer {token}"), None)
    }

    pub fn call(&self, method: &str, path: &str, auth: &str, body: Option<&Value>) -> (u16, Value) {
        self.try_call(method, path, auth, body).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// A request whose connection may fail (the server may be killed under it).
    pub fn try_call(&self, method: &str, path: &str, auth: &str, body: Option<&Value>) -> Result<(u16, Value), String> {
        try_request(self.port, method, path, auth, body)
    }

    pub fn post(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        self.call("POST", path, &format!("Bearer {token}"), Some(body))
    }

    pub fn patch(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        self.call("PATCH", path, &format!("Bearer {token}"), Some(body))
    }

    pub fn delete(&self, path: &str, token: &str) -> (u16, Value) {
        self.call("DELETE", path, &format!("Bearer {token}"), None)
    }

    pub fn cron(&self, path: &str) -> (u16, Value) {
        self.call("POST", path, &format!("Bearer {CRON_KEY}"), None)
    }

    pub fn repo(&self, token: &str, name: &str) -> Value {
        let (status, body) =
            self.call("GET", &format!("/api/v1/repositories/{name}"), &format!("Bearer {token}"), None);
        assert_eq!(status, 200, "{body}");
        body["repo"].clone()
    }

    /// SIGTERM, then wait: the graceful path a service manager takes.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let start = Instant::now();
            while child.try_wait().unwrap().is_none() {
                if start.elapsed() > Duration::from_secs(30) {
                    let _ = child.kill();
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A request to our server at `port` on 127.0.0.1, whose connection may fail (the server may be
/// killed under it): the status and the JSON answer (`null` when it is none).
pub fn try_request(
    port: u16,
    method: &str,
    path: &str,
    auth: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), String> {
    let req = ureq::request(method, &format!("http://127.0.0.1:{port}{path}"))
        .set("Authorization", auth)
        .timeout(Duration::from_secs(120));
    let result = match body {
        Some(b) => req.send_json(b.clone()),
        None => req.call(),
    };
    let resp = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => return Err(e.to_string()),
    };
    let status = resp.status();
    let text = resp.into_string().map_err(|e| e.to_string())?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// The borg client, with its own cache and config folders.
#[derive(Clone)]
pub struct Borg {
    bin: PathBuf,
    base: PathBuf,
    port: u16,
    user: String,
    ssh_args: Vec<String>,
}

impl Borg {
    pub fn new(tools: &Tools, root: &Path, sshd: &Sshd) -> Borg {
        let base = root.join("borg-client");
        fs::create_dir_all(&base).unwrap();
        let mut ssh_args = sshd.ssh_args(&Key { private: PathBuf::new(), public: String::new() });
        ssh_args.drain(0..2);
        Borg { bin: tools.borg.clone(), base, port: sshd.port, user: tools.user.clone(), ssh_args }
    }

    pub fn url(&self, name: &str) -> String {
        format!("ssh://{}@127.0.0.1:{}/./{name}", self.user, self.port)
    }

    /// The borg command for `args` with `key`, not started (a test that kills it midway).
    pub fn command(&self, key: &Key, args: &[&str]) -> Command {
        let rsh = format!("ssh -i {} {}", key.private.display(), self.ssh_args.join(" "));
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .env("BORG_RSH", rsh)
            .env("BORG_BASE_DIR", &self.base)
            .env("BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK", "yes")
            .env("BORG_RELOCATED_REPO_ACCESS_IS_OK", "yes")
            .env("BORG_DELETE_I_KNOW_WHAT_I_AM_DOING", "YES")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    }

    pub fn run(&self, key: &Key, args: &[&str]) -> Output {
        self.command(key, args).stdout(Stdio::piped()).stderr(Stdio::piped()).output().unwrap()
    }

    pub fn ok(&self, key: &Key, args: &[&str]) -> Output {
        let out = self.run(key, args);
        assert!(out.status.success(), "borg {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        out
    }
}

/// Incompressible bytes, so borg's compression cannot shrink them under the quota.
pub fn random_file(path: &Path, bytes: usize) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut f = fs::File::create(path).unwrap();
    let mut urandom = fs::File::open("/dev/urandom").unwrap();
    let mut left = bytes;
    let mut buf = vec![0u8; 1 << 20];
    while left > 0 {
        let n = left.min(buf.len());
        std::io::Read::read_exact(&mut urandom, &mut buf[..n]).unwrap();
        f.write_all(&buf[..n]).unwrap();
        left -= n;
    }
}

/// Alerts by mail to the test mail server `smtp`, and the figures moved by sessions alone
/// (taken in every second; no periodic check).
pub fn mail_and_sessions_env(smtp: &bw_tests::sinks::SmtpSink) -> Vec<(String, String)> {
    vec![
        ("BW_ALERT_EMAIL".into(), "admin@example.org".into()),
        ("MAIL_SMTP_HOST".into(), "127.0.0.1".into()),
        ("MAIL_SMTP_PORT".into(), smtp.port.to_string()),
        ("BW_MAIL_TLS".into(), "none".into()),
        ("MAIL_SMTP_FROM".into(), "bw@example.org".into()),
        ("BW_SESSION_INTERVAL".into(), "1s".into()),
        ("BW_STATUS_INTERVAL".into(), "0".into()),
        ("BW_STORAGE_INTERVAL".into(), "0".into()),
    ]
}

/// A server that mails its alerts to a sink, a real sshd, and one repository of `size` GB that
/// a client has `borg init`ed.
pub struct BackupHost {
    pub dir: tempfile::TempDir,
    pub smtp: bw_tests::sinks::SmtpSink,
    pub server: Server,
    pub _sshd: Sshd,
    pub token: String,
    pub key: bw_tests::ssh::Key,
    pub name: String,
    pub borg: Borg,
}

impl BackupHost {
    pub fn start(alias: &str, size: u64) -> Option<BackupHost> {
        let tools = tools()?;
        let dir = tempfile::tempdir().unwrap();
        let smtp = bw_tests::sinks::SmtpSink::start();
        let server = Server::start(dir.path(), &mail_and_sessions_env(&smtp));
        let sshd = Sshd::start(&tools, dir.path(), &dir.path().join("home"));
        let token = server.cli_token("e2e", "create,read,update,delete");
        let key = keygen(dir.path(), "client");
        let body = serde_json::json!({"alias": alias, "sshPublicKey": key.public, "storageSize": size, "alert": 3600});
        let (status, created) = server.post("/api/v1/repositories", &token, &body);
        assert_eq!(status, 200, "{created}");
        let name = created["repositoryName"].as_str().unwrap().to_string();
        let borg = Borg::new(&tools, dir.path(), &sshd);
        borg.ok(&key, &["init", "-e", "none", &borg.url(&name)]);
        Some(BackupHost { dir, smtp, server, _sshd: sshd, token, key, name, borg })
    }
}

/// The pids of the `borg serve` processes working on repository `name` (sshd's forced command):
/// borg itself, not the shell sshd runs the command with, nor the session recorder above it
/// (killing the recorder would close borg's pipes, and borg would end cleanly, lock released).
pub fn borg_serve_pids(name: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let borg_itself = !cmdline.contains(" session ") && !cmdline.starts_with("sh ") && !cmdline.contains(" -c ");
        if borg_itself && cmdline.contains(" serve ") && cmdline.contains(&format!("/{name} ")) {
            pids.push(pid);
        }
    }
    pids
}

/// Every segment file of a borg repository (`data/N/M`).
pub fn segments(repo: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for d in fs::read_dir(repo.join("data")).unwrap().flatten() {
        for f in fs::read_dir(d.path()).unwrap().flatten() {
            out.insert(f.path());
        }
    }
    out
}

/// Makes the repository look as if its last backup happened at `t`.
pub fn age_integrity_files(repo: &Path, t: i64) {
    for e in fs::read_dir(repo).unwrap().flatten() {
        if e.file_name().to_string_lossy().starts_with("integrity.") {
            let f = fs::File::options().write(true).open(e.path()).unwrap();
            f.set_modified(UNIX_EPOCH + Duration::from_secs(t as u64)).unwrap();
        }
    }
}
