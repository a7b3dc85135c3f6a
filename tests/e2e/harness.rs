//! Real processes for the end-to-end scenario: our server binary, sshd and the borg client.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, UNIX_EPOCH};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_borgwarehouse-under-test");
pub const CRON_KEY: &str = "e2e-cron-key-5f2d9c";

pub struct Tools {
    pub sshd: PathBuf,
    pub borg: PathBuf,
    pub user: String,
}

fn which(name: &str, extra: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|d| d.join(name)).chain(extra.iter().map(PathBuf::from)).find(|p| p.is_file())
}

/// The tools, or `None` (skip) when one is missing outside CI; in CI a missing tool fails.
pub fn tools() -> Option<Tools> {
    let sshd = which("sshd", &["/usr/sbin/sshd"]);
    let borg = which("borg", &[]);
    let in_ci = std::env::var_os("CI").is_some();
    match (sshd, borg) {
        (Some(sshd), Some(borg)) => {
            let user =
                String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap().trim().to_string();
            Some(Tools { sshd, borg, user })
        }
        (sshd, borg) => {
            let missing = format!("sshd found: {}, borg found: {}", sshd.is_some(), borg.is_some());
            assert!(!in_ci, "CI must provide sshd and borg (apt-get install openssh-server borgbackup): {missing}");
            eprintln!("SKIPPED end-to-end scenario: {missing} (install openssh-server and borgbackup to run it)");
            None
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for_port(port: u16, what: &str, child: &mut Child) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited early: {status}");
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Our server as a process, with its data folder and borg home under `root`.
pub struct Server {
    child: Option<Child>,
    port: u16,
    root: PathBuf,
}

impl Server {
    pub fn start(root: &Path, env: &[(String, String)]) -> Server {
        let mut cmd = Self::command(root);
        cmd.env("CRONJOB_KEY", CRON_KEY);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let (child, port) = bw_tests::process::spawn_on_free_port(cmd, &root.join("server.log"));
        Server { child: Some(child), port, root: root.to_path_buf() }
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

    fn call(&self, method: &str, path: &str, auth: &str, body: Option<&Value>) -> (u16, Value) {
        self.try_call(method, path, auth, body).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// A request whose connection may fail (the server may be killed under it).
    pub fn try_call(&self, method: &str, path: &str, auth: &str, body: Option<&Value>) -> Result<(u16, Value), String> {
        let req = ureq::request(method, &format!("http://127.0.0.1:{}{path}", self.port))
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

pub struct Key {
    pub private: PathBuf,
    pub public: String,
}

pub fn keygen(dir: &Path, name: &str) -> Key {
    let private = dir.join(format!("key-{name}"));
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&private)
        .status()
        .unwrap();
    assert!(ok.success());
    let public = fs::read_to_string(private.with_extension("pub")).unwrap().trim().to_string();
    Key { private, public }
}

/// sshd on a free 127.0.0.1 port, its own host key, keys only, reading our authorized_keys.
pub struct Sshd {
    child: Child,
    pub port: u16,
    user: String,
}

/// `borgwarehouse key-lookup` installed as sshd demands of an `AuthorizedKeysCommand`: the
/// program and every folder above it owned by root and writable by no one else, run as a real
/// unprivileged user. Removed again on drop.
pub struct KeyLookupInstall {
    folder: PathBuf,
    pub program: PathBuf,
    pub run_as: String,
}

/// The unprivileged user sshd runs the lookup as (created once, kept: other tests share it).
pub const LOOKUP_USER: &str = "bw-keylookup-test";

impl KeyLookupInstall {
    /// Installs the lookup, or `None` (skip) when not root outside CI; in CI it must work.
    pub fn install() -> Option<KeyLookupInstall> {
        let root = String::from_utf8(Command::new("id").arg("-u").output().unwrap().stdout).unwrap().trim() == "0";
        if !root {
            assert!(std::env::var_os("CI").is_none(), "CI runs as root: the key lookup needs useradd and /usr/local");
            eprintln!("SKIPPED command key mode: needs root (useradd, a root-owned folder for the program)");
            return None;
        }
        let known = Command::new("id").arg(LOOKUP_USER).output().unwrap().status.success();
        if !known {
            let out = Command::new("useradd")
                .args(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", LOOKUP_USER])
                .output()
                .unwrap();
            // 9: created meanwhile by a test running in parallel.
            assert!(
                out.status.success() || out.status.code() == Some(9),
                "useradd: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        use std::os::unix::fs::PermissionsExt;
        let unique = format!(
            "bw-tests-{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos()
        );
        let folder = Path::new("/usr/local/libexec").join(unique);
        fs::create_dir_all(&folder).unwrap();
        for d in [Path::new("/usr/local/libexec"), folder.as_path()] {
            fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
        }
        let program = folder.join("borgwarehouse");
        fs::copy(BIN, &program).unwrap();
        fs::set_permissions(&program, fs::Permissions::from_mode(0o755)).unwrap();
        Some(KeyLookupInstall { folder, program, run_as: LOOKUP_USER.to_string() })
    }

    /// The `sshd_config` lines of command key mode, as docs/deployment.md gives them.
    pub fn sshd_lines(&self, key_dir: &Path, borg_user: &str) -> String {
        format!(
            "AuthorizedKeysCommand {} key-lookup --dir {} --user {borg_user} %u %t %k\nAuthorizedKeysCommandUser {}\n",
            self.program.display(),
            key_dir.display(),
            self.run_as
        )
    }
}

impl Drop for KeyLookupInstall {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.folder);
    }
}

/// Lets the lookup's unprivileged user reach `path` (the test's temporary folders are 0700).
pub fn open_to_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

impl Sshd {
    pub fn start(tools: &Tools, root: &Path, home: &Path) -> Sshd {
        Self::start_with(tools, root, home, "sshd", "")
    }

    /// sshd with `extra` configuration lines, its files in `root/name`.
    pub fn start_with(tools: &Tools, root: &Path, home: &Path, name: &str, extra: &str) -> Sshd {
        let dir = root.join(name);
        fs::create_dir_all(&dir).unwrap();
        let host_key = dir.join("host_ed25519");
        assert!(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&host_key)
            .status()
            .unwrap()
            .success());
        // sshd refuses to start without its privilege separation folder.
        let _ = fs::create_dir_all("/run/sshd");
        let port = free_port();
        let config = dir.join("sshd_config");
        fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nAuthorizedKeysFile {}\n\
                 PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 UsePAM no\nPermitRootLogin prohibit-password\nAllowUsers {}\n\
                 # The test's temporary folders are not owned the way StrictModes wants.\nStrictModes no\n\
                 LogLevel VERBOSE\n{extra}",
                host_key.display(),
                dir.join("sshd.pid").display(),
                home.join(".ssh/authorized_keys").display(),
                tools.user
            ),
        )
        .unwrap();
        let log = fs::File::create(dir.join("sshd.log")).unwrap();
        let mut child = Command::new(&tools.sshd)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        wait_for_port(port, "sshd", &mut child);
        Sshd { child, port, user: tools.user.clone() }
    }

    fn ssh_args(&self, key: &Key) -> Vec<String> {
        vec![
            "-i".into(),
            key.private.display().to_string(),
            "-p".into(),
            self.port.to_string(),
            "-o".into(),
            "StrictHostKeyChecking=no".into(),
            "-o".into(),
            "UserKnownHostsFile=/dev/null".into(),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
            "-o".into(),
            "BatchMode=yes".into(),
            "-o".into(),
            "LogLevel=ERROR".into(),
        ]
    }

    /// Runs `command` over ssh with `key`, stdin closed.
    pub fn ssh(&self, key: &Key, command: &str) -> Output {
        Command::new("ssh")
            .args(self.ssh_args(key))
            .arg(format!("{}@127.0.0.1", self.user))
            .arg(command)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The borg client, with its own cache and config folders.
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

/// The pids of the `borg serve` processes working on repository `name` (sshd's forced command).
pub fn borg_serve_pids(name: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(" serve ") && cmdline.contains(&format!("/{name} ")) {
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
