//! Paths as the files this server writes name them.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Component, Path, PathBuf};

/// `p` made absolute against the current folder, without `.` components: the forced command
/// names the pool by its full path (`/srv/data/home/repos`, not `/srv/./data/...`).
pub fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        return p.components().filter(|c| !matches!(c, Component::CurDir)).collect();
    }
    let joined = std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.to_path_buf());
    joined.components().filter(|c| !matches!(c, Component::CurDir)).collect()
}

/// Creates `dir` (and its parents) with mode 0700 when missing.
pub fn ensure_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Whether this process may make and remove entries in the folder `dir` (write and search).
pub fn can_write_in(dir: &Path) -> bool {
    rustix::fs::access(dir, rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK).is_ok()
}

/// The process holding a lock on `path`, from `/proc/locks` (`ID: FLOCK ADVISORY WRITE PID
/// MAJ:MIN:INODE START END`), matched by inode.
pub fn lock_holder(path: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let inode = std::fs::metadata(path).ok()?.ino();
    std::fs::read_to_string("/proc/locks").ok()?.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (pid, file) = (fields.get(4)?, fields.get(5)?);
        (file.rsplit(':').next()?.parse::<u64>().ok()? == inode).then(|| pid.parse().ok())?
    })
}
