//! Reading a repository's folder: its last backup time and its disk usage.
//!
//! Behind a trait so the checks can be given a stand-in (tests use one that hangs like a dead
//! external mount); [`FsScanner`] is the real thing.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

pub trait RepoScanner: Send + Sync + 'static {
    /// Newest mtime (unix seconds) of the folder's `integrity.*` files, following a symlinked
    /// folder; `None` when there is no folder or no such file.
    fn last_save(&self, dir: &Path) -> io::Result<Option<i64>>;

    /// KiB used, as `du -s -L` counts it: allocated blocks, each inode once, symbolic links
    /// followed; `None` when there is no folder.
    fn disk_usage_kib(&self, dir: &Path) -> io::Result<Option<u64>>;
}

pub struct FsScanner;

impl RepoScanner for FsScanner {
    fn last_save(&self, dir: &Path) -> io::Result<Option<i64>> {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return absent(dir),
            Err(e) => return Err(e),
        };
        let mut newest: Option<i64> = None;
        for entry in entries {
            let entry = entry?;
            if !entry.file_name().as_encoded_bytes().starts_with(b"integrity.") {
                continue;
            }
            // Relative to the open folder (no path to build and resolve); a symbolic link is
            // followed as before.
            let meta = match entry.file_type() {
                Ok(t) if t.is_symlink() => fs::metadata(entry.path()),
                _ => entry.metadata(),
            };
            let Ok(meta) = meta else { continue };
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            newest = Some(newest.map_or(mtime, |n| n.max(mtime)));
        }
        Ok(newest)
    }

    fn disk_usage_kib(&self, dir: &Path) -> io::Result<Option<u64>> {
        let root = match fs::metadata(dir) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return absent(dir),
            Err(e) => return Err(e),
        };
        let mut seen: HashSet<(u64, u64)> = HashSet::new();
        let mut blocks: u64 = 0;
        seen.insert((root.dev(), root.ino()));
        blocks += root.blocks();
        let mut stack: Vec<PathBuf> = Vec::new();
        if root.is_dir() {
            stack.push(dir.to_path_buf());
        }
        while let Some(d) = stack.pop() {
            let Ok(entries) = fs::read_dir(&d) else { continue };
            for entry in entries.flatten() {
                let path = entry.path();
                // `-L`: follow every symbolic link; a broken one counts nothing, as with du.
                let Ok(meta) = fs::metadata(&path) else { continue };
                if !seen.insert((meta.dev(), meta.ino())) {
                    continue;
                }
                blocks += meta.blocks();
                if meta.is_dir() {
                    stack.push(path);
                }
            }
        }
        // st_blocks counts 512-byte units; du rounds the KiB total up.
        Ok(Some(blocks.div_ceil(2)))
    }
}

/// A repository without a folder has never been initialised (`None`), but a link whose target
/// is gone is a storage target that is not mounted: an error, so that the check keeps the
/// repository's figures instead of reading it as empty.
fn absent<T>(dir: &Path) -> io::Result<Option<T>> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => Err(io::Error::other(format!(
            "{} links to {}, which is missing (storage target not mounted?)",
            dir.display(),
            fs::read_link(dir).map(|t| t.display().to_string()).unwrap_or_default()
        ))),
        _ => Ok(None),
    }
}

/// Why one repository could not be read during a check.
#[derive(Debug)]
pub enum ScanFailure {
    TimedOut,
    Io(String),
}

impl std::fmt::Display for ScanFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScanFailure::TimedOut => write!(f, "timed out"),
            ScanFailure::Io(e) => write!(f, "{e}"),
        }
    }
}

/// How many repositories are read at once.
const PARALLEL: usize = 8;

/// How often the run looks for a read that has passed its time.
const WATCH_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// A repository as a check sees it: which record, which folder.
#[derive(Debug, Clone)]
pub struct ScanTarget {
    pub id: u64,
    pub repository_name: String,
}

/// What one reader is doing, for the watch: the index of the repository it reads and since
/// when; `None` between two.
type Busy = std::sync::Mutex<Option<(usize, std::time::Instant)>>;

/// Reads every repository's folder with `work`, [`PARALLEL`] readers at a time, each read within
/// the configured timeout. A reader is a blocking thread that takes repositories one after the
/// other (no task per repository: 100,000 of them would cost more than the reads). A read that
/// passes its time is reported as timed out, its reader is left behind (a dead mount's read
/// cannot be cancelled) and a new reader takes over. Results come in id order. (Called through
/// `AppState::scan_all`, which gives it the store's repositories, the reader and the timeout.)
pub async fn scan_all<T: Send + 'static>(
    targets: Vec<ScanTarget>,
    pool: &crate::pool::Pool,
    scanner: std::sync::Arc<dyn RepoScanner>,
    timeout: std::time::Duration,
    work: fn(&dyn RepoScanner, &Path) -> io::Result<T>,
) -> Vec<(ScanTarget, Result<T, ScanFailure>)> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;

    let paths: Arc<Vec<PathBuf>> = Arc::new(targets.iter().map(|t| pool.repo_path(&t.repository_name)).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Result<T, ScanFailure>)>();

    struct Reader {
        busy: Arc<Busy>,
        abandoned: Arc<AtomicBool>,
    }
    let spawn_reader = || {
        let reader = Reader { busy: Arc::new(Busy::new(None)), abandoned: Arc::new(AtomicBool::new(false)) };
        let (busy, abandoned) = (reader.busy.clone(), reader.abandoned.clone());
        let (paths, next, tx, scanner) = (paths.clone(), next.clone(), tx.clone(), scanner.clone());
        tokio::task::spawn_blocking(move || loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(path) = paths.get(i) else { break };
            *busy.lock().unwrap_or_else(|p| p.into_inner()) = Some((i, std::time::Instant::now()));
            let result = work(scanner.as_ref(), path).map_err(|e| ScanFailure::Io(e.to_string()));
            *busy.lock().unwrap_or_else(|p| p.into_inner()) = None;
            // Given up on by the watch: its repository is already reported, and another reader
            // took its place.
            if abandoned.load(Ordering::Acquire) || tx.send((i, result)).is_err() {
                break;
            }
        });
        reader
    };
    let mut readers: Vec<Reader> = (0..PARALLEL.min(targets.len())).map(|_| spawn_reader()).collect();
    let mut results: Vec<Option<Result<T, ScanFailure>>> = (0..targets.len()).map(|_| None).collect();
    let mut received = 0;
    while received < targets.len() {
        match tokio::time::timeout(WATCH_EVERY, rx.recv()).await {
            Ok(Some((i, result))) => {
                if results[i].is_none() {
                    received += 1;
                }
                results[i] = Some(result);
            }
            Ok(None) => break,
            Err(_) => {}
        }
        // Readers stuck past the timeout: report their repository, replace them.
        let mut replace = 0;
        for reader in &readers {
            let stuck = match *reader.busy.lock().unwrap_or_else(|p| p.into_inner()) {
                Some((i, since)) if since.elapsed() >= timeout => Some(i),
                _ => None,
            };
            if let Some(i) = stuck {
                if !reader.abandoned.swap(true, Ordering::AcqRel) {
                    if results[i].is_none() {
                        received += 1;
                    }
                    results[i] = Some(Err(ScanFailure::TimedOut));
                    replace += 1;
                }
            }
        }
        readers.retain(|r| !r.abandoned.load(Ordering::Acquire));
        for _ in 0..replace {
            readers.push(spawn_reader());
        }
    }
    drop(tx);
    targets
        .into_iter()
        .zip(results)
        .map(|(t, r)| (t, r.unwrap_or_else(|| Err(ScanFailure::Io("not read".into())))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::process::Command;

    fn du(dir: &Path) -> u64 {
        let out = Command::new("du").arg("-s").arg("-L").arg(dir).output().unwrap();
        String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().parse().unwrap()
    }

    #[test]
    fn disk_usage_matches_du() {
        let d = tempfile::tempdir().unwrap();
        let repo = d.path().join("repo");
        fs::create_dir_all(repo.join("data/0")).unwrap();
        for i in 0..20 {
            fs::write(repo.join(format!("data/0/{i}")), vec![i as u8; 1000 + i * 3000]).unwrap();
        }
        fs::hard_link(repo.join("data/0/5"), repo.join("hardlink")).unwrap();
        let ext = d.path().join("ext");
        fs::create_dir_all(&ext).unwrap();
        fs::write(ext.join("big"), vec![1u8; 200_000]).unwrap();
        symlink(&ext, repo.join("linked")).unwrap();
        symlink(d.path().join("missing"), repo.join("broken")).unwrap();
        let sparse = fs::File::create(repo.join("sparse")).unwrap();
        sparse.set_len(10_000_000).unwrap();
        assert_eq!(FsScanner.disk_usage_kib(&repo).unwrap(), Some(du(&repo)));

        // A symlinked repository folder is followed.
        let outside = d.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("f"), vec![0u8; 50_000]).unwrap();
        symlink(&outside, d.path().join("aaaaaaaa")).unwrap();
        assert_eq!(FsScanner.disk_usage_kib(&d.path().join("aaaaaaaa")).unwrap(), Some(du(&outside)));
        assert_eq!(FsScanner.disk_usage_kib(&d.path().join("nope")).unwrap(), None);
    }

    #[test]
    fn last_save_is_the_newest_integrity_file() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(FsScanner.last_save(&d.path().join("nope")).unwrap(), None);
        assert_eq!(FsScanner.last_save(d.path()).unwrap(), None);
        // A repository on a storage target that is not mounted: an error, not "never backed up".
        symlink(d.path().join("unmounted/abcd0123"), d.path().join("abcd0123")).unwrap();
        let err = FsScanner.last_save(&d.path().join("abcd0123")).unwrap_err();
        assert!(err.to_string().contains("storage target not mounted"), "{err}");
        assert!(FsScanner.disk_usage_kib(&d.path().join("abcd0123")).is_err());
        for (name, t) in [("integrity.5", 1_000_000), ("integrity.9", 2_000_000), ("index.9", 3_000_000)] {
            let f = fs::File::create(d.path().join(name)).unwrap();
            f.set_modified(UNIX_EPOCH + std::time::Duration::from_secs(t)).unwrap();
        }
        assert_eq!(FsScanner.last_save(d.path()).unwrap(), Some(2_000_000));
    }
}
