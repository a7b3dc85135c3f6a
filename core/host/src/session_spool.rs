//! The session spool: how a client's SSH session tells the server that it ended, without the
//! server being there.
//!
//! The forced command runs `borg serve` under `borgwarehouse session` (the recorder). When borg
//! ends, the recorder drops one small record into the spool folder and exits with borg's own
//! exit code. The server takes the records in when it runs; while it is stopped they wait. A
//! record is written to a temporary name and renamed, so a reader sees it whole or not at all.
//!
//! Nothing in a record comes from the client: the repository and key are the line's own
//! arguments (sshd runs the forced command whatever the client asks for), and the address is
//! sshd's `SSH_CLIENT`.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// One ended session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The repository's folder name, from the line.
    pub repository: String,
    /// The key's id, from the line (empty for a line written before keys had ids).
    pub key: String,
    /// Unix seconds.
    pub started_at: i64,
    pub ended_at: i64,
    /// borg's exit code; 128 + the signal number when a signal ended it.
    pub exit_code: i32,
    /// The client's address, from `SSH_CLIENT` (empty when sshd did not set it).
    pub client: String,
    /// Whether the session committed a change to the repository (borg's transaction number
    /// moved): what the server can know of a backup's outcome, since `borg serve` exits 0 when
    /// the client fails (a wrong passphrase, a repository never initialised). `None` in a
    /// record of a recorder that did not look.
    pub wrote: Option<bool>,
}

/// The first line of a record file: what it is, so another file is never taken for one.
const FORMAT: &str = "borgwarehouse-session 1";

impl SessionRecord {
    /// The record as text: the format line, then one `key=value` line per field. Plain text so
    /// that an administrator can read a waiting record with `cat`.
    fn to_text(&self) -> String {
        let wrote = match self.wrote {
            Some(w) => format!("wrote={}\n", u8::from(w)),
            None => String::new(),
        };
        format!(
            "{FORMAT}\nrepository={}\nkey={}\nstarted_at={}\nended_at={}\nexit_code={}\nclient={}\n{wrote}",
            self.repository, self.key, self.started_at, self.ended_at, self.exit_code, self.client
        )
    }

    fn from_text(text: &str) -> Option<SessionRecord> {
        let mut lines = text.lines();
        if lines.next()? != FORMAT {
            return None;
        }
        let mut record = SessionRecord {
            repository: String::new(),
            key: String::new(),
            started_at: 0,
            ended_at: 0,
            exit_code: 0,
            client: String::new(),
            wrote: None,
        };
        for line in lines {
            let (field, value) = line.split_once('=')?;
            match field {
                "repository" => record.repository = value.into(),
                "key" => record.key = value.into(),
                "started_at" => record.started_at = value.parse().ok()?,
                "ended_at" => record.ended_at = value.parse().ok()?,
                "exit_code" => record.exit_code = value.parse().ok()?,
                "client" => record.client = value.into(),
                "wrote" => record.wrote = Some(value == "1"),
                _ => {}
            }
        }
        (!record.repository.is_empty()).then_some(record)
    }
}

/// borg's last committed transaction in the repository folder `repo` (the highest N of its
/// `integrity.N`, `hints.N` and `index.N` files); `None` when it holds none (not a borg
/// repository yet). A session that moved it committed a change.
pub fn transaction(repo: &Path) -> Option<u64> {
    let entries = fs::read_dir(repo).ok()?;
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let name = name.to_str()?;
            let (kind, n) = name.split_once('.')?;
            matches!(kind, "integrity" | "hints" | "index").then(|| n.parse::<u64>().ok()).flatten()
        })
        .max()
}

/// A field value may not break the record's lines.
fn one_line(value: &str) -> String {
    value.chars().filter(|c| !c.is_control()).collect()
}

/// Drops `record` into `spool`: written under a temporary name, then renamed to
/// `ENDED-PID-NANOS-N.session`: never reused by this process (N counts its records), nor by
/// another host sharing the spool (a process id is per host; the nanoseconds tell them apart). No fsync: a record lost in a crash of the host only leaves the
/// repository to the next periodic check, and a backup's end must not wait on the disk.
pub fn drop_record(spool: &Path, record: &SessionRecord) -> io::Result<PathBuf> {
    let record = SessionRecord {
        repository: one_line(&record.repository),
        key: one_line(&record.key),
        client: one_line(&record.client),
        ..record.clone()
    };
    static DROPPED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = DROPPED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let name = format!("{}-{}-{nanos}-{n}.session", record.ended_at, std::process::id());
    let tmp = spool.join(format!(".{name}.tmp"));
    let result = (|| {
        let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        f.write_all(record.to_text().as_bytes())?;
        let path = spool.join(&name);
        fs::rename(&tmp, &path)?;
        Ok(path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// A record waiting in the spool, and the file that holds it.
#[derive(Debug)]
pub struct Waiting {
    pub path: PathBuf,
    /// Or why the file is not a record this program writes (it is set aside, never taken in).
    pub record: Result<SessionRecord, String>,
}

/// The most a record file may hold; a record is about 150 bytes.
const RECORD_MAX: u64 = 4096;

/// Reads one record file, refusing anything a recorder does not write without waiting on it
/// or reading more than [`RECORD_MAX`]: the spool is writable by the borg user, so it may hold
/// a FIFO (whose open would block), a link to `/dev/zero`, or a file of any size.
fn read_record(path: &Path) -> Result<SessionRecord, String> {
    use rustix::fs::OFlags;
    let flags = (OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY).bits() as i32;
    let file = match fs::OpenOptions::new().read(true).custom_flags(flags).open(path) {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            return Err("a symbolic link".into())
        }
        Err(e) => return Err(format!("cannot be opened: {e}")),
    };
    let meta = file.metadata().map_err(|e| format!("cannot be read: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file (a FIFO, a device or a folder)".into());
    }
    if meta.len() > RECORD_MAX {
        return Err(format!("{} bytes, more than a record's {RECORD_MAX}", meta.len()));
    }
    let mut text = String::new();
    io::Read::read_to_string(&mut io::Read::take(file, RECORD_MAX), &mut text)
        .map_err(|e| format!("cannot be read as text: {e}"))?;
    SessionRecord::from_text(&text).ok_or_else(|| "not a session record".into())
}

/// The records waiting in `spool`, oldest first (temporary files of recorders still writing
/// are left alone). A missing folder holds none.
pub fn waiting(spool: &Path) -> io::Result<Vec<Waiting>> {
    let entries = match fs::read_dir(spool) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.ends_with(".session") || name.starts_with('.') {
            continue;
        }
        found.push(Waiting { path: entry.path(), record: read_record(&entry.path()) });
    }
    found.sort_by_key(|w| (w.record.as_ref().map_or(0, |r| r.ended_at), w.path.clone()));
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(repository: &str, ended_at: i64) -> SessionRecord {
        SessionRecord {
            repository: repository.into(),
            key: "0123456789abcdef".into(),
            started_at: ended_at - 30,
            ended_at,
            exit_code: 0,
            client: "192.0.2.7 50000 22".into(),
            wrote: Some(true),
        }
    }

    #[test]
    fn the_transaction_is_the_highest_committed_number() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(transaction(dir.path()), None, "not a repository");
        for f in ["config", "README", "integrity.3", "hints.3", "index.3", "hints.2.tmp", "data"] {
            fs::write(dir.path().join(f), "").unwrap();
        }
        assert_eq!(transaction(dir.path()), Some(3));
        fs::write(dir.path().join("integrity.12"), "").unwrap();
        assert_eq!(transaction(dir.path()), Some(12));
        assert_eq!(transaction(&dir.path().join("missing")), None);
    }

    #[test]
    fn a_record_without_wrote_reads_as_unknown() {
        let text = format!("{FORMAT}\nrepository=aaaaaaaa\nkey=k\nstarted_at=1\nended_at=2\nexit_code=0\nclient=c\n");
        assert_eq!(SessionRecord::from_text(&text).unwrap().wrote, None);
        let mut r = record("aaaaaaaa", 5);
        r.wrote = Some(false);
        assert_eq!(SessionRecord::from_text(&r.to_text()).unwrap().wrote, Some(false));
    }

    #[test]
    fn records_are_read_back_whole_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        drop_record(dir.path(), &record("bbbbbbbb", 200)).unwrap();
        drop_record(dir.path(), &record("aaaaaaaa", 100)).unwrap();
        // A recorder still writing, and a file that is not a record.
        fs::write(dir.path().join(".300-1.session.tmp"), "borgwarehouse-session 1\n").unwrap();
        fs::write(dir.path().join("400-1.session"), "hello").unwrap();
        let waiting = waiting(dir.path()).unwrap();
        let records: Vec<Option<SessionRecord>> = waiting.into_iter().map(|w| w.record.ok()).collect();
        assert_eq!(records, [None, Some(record("aaaaaaaa", 100)), Some(record("bbbbbbbb", 200))]);
        assert!(super::waiting(&dir.path().join("none")).unwrap().is_empty());
    }

    /// Junk in the spool (the borg user can write it) is named and set aside, never waited on
    /// nor read whole: a FIFO, links to `/dev/zero` and to a record, a large file, a folder.
    #[test]
    fn junk_is_refused_without_blocking_or_reading_it_whole() {
        let dir = tempfile::tempdir().unwrap();
        let real = drop_record(dir.path(), &record("aaaaaaaa", 100)).unwrap();
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            dir.path().join("1-fifo.session"),
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("2-zero.session")).unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("3-link.session")).unwrap();
        let big = fs::File::create(dir.path().join("4-big.session")).unwrap();
        big.set_len(400 << 20).unwrap();
        fs::create_dir(dir.path().join("5-folder.session")).unwrap();
        let found = waiting(dir.path()).unwrap();
        let why = |file: &str| {
            found.iter().find(|w| w.path.file_name().unwrap() == file).unwrap().record.as_ref().unwrap_err().clone()
        };
        assert_eq!(why("1-fifo.session"), "not a regular file (a FIFO, a device or a folder)");
        assert_eq!(why("2-zero.session"), "a symbolic link");
        assert_eq!(why("3-link.session"), "a symbolic link");
        assert_eq!(why("4-big.session"), "419430400 bytes, more than a record's 4096");
        assert_eq!(why("5-folder.session"), "not a regular file (a FIFO, a device or a folder)");
        let taken: Vec<_> = found.iter().filter_map(|w| w.record.as_ref().ok()).collect();
        assert_eq!(taken, [&record("aaaaaaaa", 100)], "the real record is still taken in");
    }

    #[test]
    fn a_value_cannot_add_a_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut forged = record("aaaaaaaa", 100);
        forged.client = "x\nrepository=cccccccc".into();
        let path = drop_record(dir.path(), &forged).unwrap();
        let back = SessionRecord::from_text(&fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(back.repository, "aaaaaaaa");
        assert_eq!(back.client, "xrepository=cccccccc");
    }
}

/// Sessions under way: the recorder marks each in `SPOOL/active/NAME.PID.NANOS.HOST` while borg
/// serves, so that a server-side job (a verify) can keep out of a client's way, and stop the
/// moment one comes, on this host or on a storage host sharing the spool.
pub mod active {
    use std::fs;
    use std::io;
    use std::path::{Path, PathBuf};

    /// A mark older than this is a recorder that was killed before it could remove it, on
    /// whatever host (a mark of another host cannot be checked from here).
    pub const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

    fn dir(spool: &Path) -> PathBuf {
        spool.join("active")
    }

    /// This machine's name, as marks carry it.
    fn host() -> String {
        super::one_line(&rustix::system::uname().nodename().to_string_lossy()).replace('/', "_")
    }

    /// Marks a session of `repository` as under way; `None` when the mark cannot be made
    /// (the session goes on all the same).
    pub fn mark(spool: &Path, repository: &str) -> Option<PathBuf> {
        let dir = dir(spool);
        if !dir.is_dir() {
            fs::create_dir(&dir).ok()?;
        }
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let name = format!("{}.{}.{nanos}.{}", super::one_line(repository), std::process::id(), host());
        let path = dir.join(name);
        fs::write(&path, b"").ok()?;
        Some(path)
    }

    /// Whether the recorder that made the mark `file_name` is known to be gone: it ran on this
    /// host and its process no longer exists (killed with SIGKILL, or the host restarted). A
    /// mark of another host, or of the older form without a host, is judged by its age alone.
    fn recorder_gone(file_name: &str, this_host: &str) -> bool {
        let mut parts = file_name.splitn(4, '.');
        let (Some(_), Some(pid), Some(_), Some(host)) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return false;
        };
        let Some(pid) = pid.parse::<i32>().ok().and_then(rustix::process::Pid::from_raw) else { return false };
        // ESRCH: no such process. EPERM means it exists under another user (the borg user).
        host == this_host && rustix::process::test_kill_process(pid) == Err(rustix::io::Errno::SRCH)
    }

    /// Whether a session of `repository` is under way: a mark younger than [`STALE_AFTER`]
    /// whose recorder is not known to be gone. Marks found stale are removed.
    pub fn under_way(spool: &Path, repository: &str) -> io::Result<bool> {
        let entries = match fs::read_dir(dir(spool)) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        let prefix = format!("{repository}.");
        let this_host = host();
        for entry in entries.flatten() {
            let file_name = entry.file_name().to_string_lossy().into_owned();
            if !file_name.starts_with(&prefix) {
                continue;
            }
            let age = entry.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
            if age.is_some_and(|a| a >= STALE_AFTER) || recorder_gone(&file_name, &this_host) {
                let _ = fs::remove_file(entry.path());
                continue;
            }
            return Ok(true);
        }
        Ok(false)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn a_mark_says_a_session_is_under_way_until_removed() {
            let dir = tempfile::tempdir().unwrap();
            assert!(!super::under_way(dir.path(), "aaaaaaaa").unwrap(), "no folder yet");
            let mark = super::mark(dir.path(), "aaaaaaaa").unwrap();
            assert!(super::under_way(dir.path(), "aaaaaaaa").unwrap());
            assert!(!super::under_way(dir.path(), "aaaaaaab").unwrap(), "another repository");
            // A stale mark (its recorder killed a day ago) is not a session.
            let old = std::time::SystemTime::now() - super::STALE_AFTER - std::time::Duration::from_secs(60);
            std::fs::File::options().write(true).open(&mark).unwrap().set_modified(old).unwrap();
            assert!(!super::under_way(dir.path(), "aaaaaaaa").unwrap());
            assert!(!mark.exists(), "the stale mark is cleared");
            // Records are still taken from the spool alone.
            super::mark(dir.path(), "aaaaaaaa").unwrap();
            assert!(super::super::waiting(dir.path()).unwrap().is_empty());
        }

        #[test]
        fn a_mark_whose_recorder_died_on_this_host_is_not_a_session() {
            let dir = tempfile::tempdir().unwrap();
            let active = dir.path().join("active");
            std::fs::create_dir(&active).unwrap();
            // A process that existed and is gone: a child that ended and was reaped.
            let mut child = std::process::Command::new("true").spawn().unwrap();
            let dead = child.id();
            child.wait().unwrap();
            let host = super::host();
            std::fs::write(active.join(format!("aaaaaaaa.{dead}.1.{host}")), b"").unwrap();
            assert!(!super::under_way(dir.path(), "aaaaaaaa").unwrap(), "its recorder is gone");
            assert!(!active.join(format!("aaaaaaaa.{dead}.1.{host}")).exists(), "and the mark is cleared");
            // The same dead process named by another host: this host cannot tell, the age rule does.
            std::fs::write(active.join(format!("aaaaaaaa.{dead}.1.storage-2.example.org")), b"").unwrap();
            assert!(super::under_way(dir.path(), "aaaaaaaa").unwrap());
            std::fs::remove_file(active.join(format!("aaaaaaaa.{dead}.1.storage-2.example.org"))).unwrap();
            // A mark of the older form (no host), and one of a live process here (this test).
            std::fs::write(active.join(format!("aaaaaaaa.{dead}.1")), b"").unwrap();
            assert!(super::under_way(dir.path(), "aaaaaaaa").unwrap(), "older form: by age");
            std::fs::remove_file(active.join(format!("aaaaaaaa.{dead}.1"))).unwrap();
            let live = super::mark(dir.path(), "aaaaaaaa").unwrap();
            assert!(live.file_name().unwrap().to_string_lossy().ends_with(&format!(".{host}")));
            assert!(super::under_way(dir.path(), "aaaaaaaa").unwrap(), "a live recorder");
        }
    }
}
