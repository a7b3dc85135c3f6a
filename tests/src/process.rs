//! Our server as a process: started on 127.0.0.1:0, so the system gives it a free port and
//! nothing races for one, and found at the address it reports in its log.

use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Spawns `cmd` (our binary, `serve`) listening on a port the system gives, its log appended to
/// `log`, and returns the child and that port once the server has said where it listens.
pub fn spawn_on_free_port(mut cmd: Command, log: &Path) -> (Child, u16) {
    let file = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    let from = file.metadata().unwrap().len();
    // The start-up line is at info: keep the test's own filter and let that line through.
    let filter = cmd
        .get_envs()
        .find(|(k, _)| *k == "RUST_LOG")
        .and_then(|(_, v)| v.map(|v| v.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "info".into());
    cmd.env("RUST_LOG", format!("{filter},borgwarehouse::startup=info"));
    // A port the test chose (a provider must know where to send people back), else one the
    // system gives; 127.0.0.1 either way.
    let chosen = cmd
        .get_envs()
        .any(|(k, v)| k == "BW_LISTEN" && v.is_some_and(|v| v.to_string_lossy().starts_with("127.0.0.1:")));
    if !chosen {
        cmd.env("BW_LISTEN", "127.0.0.1:0");
    }
    cmd.stdout(Stdio::null()).stderr(file);
    let mut child = cmd.spawn().unwrap();
    let start = Instant::now();
    loop {
        let text = read_from(log, from);
        if let Some(addr) = listening_address(&text) {
            return (child, addr.port());
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("our server exited early ({status}):\n{text}");
        }
        assert!(start.elapsed() < Duration::from_secs(30), "our server did not say where it listens:\n{text}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn read_from(log: &Path, from: u64) -> String {
    let mut text = String::new();
    if let Ok(mut f) = std::fs::File::open(log) {
        let _ = f.seek(SeekFrom::Start(from));
        let _ = f.read_to_string(&mut text);
    }
    text
}

/// The address in the start-up line `listening on http://ADDR ...`.
fn listening_address(log: &str) -> Option<SocketAddr> {
    let rest = log.split("listening on http://").nth(1)?;
    let end = rest.find(|c: char| c.is_whitespace() || c == '"' || c == '(').unwrap_or(rest.len());
    rest[..end].trim_end_matches('/').parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_address_in_text_and_json_logs() {
        let text = "2026 INFO borgwarehouse::startup: listening on http://127.0.0.1:43123 (Swagger UI at ...)";
        assert_eq!(super::listening_address(text).unwrap().port(), 43123);
        let json = r#"{"fields":{"message":"listening on http://127.0.0.1:5 (Swagger"}}"#;
        assert_eq!(super::listening_address(json).unwrap().port(), 5);
        assert!(super::listening_address("starting").is_none());
    }
}
