//! `DATA_DIR/checks.bin` (with a database several servers share, its entry in the table
//! `repo_checks`: [`crate::bulk`]): the checks' figures of every repository (last backup, disk
//! used, status, last alert), saved whole after each check run. One sequential write of about 30
//! bytes per repository, where rewriting each changed record in sled would keep every written
//! page in memory (measured: 3.7 MB per 10,000 rewritten records).
//!
//! Records carry the figures too, as of their last write (create, edit, import). Each side
//! carries a number from the store's monotonic counter ([`crate::backend::Backend::generate_id`]),
//! so at start-up the newer of the two wins for each repository; the other servers on a shared
//! database read the figures again each time the one running the checks saves them. A crash before the file is saved loses only that run's
//! figures, which the next run reads again from the folders.

use serde::{Deserialize, Serialize};

use super::record::Scan;
use crate::bulk::Bulk;
use crate::store_error::{StoreError, StoreResult};

const MAGIC: &[u8; 8] = b"BWCHK\x00\x00\x01";

/// The value's name: a file of the data folder beside the embedded store.
pub(super) const NAME: &str = "checks.bin";

#[derive(Serialize, Deserialize)]
struct ChecksFile {
    /// Written after every record with a smaller `seq`.
    seq: u64,
    scans: Vec<(u64, Scan)>,
}

/// Saves `scans` as written at `seq`, whole ([`Bulk::put`]).
pub(super) fn save(bulk: &Bulk, seq: u64, scans: Vec<(u64, Scan)>) -> StoreResult<()> {
    let mut bytes = MAGIC.to_vec();
    bytes.extend(postcard::to_allocvec(&ChecksFile { seq, scans }).map_err(|e| StoreError::corrupt(NAME, e))?);
    bulk.put(NAME, &bytes)
}

/// Saved figures: the file's `seq` and each repository's figures.
pub(super) type Saved = (u64, Vec<(u64, Scan)>);

/// The saved figures and their `seq`; `None` when there are none yet. Figures that do not read
/// are an error: they would silently go back in time.
pub(super) fn load(bulk: &Bulk) -> StoreResult<Option<Saved>> {
    let Some(bytes) = bulk.get(NAME)? else { return Ok(None) };
    let body = bytes.strip_prefix(MAGIC.as_slice()).ok_or_else(|| {
        StoreError::corrupt(format!("{} in {}", NAME, bulk.place()), "not a checks file of this version")
    })?;
    let file: ChecksFile =
        postcard::from_bytes(body).map_err(|e| StoreError::corrupt(format!("{} in {}", NAME, bulk.place()), e))?;
    Ok(Some((file.seq, file.scans)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn saved_figures_load_back_and_a_damaged_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(NAME);
        let bulk = Bulk::Folder(dir.path().to_path_buf());
        assert!(load(&bulk).unwrap().is_none());
        let scan = Scan {
            last_save: 1_700_000_000,
            storage_used: 42,
            status: true,
            imported_status: None,
            last_status_alert_send: Some(5),
        };
        save(&bulk, 99, vec![(3, scan)]).unwrap();
        assert_eq!(load(&bulk).unwrap(), Some((99, vec![(3, scan)])));
        let mut bytes = fs::read(&path).unwrap();
        bytes.truncate(bytes.len() - 3);
        fs::write(&path, bytes).unwrap();
        assert!(load(&bulk).is_err());
    }
}
