//! The binary as a sysadmin runs it, for the tests of the command line: a data folder and
//! borg home of the test's own, the server as a process, one request with a token.

use std::io::Write;
use std::process::{Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_borgwarehouse-under-test");

pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Self {
        Env { dir: tempfile::tempdir().unwrap() }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("BW_DATA_DIR", self.dir.path().join("data"))
            .env("BW_HOME", self.dir.path().join("home"))
            .env("RUST_LOG", "warn");
        c
    }

    /// Runs and returns (success, stdout, stderr).
    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
        let mut child =
            self.cmd(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        if let Some(input) = stdin {
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

pub struct Running(pub std::process::Child);

impl Running {
    /// Starts `cmd` on a port the system gives, its log in `log`.
    pub fn start(cmd: Command, log: &std::path::Path) -> (Running, u16) {
        let (child, port) = bw_tests::process::spawn_on_free_port(cmd, log);
        (Running(child), port)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn get(url: &str, token: &str) -> u16 {
    match ureq::get(url).set("Authorization", &format!("Bearer {token}")).call() {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(s, _)) => s,
        Err(e) => panic!("{e}"),
    }
}
