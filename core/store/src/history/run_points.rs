//! Check runs' points, one value per run ([`crate::bulk`]: a file `DATA_DIR/history/AT.run`
//! beside the embedded store, an entry of the database's `history_runs` otherwise): every
//! repository's (id, storage used, last save) sorted by id after a 32-byte header (magic,
//! count, lowest and highest id). Kept out of sled, whose page cache grew to 170 MiB of heap
//! after 320 history answers read from it at 100,000 repositories (measured): a run is read
//! a few records at a time (an interpolation search on dense ids), and what it reads stays in
//! the kernel's page cache (or the database's), not in the server's memory. A run is written
//! whole: a crash leaves the old one or the new one, never half of one.

use crate::bulk::Bulk;
use crate::store_error::{StoreError, StoreResult};

const MAGIC: &[u8; 8] = b"BWRUN1\0\0";
const HEAD: u64 = 32;
const RECORD: u64 = 24;

pub struct RunPoints {
    bulk: Bulk,
}

fn be(bytes: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

fn name(at: i64) -> String {
    format!("{at}.run")
}

impl RunPoints {
    pub fn new(bulk: Bulk) -> RunPoints {
        RunPoints { bulk }
    }

    /// Writes the run at `at` (points sorted by id, each id once), replacing one there.
    pub fn write(&self, at: i64, sorted: &[(u64, u64, i64)]) -> StoreResult<()> {
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
        self.bulk.put(&name(at), &bytes)
    }

    /// The header of the run at `at`: its count, lowest and highest id; `None` when there is
    /// no such run.
    fn head(&self, at: i64) -> StoreResult<Option<(u64, u64, u64)>> {
        let Some(head) = self.bulk.get_part(&name(at), 0, HEAD as usize)? else { return Ok(None) };
        if &head[..8] != MAGIC {
            return Err(StoreError::corrupt(name(at), "not a history run"));
        }
        Ok(Some((be(&head, 8), be(&head, 16), be(&head, 24))))
    }

    /// How many records the run at `at` holds (0 when there is none).
    pub fn count(&self, at: i64) -> StoreResult<u64> {
        Ok(self.head(at)?.map_or(0, |(count, _, _)| count))
    }

    /// `id`'s storage used and last save in the run at `at`.
    pub fn find(&self, at: i64, id: u64) -> StoreResult<Option<(u64, i64)>> {
        let Some((count, min, max)) = self.head(at)? else { return Ok(None) };
        if count == 0 || id < min || id > max {
            return Ok(None);
        }
        let read = |i: u64| -> StoreResult<(u64, u64, i64)> {
            let r = self
                .bulk
                .get_part(&name(at), HEAD + i * RECORD, RECORD as usize)?
                .ok_or_else(|| StoreError::corrupt(name(at), "gone while read"))?;
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
    pub fn records(&self, at: i64) -> StoreResult<Vec<(u64, u64, i64)>> {
        let Some((count, _, _)) = self.head(at)? else { return Ok(Vec::new()) };
        let Some(bytes) = self.bulk.get_part(&name(at), HEAD, (count * RECORD) as usize)? else {
            return Ok(Vec::new());
        };
        Ok(bytes.chunks_exact(RECORD as usize).map(|r| (be(r, 0), be(r, 8), be(r, 16) as i64)).collect())
    }

    /// Forgets the run at `at`.
    pub fn remove(&self, at: i64) -> StoreResult<()> {
        self.bulk.remove(&name(at))
    }

    /// The times of the runs kept, in no order.
    pub fn times(&self) -> StoreResult<Vec<i64>> {
        Ok(self.bulk.names()?.iter().filter_map(|n| n.strip_suffix(".run")?.parse().ok()).collect())
    }

    /// How many runs are kept.
    #[cfg(test)]
    pub fn len(&self) -> StoreResult<usize> {
        self.times().map(|t| t.len())
    }

    /// Forgets every run, and what a crash left under a temporary name.
    pub fn clear(&self) -> StoreResult<()> {
        for name in self.bulk.names()? {
            if name.ends_with(".run") || name.ends_with(".tmp") {
                self.bulk.remove(&name)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::RunPoints;
    use crate::bulk::Bulk;

    #[test]
    fn every_id_is_found_in_dense_and_sparse_runs() {
        let dir = tempfile::tempdir().unwrap();
        let db: crate::backend::SharedBackend = std::sync::Arc::new(crate::backend::InMemoryBackend::default());
        for runs in [Bulk::Folder(dir.path().to_path_buf()), Bulk::Table(db.table("runs").unwrap())].map(RunPoints::new)
        {
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
}
