//! A client's backup held under way, so that a test's order is certain on a busy machine
//! rather than won by whichever process the scheduler favours ([`bw_tests::frozen`] holds a
//! process of the server's the same way).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::harness::Borg;
use bw_tests::ssh::Key;

/// A client's backup under way: `borg create URL::ARCHIVE -` with its standard input held open
/// by the test. borg takes the repository's exclusive lock before it reads, and keeps it until
/// its input ends, so the backup is live for exactly as long as the test wants.
pub struct HeldBackup {
    child: Child,
    lock: PathBuf,
}

impl HeldBackup {
    /// Starts the backup into `archive` (`URL::NAME`) of the repository in `folder`, and
    /// returns once borg holds its lock.
    pub fn start(borg: &Borg, key: &Key, archive: &str, folder: &Path) -> HeldBackup {
        let child =
            borg.command(key, &["create", archive, "-"]).stdin(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut held = HeldBackup { child, lock: folder.join("lock.exclusive") };
        let start = Instant::now();
        while !held.lock.exists() {
            if let Some(status) = held.child.try_wait().unwrap() {
                panic!("the held backup ended before it took its lock: {status}, {}", held.stderr());
            }
            assert!(start.elapsed() < Duration::from_secs(60), "the backup never took its lock");
            std::thread::sleep(Duration::from_millis(20));
        }
        held
    }

    fn stderr(&mut self) -> String {
        let mut text = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut err, &mut text);
        }
        text
    }

    /// Sends the backup's last bytes and ends its input; the backup must then succeed.
    pub fn finish(mut self) {
        let mut input = self.child.stdin.take().unwrap();
        input.write_all(b"the held backup's data\n").unwrap();
        drop(input);
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the held backup failed: {status}, {}", self.stderr());
    }

    /// Waits for the backup to end (after its server side was killed) and says whether it
    /// succeeded.
    pub fn wait(mut self) -> bool {
        drop(self.child.stdin.take());
        self.child.wait().unwrap().success()
    }
}

impl Drop for HeldBackup {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
