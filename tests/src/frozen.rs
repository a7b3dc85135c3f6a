//! A real process held in a known state, so that a test's order is certain on a busy machine
//! rather than won by whichever process the scheduler favours: [`Frozen`] is a process stopped
//! with SIGSTOP, which cannot run on (nor finish) until the test sends SIGCONT, and which shows
//! the signals sent to it meanwhile as pending.

use std::time::{Duration, Instant};

pub use rustix::process::Signal;

/// Sends `signal` to `pid`; straight, not through a `kill` process, so that a step of
/// [`Frozen::when`] lasts what it says on a busy machine.
pub fn signal(pid: u32, signal: Signal) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

/// SIGTERM's bit in `/proc/PID/status`'s pending masks.
const SIGTERM_BIT: u64 = 1 << (15 - 1);

/// A process stopped with SIGSTOP until this is dropped or [`Frozen::resume`] is called.
pub struct Frozen {
    pid: u32,
    resumed: bool,
}

impl Frozen {
    /// Stops the first process that `find` names, once one appears, and lets it run in steps
    /// of a millisecond until `ready` holds: the process is then frozen in that state. A
    /// millisecond of a borg process is far less than any of its jobs takes, so it cannot
    /// slip past `ready` and finish between two steps.
    pub fn when(what: &str, find: impl Fn() -> Option<u32>, ready: impl Fn() -> bool) -> Frozen {
        let start = Instant::now();
        let pid = loop {
            if let Some(pid) = find() {
                break pid;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "no {what} appeared");
            std::thread::sleep(Duration::from_millis(1));
        };
        signal(pid, Signal::STOP);
        let frozen = Frozen { pid, resumed: false };
        while !ready() {
            assert!(alive(pid), "{what} ended before it was ready");
            assert!(start.elapsed() < Duration::from_secs(60), "{what} was never ready");
            signal(pid, Signal::CONT);
            std::thread::sleep(Duration::from_millis(1));
            signal(pid, Signal::STOP);
        }
        frozen
    }

    /// Waits until someone sent the frozen process SIGTERM (it is pending, since the process
    /// cannot take it while stopped).
    pub fn wait_for_sigterm(&self, what: &str) {
        let start = Instant::now();
        while pending(self.pid) & SIGTERM_BIT == 0 {
            assert!(alive(self.pid), "{what} ended while frozen");
            assert!(start.elapsed() < Duration::from_secs(30), "{what} was never sent SIGTERM");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Lets the process run on: it takes its pending signals first.
    pub fn resume(mut self) {
        signal(self.pid, Signal::CONT);
        self.resumed = true;
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        if !self.resumed {
            signal(self.pid, Signal::CONT);
        }
    }
}

fn alive(pid: u32) -> bool {
    // A process that ended but was not waited for yet is a zombie: gone for this purpose.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rsplit(')').next().and_then(|rest| rest.split_whitespace().next()) != Some("Z"))
        .unwrap_or(false)
}

/// The signals pending for `pid`, for the process as a whole or its main thread.
fn pending(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .filter_map(|l| l.strip_prefix("ShdPnd:").or_else(|| l.strip_prefix("SigPnd:")))
        .filter_map(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .fold(0, |all, mask| all | mask)
}

/// The pid of a process whose command line holds every one of `words` (each a whole
/// argument), other than this test's own.
pub fn pid_with_args(words: &[&str]) -> Option<u32> {
    let me = std::process::id();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        if pid == me {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        if words.iter().all(|w| args.contains(&w.as_bytes())) && alive(pid) {
            return Some(pid);
        }
    }
    None
}
