//! One server per borg home. Two servers with their own data folders over one home would each
//! take the other's key lines for their own (a start adopts every line and key file it finds)
//! and rewrite `authorized_keys` against two stores. Each server holds an exclusive `flock` on
//! `HOME/.borgwarehouse.lock` while it runs, with its data folder written inside, so a second
//! one is refused with the name of the first.
//!
//! Servers on one database share the home by design (one truth, and the key folder, pool and
//! spool on storage they all reach): each holds the lock shared, which still keeps out a server
//! with a store of its own, and is kept out by one.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Held while this process serves the home; released when dropped (or when the process ends,
/// however it ends: the kernel drops a `flock` with its last descriptor).
#[derive(Debug)]
pub struct HomeLock {
    _file: File,
}

/// Why the home could not be locked.
#[derive(Debug)]
pub enum HomeLockError {
    /// Another process holds it: its data folder as it wrote it, and its pid when known.
    Held {
        data_dir: String,
        pid: Option<u32>,
    },
    Io(PathBuf, std::io::Error),
}

/// The lock file of `home`.
pub fn path(home: &Path) -> PathBuf {
    home.join(".borgwarehouse.lock")
}

/// Takes the home for the server whose data folder is `data_dir`: alone, or `shared` with the
/// other servers of its database.
pub fn lock(home: &Path, data_dir: &Path, shared: bool) -> Result<HomeLock, HomeLockError> {
    let path = path(home);
    let io = |e| HomeLockError::Io(path.clone(), e);
    let mut file =
        std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
    let how = match shared {
        true => rustix::fs::FlockOperation::NonBlockingLockShared,
        false => rustix::fs::FlockOperation::NonBlockingLockExclusive,
    };
    match rustix::fs::flock(&file, how) {
        Ok(()) => {}
        Err(rustix::io::Errno::WOULDBLOCK) => {
            let mut held_by = String::new();
            let _ = file.read_to_string(&mut held_by);
            let pid = crate::paths::lock_holder(&path);
            return Err(HomeLockError::Held { data_dir: held_by.trim().to_string(), pid });
        }
        Err(e) => return Err(io(e.into())),
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    writeln!(file, "{}", crate::paths::absolute(data_dir).display()).map_err(io)?;
    Ok(HomeLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_data_folder() {
        let home = tempfile::tempdir().unwrap();
        let first = lock(home.path(), Path::new("/srv/first-data"), false).unwrap();
        match lock(home.path(), Path::new("/srv/second-data"), false) {
            Err(HomeLockError::Held { data_dir, pid }) => {
                assert_eq!(data_dir, "/srv/first-data");
                assert_eq!(pid, Some(std::process::id()));
            }
            other => panic!("a second lock: {other:?}"),
        }
        drop(first);
        lock(home.path(), Path::new("/srv/second-data"), false).expect("free again once the first is gone");
    }

    #[test]
    fn servers_of_one_database_share_the_home_and_keep_a_server_of_its_own_out() {
        let home = tempfile::tempdir().unwrap();
        let one = lock(home.path(), Path::new("/srv/one"), true).unwrap();
        let two = lock(home.path(), Path::new("/srv/two"), true).expect("a second server of the database");
        assert!(matches!(lock(home.path(), Path::new("/srv/own"), false), Err(HomeLockError::Held { .. })));
        drop((one, two));
        let own = lock(home.path(), Path::new("/srv/own"), false).unwrap();
        match lock(home.path(), Path::new("/srv/one"), true) {
            Err(HomeLockError::Held { data_dir, .. }) => assert_eq!(data_dir, "/srv/own"),
            other => panic!("a database server beside one of its own: {other:?}"),
        }
        drop(own);
    }
}
