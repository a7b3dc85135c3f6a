//! Large values written whole and read in parts: the checks' figures of every repository
//! ([`crate::repo_store`]) and each check run's points ([`crate::history`]), a few MiB each at
//! 100,000 repositories.
//!
//! Beside the embedded store they are files in the data folder: sled keeps every page it wrote
//! in its cache (measured: 170 MiB of heap after 320 history answers read from it), and a file
//! is read with a few `pread`s whose pages stay in the kernel's cache. With a database several
//! servers share they are entries of a table there, since a file in one server's data folder is
//! not seen by the others (their figures and history would stop at their last start, and a
//! takeover would start from stale ones). PostgreSQL stores such an entry out of line and
//! uncompressed, so a part is read without the rest ([`Table::get_part_raw`]).
//!
//! Either way a write replaces the whole value atomically: a crash leaves the old one or the
//! new one, never half of either.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::backend::{SharedBackend, Table};
use crate::store_error::{StoreError, StoreResult};

pub enum Bulk {
    /// One file per name in this folder.
    Folder(PathBuf),
    /// One entry per name in this table.
    Table(Arc<dyn Table>),
}

impl Bulk {
    /// Files in `folder` beside a store one server owns; the table `table` of a database
    /// several servers may share ([`crate::backend::Backend::shared_by_servers`]).
    pub fn beside(db: &SharedBackend, folder: &Path, table: &str) -> StoreResult<Bulk> {
        if db.shared_by_servers() {
            return Ok(Bulk::Table(db.table(table)?));
        }
        fs::create_dir_all(folder).map_err(|e| StoreError::io(folder, e))?;
        Ok(Bulk::Folder(folder.to_path_buf()))
    }

    /// Where the values are, for messages.
    pub fn place(&self) -> String {
        match self {
            Bulk::Folder(dir) => dir.display().to_string(),
            Bulk::Table(_) => "the database".to_string(),
        }
    }

    fn io(&self, name: &str, e: io::Error) -> StoreError {
        match self {
            Bulk::Folder(dir) => StoreError::io(dir.join(name), e),
            Bulk::Table(_) => StoreError::io(name, e),
        }
    }

    /// Replaces the value `name` with `bytes`, whole: a file under a temporary name, synced,
    /// renamed into place and its folder synced; an entry in one statement.
    pub fn put(&self, name: &str, bytes: &[u8]) -> StoreResult<()> {
        self.put_all(&[(name, bytes)])
    }

    /// Replaces each value of `values`, each whole as [`Bulk::put`] says, the folder synced
    /// once for all of them. Not all at once: a crash may leave some replaced and some not.
    pub fn put_all(&self, values: &[(&str, &[u8])]) -> StoreResult<()> {
        let dir = match self {
            // One statement each: each tells the other servers which value it replaced.
            Bulk::Table(t) => return values.iter().try_for_each(|(name, bytes)| t.insert(*name, *bytes)),
            Bulk::Folder(dir) => dir,
        };
        // A temporary name of its own per write: two writers of one name must not share a
        // temporary file; the later rename wins, whole.
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let mut written: Vec<PathBuf> = Vec::new();
        let mut at = "";
        let result = (|| {
            for (name, bytes) in values {
                at = name;
                let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
                written.push(tmp.clone());
                let mut f = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
                f.write_all(bytes)?;
                f.sync_all()?;
            }
            for (tmp, (name, _)) in written.iter().zip(values) {
                at = name;
                fs::rename(tmp, dir.join(name))?;
            }
            File::open(dir)?.sync_all()
        })();
        if let Err(e) = result {
            for tmp in &written {
                let _ = fs::remove_file(tmp);
            }
            return Err(self.io(at, e));
        }
        Ok(())
    }

    /// The whole value `name`, `None` when there is none.
    pub fn get(&self, name: &str) -> StoreResult<Option<Vec<u8>>> {
        match self {
            Bulk::Table(t) => Ok(t.get(name)?.map(|b| b.to_vec())),
            Bulk::Folder(dir) => match fs::read(dir.join(name)) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(self.io(name, e)),
            },
        }
    }

    /// `len` bytes of the value `name` from `offset`; `None` when there is no such value. A
    /// value that ends before `offset + len` is an error (it was written whole, so it is not
    /// what its reader thinks it is).
    pub fn get_part(&self, name: &str, offset: u64, len: usize) -> StoreResult<Option<Vec<u8>>> {
        let part = match self {
            Bulk::Table(t) => t.get_part_raw(name.as_bytes(), offset, len)?.map(|b| b.to_vec()),
            Bulk::Folder(dir) => {
                let f = match File::open(dir.join(name)) {
                    Ok(f) => f,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(self.io(name, e)),
                };
                let mut buf = vec![0u8; len];
                f.read_exact_at(&mut buf, offset).map_err(|e| self.io(name, e))?;
                Some(buf)
            }
        };
        match part {
            Some(p) if p.len() != len => {
                Err(StoreError::corrupt(name, format!("ends before byte {}", offset + len as u64)))
            }
            other => Ok(other),
        }
    }

    /// Forgets the value `name`; nothing when there is none.
    pub fn remove(&self, name: &str) -> StoreResult<()> {
        match self {
            Bulk::Table(t) => t.remove(name).map(drop),
            Bulk::Folder(dir) => match fs::remove_file(dir.join(name)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(self.io(name, e)),
                _ => Ok(()),
            },
        }
    }

    /// The names of the values kept (in a folder: those a crash left under a temporary name
    /// too, which start with a dot).
    pub fn names(&self) -> StoreResult<Vec<String>> {
        match self {
            // The keys alone: the values are the large ones.
            Bulk::Table(t) => Ok(t.keys_raw()?.iter().map(|k| String::from_utf8_lossy(k).into_owned()).collect()),
            Bulk::Folder(dir) => Ok(fs::read_dir(dir)
                .map_err(|e| StoreError::io(dir, e))?
                .flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn each_place(test: impl Fn(&Bulk)) {
        let dir = tempfile::tempdir().unwrap();
        test(&Bulk::Folder(dir.path().to_path_buf()));
        let db: SharedBackend = Arc::new(crate::backend::InMemoryBackend::default());
        test(&Bulk::Table(db.table("bulk").unwrap()));
    }

    #[test]
    fn a_value_is_written_whole_and_read_in_parts() {
        each_place(|bulk| {
            assert_eq!(bulk.get("a").unwrap(), None);
            assert_eq!(bulk.get_part("a", 0, 4).unwrap(), None);
            bulk.put("a", b"0123456789").unwrap();
            bulk.put("a", b"abcdefghij").unwrap();
            assert_eq!(bulk.get("a").unwrap().as_deref(), Some(&b"abcdefghij"[..]));
            assert_eq!(bulk.get_part("a", 3, 4).unwrap().as_deref(), Some(&b"defg"[..]));
            assert!(bulk.get_part("a", 8, 4).is_err(), "a part past the end is an error");
            bulk.put("b", b"").unwrap();
            let mut names = bulk.names().unwrap();
            names.sort();
            assert_eq!(names, ["a", "b"]);
            bulk.remove("a").unwrap();
            bulk.remove("a").unwrap();
            assert_eq!(bulk.names().unwrap(), ["b"]);
        });
    }
}
