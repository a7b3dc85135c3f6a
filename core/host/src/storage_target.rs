//! Storage targets: mounted folders where a repository may live instead of the pool, so that
//! the pool can outgrow one disk (BorgWarehouse 3.5's layout). The repository's folder is
//! `TARGET/NAME`; the pool holds a symbolic link `POOL/NAME -> TARGET/NAME`, so its
//! `authorized_keys` line, the checks and delete all keep naming `POOL/NAME`.
//!
//! A target is written into only while it is available: an existing folder that is on another
//! filesystem than `/` (a mounted disk or network share, or a folder on one), or that carries
//! the marker file [`MARKER`] (a target deliberately on the root filesystem). An unmounted disk
//! leaves an empty folder on `/` behind its mount point: that is reported, never written into.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The file that marks a folder on the root filesystem as a storage target on purpose.
pub const MARKER: &str = ".borgwarehouse-target";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageTarget {
    /// Absolute, as configured; the identifier clients send as `storageTarget`.
    pub path: String,
    pub name: String,
}

/// What `statvfs` says of a target, and whether it may be written into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetStatus {
    pub available: bool,
    /// Why not, when not available.
    pub problem: Option<String>,
    pub total_bytes: u64,
    pub used_bytes: u64,
    pub free_bytes: u64,
}

/// The size of the filesystem holding a folder, as `df` shows it: free is what an unprivileged
/// writer (the borg user) may still use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskSpace {
    pub total_bytes: u64,
    pub used_bytes: u64,
    pub free_bytes: u64,
}

impl From<rustix::fs::StatVfs> for DiskSpace {
    fn from(s: rustix::fs::StatVfs) -> Self {
        let unit = s.f_frsize;
        DiskSpace {
            total_bytes: s.f_blocks.saturating_mul(unit),
            used_bytes: s.f_blocks.saturating_sub(s.f_bfree).saturating_mul(unit),
            free_bytes: s.f_bavail.saturating_mul(unit),
        }
    }
}

/// The filesystem holding `dir`; `None` when it cannot be read. Blocking (a hung mount).
pub fn disk_space(dir: &Path) -> Option<DiskSpace> {
    rustix::fs::statvfs(dir).ok().map(DiskSpace::from)
}

/// Why [`StorageTarget::place`] made nothing.
#[derive(Debug)]
pub enum PlaceError {
    /// The target is missing or not mounted ([`StorageTarget::problem`]).
    Unavailable(String),
    /// The target already has a folder of that name.
    Taken,
    Io(io::Error),
}

/// Parses `STORAGE_TARGETS`: `/mnt/a|Name A,/mnt/b` (a target without a name is named by its
/// path).
pub fn parse_list(text: &str) -> Result<Vec<StorageTarget>, String> {
    let mut targets: Vec<StorageTarget> = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (path, name) = match item.split_once('|') {
            Some((p, n)) => (p.trim(), n.trim()),
            None => (item, ""),
        };
        if !path.starts_with('/') {
            return Err(format!("storage target {path:?} is not an absolute path"));
        }
        if path.chars().any(char::is_control) || name.chars().any(char::is_control) {
            return Err(format!("storage target {path:?} holds a control character"));
        }
        let path = path.trim_end_matches('/');
        let path = if path.is_empty() { "/" } else { path };
        if path == "/" {
            return Err("storage target / is the root folder; name a folder on the mounted disk".into());
        }
        if targets.iter().any(|t| t.path == path) {
            return Err(format!("storage target {path} is listed twice"));
        }
        let name = if name.is_empty() { path } else { name };
        targets.push(StorageTarget { path: path.to_string(), name: name.to_string() });
    }
    Ok(targets)
}

impl StorageTarget {
    pub fn dir(&self) -> &Path {
        Path::new(&self.path)
    }

    /// Whether the target may be written into, and why not.
    pub fn problem(&self) -> Option<String> {
        let meta = match fs::metadata(self.dir()) {
            Ok(m) if m.is_dir() => m,
            Ok(_) => return Some(format!("{} is not a folder", self.path)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Some(format!("{} does not exist", self.path)),
            Err(e) => return Some(format!("{} cannot be read: {e}", self.path)),
        };
        let root_dev = fs::metadata("/").map(|m| m.dev()).ok();
        if Some(meta.dev()) == root_dev && !self.dir().join(MARKER).exists() {
            return Some(format!(
                "{} is on the root filesystem, not on a mounted one (is the disk mounted? a target on / on purpose \
                 needs the file {MARKER} in it)",
                self.path
            ));
        }
        None
    }

    pub fn status(&self) -> TargetStatus {
        let problem = self.problem();
        let space = match &problem {
            None => rustix::fs::statvfs(self.dir()).ok(),
            Some(_) => None,
        };
        match (problem, space.map(DiskSpace::from)) {
            (None, Some(d)) => TargetStatus {
                available: true,
                problem: None,
                total_bytes: d.total_bytes,
                used_bytes: d.used_bytes,
                free_bytes: d.free_bytes,
            },
            (problem, _) => TargetStatus {
                available: false,
                problem: Some(problem.unwrap_or_else(|| format!("{}: statvfs failed", self.path))),
                total_bytes: 0,
                used_bytes: 0,
                free_bytes: 0,
            },
        }
    }

    /// The repository's folder on this target.
    pub fn repo_dir(&self, name: &str) -> PathBuf {
        self.dir().join(name)
    }

    /// Makes `TARGET/NAME` (mode 0700, empty: the client's `borg init` fills it) and the link
    /// `POOL/NAME` to it, both made durable (the parent folders are synced). Refuses a target
    /// that is not available, and a name already present on either side.
    pub fn place(&self, pool: &crate::pool::Pool, name: &str) -> Result<(), PlaceError> {
        if let Some(problem) = self.problem() {
            return Err(PlaceError::Unavailable(problem));
        }
        use std::os::unix::fs::DirBuilderExt;
        let dir = self.repo_dir(name);
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(PlaceError::Taken),
            other => other.map_err(PlaceError::Io)?,
        }
        let link = pool.repo_path(name);
        if let Err(e) = std::os::unix::fs::symlink(&dir, &link) {
            let _ = fs::remove_dir(&dir);
            return Err(PlaceError::Io(e));
        }
        let sync = |d: &Path| fs::File::open(d).and_then(|f| f.sync_all()).map_err(PlaceError::Io);
        sync(self.dir())?;
        sync(pool.root())
    }

    /// Undoes [`StorageTarget::place`] for a repository that was not stored: the link, and the
    /// folder when it is still empty.
    pub fn unplace(&self, pool: &crate::pool::Pool, name: &str) {
        let link = pool.repo_path(name);
        if fs::symlink_metadata(&link).is_ok_and(|m| m.file_type().is_symlink()) {
            let _ = fs::remove_file(&link);
        }
        let _ = fs::remove_dir(self.repo_dir(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_borgwarehouse_s_list() {
        let t = parse_list("/mnt/a|Disk A, /mnt/b/ ,").unwrap();
        assert_eq!(
            t,
            [
                StorageTarget { path: "/mnt/a".into(), name: "Disk A".into() },
                StorageTarget { path: "/mnt/b".into(), name: "/mnt/b".into() }
            ]
        );
        assert!(parse_list("mnt/a").unwrap_err().contains("absolute"));
        assert!(parse_list("/mnt/a,/mnt/a/|again").unwrap_err().contains("twice"));
        assert!(parse_list("/").is_err());
        assert_eq!(parse_list("").unwrap(), []);
    }

    #[test]
    fn a_folder_on_the_root_filesystem_needs_the_marker() {
        let dir = tempfile::tempdir().unwrap();
        let target = StorageTarget { path: dir.path().to_string_lossy().into_owned(), name: "t".into() };
        let on_root = fs::metadata(dir.path()).unwrap().dev() == fs::metadata("/").unwrap().dev();
        if on_root {
            assert!(target.problem().unwrap().contains("not on a mounted one"));
            assert!(!target.status().available);
        }
        fs::write(dir.path().join(MARKER), "").unwrap();
        assert_eq!(target.problem(), None);
        let status = target.status();
        assert!(status.available && status.total_bytes > 0 && status.free_bytes <= status.total_bytes, "{status:?}");
        let missing = StorageTarget { path: dir.path().join("gone").to_string_lossy().into_owned(), name: "m".into() };
        assert!(missing.problem().unwrap().contains("does not exist"));
        assert_eq!(missing.status().total_bytes, 0);
    }

    #[test]
    fn place_makes_the_folder_and_the_link_and_unplace_takes_them_back() {
        let dir = tempfile::tempdir().unwrap();
        let pool = crate::pool::Pool::new(dir.path().join("repos"));
        pool.ensure().unwrap();
        fs::create_dir(dir.path().join("disk")).unwrap();
        fs::write(dir.path().join("disk").join(MARKER), "").unwrap();
        let target = StorageTarget { path: dir.path().join("disk").to_string_lossy().into_owned(), name: "d".into() };
        target.place(&pool, "abcd0123").unwrap();
        assert_eq!(fs::read_link(pool.repo_path("abcd0123")).unwrap(), target.repo_dir("abcd0123"));
        assert_eq!(fs::metadata(target.repo_dir("abcd0123")).unwrap().mode() & 0o777, 0o700);
        assert!(target.place(&pool, "abcd0123").is_err(), "a name already there");
        target.unplace(&pool, "abcd0123");
        assert!(fs::symlink_metadata(pool.repo_path("abcd0123")).is_err());
        assert!(!target.repo_dir("abcd0123").exists());
    }
}
