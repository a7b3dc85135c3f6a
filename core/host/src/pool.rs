//! The folder that holds every repository, `HOME/repos`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::paths::ensure_private_dir;

#[derive(Debug, Clone)]
pub struct Pool {
    root: PathBuf,
}

impl Pool {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates the pool with mode 0700 when missing; repositories themselves are made by the
    /// client's `borg init`.
    pub fn ensure(&self) -> io::Result<()> {
        ensure_private_dir(&self.root)
    }

    pub fn repo_path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Removes a repository's folder. A symbolic link (external storage) has its target removed
    /// only when the target's last component is the repository's name, then the link itself;
    /// nothing else is followed. A missing folder is not an error (never initialised).
    pub fn remove_repo(&self, name: &str) -> io::Result<()> {
        if !is_repo_name(name) {
            return Err(io::Error::other(format!("refusing to remove {name:?}: not a repository name")));
        }
        let path = self.repo_path(name);
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&path)?;
            let target = if target.is_absolute() { target } else { self.root.join(target) };
            if target.file_name().map(|n| n == name).unwrap_or(false) {
                match fs::symlink_metadata(&target) {
                    Ok(m) if m.is_dir() => fs::remove_dir_all(&target)?,
                    Ok(_) => {
                        tracing::warn!(target = %target.display(), "repository link points at a non-folder; left in place")
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            } else {
                tracing::warn!(link = %path.display(), target = %target.display(),
                    "repository link target is not named after the repository; only the link is removed");
            }
            fs::remove_file(&path)
        } else if meta.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        }
    }
}

/// Repository names are 8 lowercase hex characters.
pub fn is_repo_name(name: &str) -> bool {
    name.len() == 8 && name.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A repository name held as the number its 8 hex characters spell (4 bytes where in-memory
/// maps key on names); it displays as the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NameCode(pub u32);

impl NameCode {
    /// The code of `name`; `None` for anything [`is_repo_name`] refuses.
    pub fn of(name: &str) -> Option<NameCode> {
        is_repo_name(name).then(|| u32::from_str_radix(name, 16).ok().map(NameCode)).flatten()
    }
}

impl std::fmt::Display for NameCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn removes_folder_and_guards_links() {
        let d = tempfile::tempdir().unwrap();
        let pool = Pool::new(d.path().join("repos"));
        pool.ensure().unwrap();
        fs::create_dir_all(pool.repo_path("aaaaaaaa").join("data")).unwrap();
        pool.remove_repo("aaaaaaaa").unwrap();
        assert!(!pool.repo_path("aaaaaaaa").exists());

        // A link to a folder named after the repository: both go.
        let ext = d.path().join("ext");
        fs::create_dir_all(ext.join("bbbbbbbb/data")).unwrap();
        symlink(ext.join("bbbbbbbb"), pool.repo_path("bbbbbbbb")).unwrap();
        pool.remove_repo("bbbbbbbb").unwrap();
        assert!(!ext.join("bbbbbbbb").exists());
        assert!(fs::symlink_metadata(pool.repo_path("bbbbbbbb")).is_err());

        // A link elsewhere: only the link goes.
        fs::create_dir_all(ext.join("precious")).unwrap();
        symlink(ext.join("precious"), pool.repo_path("cccccccc")).unwrap();
        pool.remove_repo("cccccccc").unwrap();
        assert!(ext.join("precious").is_dir());
        assert!(fs::symlink_metadata(pool.repo_path("cccccccc")).is_err());

        assert!(pool.remove_repo("../x").is_err());
        pool.remove_repo("dddddddd").unwrap();
    }
}
