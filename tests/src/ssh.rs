//! sshd, client keys and the key lookup as real processes and files, shared by the end-to-end
//! tests and the bench.

use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, UNIX_EPOCH};

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

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn wait_for_port(port: u16, what: &str, child: &mut Child) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited early: {status}");
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[derive(Clone)]
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
    /// `bin`: the server binary to install.
    pub fn install(bin: &Path) -> Option<KeyLookupInstall> {
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
        fs::copy(bin, &program).unwrap();
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

    pub fn ssh_args(&self, key: &Key) -> Vec<String> {
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
