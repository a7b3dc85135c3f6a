//! Check runs' points, one file per run: `DATA_DIR/history/runs/AT.run`, every repository's
//! (id, storage used, last save) sorted by id after a 32-byte header (magic, count, lowest and
//! highest id). Kept out of sled, whose page cache grew to 170 MiB of heap after 320 history
//! answers read from it at 100,000 repositories (measured): a file is read with a few `pread`s
//! (an interpolation search on dense ids), and what it reads stays in the kernel's page cache,
//! not in the server's memory. Each file is written under a temporary name, synced, and
//! renamed into place: a crash leaves the old file or the new one, never half of one.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"BWRUN1\0\0";
const HEAD: u64 = 32;
const RECORD: u64 = 24;

pub struct RunFiles {
    dir: PathBuf,
}

fn be(bytes: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

impl RunFiles {
    pub fn open(dir: &Path) -> io::Result<RunFiles> {
        fs::create_dir_all(dir)?;
        Ok(RunFiles { dir: dir.to_path_buf() })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, at: i64) -> PathBuf {
        self.dir.join(format!("{at}.run"))
    }

    /// Writes the run at `at` (points sorted by id, each id once), replacing one there.
    pub fn write(&self, at: i64, sorted: &[(u64, u64, i64)]) -> io::Result<()> {
        let path = self.path(at);
        // A name of its own per write: two checks recording the same second must not write
        // into one temporary file; the later rename wins, whole.
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = self.dir.join(format!(".{at}.{n}.run.tmp"));
        let mut bytes = Vec::with_capacity(HEAD as usize + sorted.len() * RECORD as usize);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&(sorted.len() as u64).to_be_bytes());
        bytes.extend_from_slice(&sorted.first().map_or(0, |p| p.0).to_be_bytes());
        bytes.extend_from_slice(&sorted.last().map_or(0, |p| p.0).to_be_bytes());
        for &(id, used, last) in sorted {
            bytes.extend_from_slice(&id.to_be_bytes());
            bytes.extend_from_slice(&used.to_be_bytes());
            bytes.extend_from_slice(&last.to_be_bytes());
        }
        let result = (|| {
            let mut f = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            File::open(&self.dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// The header of the run at `at`: its file, count, lowest and highest id; `None` when there
    /// is no such run.
    fn head(&self, at: i64) -> io::Result<Option<(File, u64, u64, u64)>> {
        let f = match File::open(self.path(at)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut head = [0u8; HEAD as usize];
        f.read_exact_at(&mut head, 0)?;
        if &head[..8] != MAGIC {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "not a history run file"));
        }
        Ok(Some((f, be(&head, 8), be(&head, 16), be(&head, 24))))
    }

    /// How many records the run at `at` holds (0 when there is none).
    pub fn count(&self, at: i64) -> io::Result<u64> {
        Ok(self.head(at)?.map_or(0, |(_, count, _, _)| count))
    }

    /// `id`'s storage used and last save in the run at `at`.
    pub fn find(&self, at: i64, id: u64) -> io::Result<Option<(u64, i64)>> {
        let Some((f, count, min, max)) = self.head(at)? else { return Ok(None) };
        if count == 0 || id < min || id > max {
            return Ok(None);
        }
        let read = |i: u64| -> io::Result<(u64, u64, i64)> {
            let mut r = [0u8; RECORD as usize];
            f.read_exact_at(&mut r, HEAD + i * RECORD)?;
            Ok((be(&r, 0), be(&r, 8), be(&r, 16) as i64))
        };
        // Ids are given in order and rarely skipped: a guess from the id's place between the
        // bounds usually lands on it; every other step halves, so the worst case stays log n.
        let (mut lo, mut hi, mut lo_id, mut hi_id) = (0u64, count - 1, min, max);
        let mut step = 0u32;
        while lo <= hi {
            let guess = if step.is_multiple_of(2) && hi_id > lo_id {
                lo + ((id.saturating_sub(lo_id)) as u128 * (hi - lo) as u128 / (hi_id - lo_id) as u128) as u64
            } else {
                lo + (hi - lo) / 2
            }
            .clamp(lo, hi);
            step += 1;
            let (rid, used, last) = read(guess)?;
            match rid.cmp(&id) {
                std::cmp::Ordering::Equal => return Ok(Some((used, last))),
                std::cmp::Ordering::Less => {
                    lo = guess + 1;
                    lo_id = rid + 1;
                }
                std::cmp::Ordering::Greater => {
                    if guess == 0 {
                        break;
                    }
                    hi = guess - 1;
                    hi_id = rid.saturating_sub(1);
                }
            }
        }
        Ok(None)
    }

    /// Every record of the run at `at` (empty when there is none).
    pub fn records(&self, at: i64) -> io::Result<Vec<(u64, u64, i64)>> {
        let Some((f, count, _, _)) = self.head(at)? else { return Ok(Vec::new()) };
        let mut bytes = vec![0u8; (count * RECORD) as usize];
        f.read_exact_at(&mut bytes, HEAD)?;
        Ok(bytes.chunks_exact(RECORD as usize).map(|r| (be(r, 0), be(r, 8), be(r, 16) as i64)).collect())
    }

    /// Forgets the run at `at`.
    pub fn remove(&self, at: i64) -> io::Result<()> {
        match fs::remove_file(self.path(at)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// The times of the runs kept, in no order.
    pub fn times(&self) -> io::Result<Vec<i64>> {
        Ok(fs::read_dir(&self.dir)?
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".run")?.parse().ok())
            .collect())
    }

    /// How many runs are kept.
    #[cfg(test)]
    pub fn len(&self) -> io::Result<usize> {
        Ok(fs::read_dir(&self.dir)?.flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".run")).count())
    }

    /// Forgets every run.
    pub fn clear(&self) -> io::Result<()> {
        for entry in fs::read_dir(&self.dir)?.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".run") || name.ends_with(".run.tmp") {
                fs::remove_file(entry.path())?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::RunFiles;

    #[test]
    fn every_id_is_found_in_dense_and_sparse_runs() {
        let dir = tempfile::tempdir().unwrap();
        let runs = RunFiles::open(dir.path()).unwrap();
        let dense: Vec<(u64, u64, i64)> = (1..=5000).map(|id| (id, id * 2, -(id as i64))).collect();
        let sparse: Vec<(u64, u64, i64)> =
            [1u64, 2, 3, 1000, 1001, 50_000, 1 << 40].iter().map(|&id| (id, id, 0)).collect();
        runs.write(10, &dense).unwrap();
        runs.write(-20, &sparse).unwrap();
        for id in 1..=5000 {
            assert_eq!(runs.find(10, id).unwrap(), Some((id * 2, -(id as i64))), "{id}");
        }
        for &(id, ..) in &sparse {
            assert_eq!(runs.find(-20, id).unwrap(), Some((id, 0)), "{id}");
        }
        for missing in [0, 4, 999, 1002, 49_999, 50_001, u64::MAX] {
            assert_eq!(runs.find(-20, missing).unwrap(), None, "{missing}");
        }
        assert_eq!(runs.find(11, 1).unwrap(), None, "no such run");
        assert_eq!(runs.records(10).unwrap().len(), 5000);
        assert_eq!(runs.len().unwrap(), 2);
        runs.remove(10).unwrap();
        runs.remove(10).unwrap();
        assert_eq!(runs.len().unwrap(), 1);
        runs.write(5, &[]).unwrap();
        assert_eq!(runs.find(5, 1).unwrap(), None, "an empty run");
        runs.clear().unwrap();
        assert_eq!(runs.len().unwrap(), 0);
    }
}
