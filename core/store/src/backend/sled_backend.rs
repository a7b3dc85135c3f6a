//! The embedded backend: sled (0.34), one tree per table, in `DATA_DIR/db`. Only this file
//! names sled's types.

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use sled::Transactional;

use super::seam::{Backend, Batch, Bytes, Entries, FlushFuture, Table};
use crate::store_error::{StoreError, StoreResult};

/// Why the embedded store did not open.
#[derive(Debug, thiserror::Error)]
pub enum SledOpenError {
    /// Another process holds the store's lock (sled lets one process open it).
    #[error("another process has the store open")]
    InUse,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Clone)]
pub struct SledBackend {
    db: sled::Db,
}

impl SledBackend {
    /// Opens (or makes) the store in the folder `path`, with a page cache of `cache_bytes`.
    pub fn open(path: &Path, cache_bytes: u64) -> Result<Self, SledOpenError> {
        let db = sled::Config::new().path(path).cache_capacity(cache_bytes).open().map_err(|e| match e {
            // sled says only "could not acquire lock on …: Os { code: 11, … }".
            sled::Error::Io(io) if io.to_string().starts_with("could not acquire lock") => SledOpenError::InUse,
            sled::Error::Io(io) => StoreError::io(path, io).into(),
            other => StoreError::from(other).into(),
        })?;
        Ok(SledBackend { db })
    }

    /// A store that is removed when dropped (tests).
    pub fn temporary() -> StoreResult<Self> {
        Ok(SledBackend { db: sled::Config::new().temporary(true).open()? })
    }
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Backend(Box::new(e))
    }
}

impl<E: std::fmt::Debug> From<sled::transaction::TransactionError<E>> for StoreError {
    fn from(e: sled::transaction::TransactionError<E>) -> Self {
        match e {
            sled::transaction::TransactionError::Storage(e) => e.into(),
            sled::transaction::TransactionError::Abort(cause) => {
                StoreError::corrupt("transaction", format!("{cause:?}"))
            }
        }
    }
}

struct SledTable {
    tree: sled::Tree,
}

fn entry(e: sled::Result<(sled::IVec, sled::IVec)>) -> StoreResult<(Bytes, Bytes)> {
    let (k, v) = e?;
    Ok((Bytes(k), Bytes(v)))
}

fn owned(b: Bound<&[u8]>) -> Bound<sled::IVec> {
    match b {
        Bound::Included(k) => Bound::Included(k.into()),
        Bound::Excluded(k) => Bound::Excluded(k.into()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn sled_batch(batch: &Batch) -> sled::Batch {
    let mut b = sled::Batch::default();
    for (k, v) in batch.writes() {
        match v {
            Some(v) => b.insert(k, v),
            None => b.remove(k),
        }
    }
    b
}

impl Table for SledTable {
    fn get_raw(&self, key: &[u8]) -> StoreResult<Option<Bytes>> {
        Ok(self.tree.get(key)?.map(Bytes))
    }

    fn insert_raw(&self, key: &[u8], value: &[u8]) -> StoreResult<()> {
        self.tree.insert(key, value)?;
        Ok(())
    }

    fn remove_raw(&self, key: &[u8]) -> StoreResult<bool> {
        Ok(self.tree.remove(key)?.is_some())
    }

    fn contains_raw(&self, key: &[u8]) -> StoreResult<bool> {
        Ok(self.tree.contains_key(key)?)
    }

    fn compare_and_swap_raw(&self, key: &[u8], old: Option<&[u8]>, new: Option<&[u8]>) -> StoreResult<bool> {
        Ok(self.tree.compare_and_swap(key, old, new)?.is_ok())
    }

    fn range_raw(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Entries<'_> {
        Entries::new(self.tree.range::<sled::IVec, _>((owned(from), owned(to))).map(entry))
    }

    fn prefix_raw(&self, prefix: &[u8]) -> Entries<'_> {
        Entries::new(self.tree.scan_prefix(prefix).map(entry))
    }

    fn apply(&self, batch: Batch) -> StoreResult<()> {
        self.tree.apply_batch(sled_batch(&batch))?;
        Ok(())
    }

    fn len(&self) -> usize {
        self.tree.len()
    }

    fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }

    fn clear(&self) -> StoreResult<()> {
        self.tree.clear()?;
        Ok(())
    }
}

impl Backend for SledBackend {
    fn kind(&self) -> &'static str {
        "embedded"
    }

    fn table(&self, name: &str) -> StoreResult<Arc<dyn Table>> {
        Ok(Arc::new(SledTable { tree: self.db.open_tree(name)? }))
    }

    fn apply_across(&self, batches: Vec<(&str, Batch)>) -> StoreResult<()> {
        let trees: Vec<sled::Tree> =
            batches.iter().map(|(name, _)| self.db.open_tree(name)).collect::<Result<_, _>>()?;
        let batches: Vec<sled::Batch> = batches.iter().map(|(_, b)| sled_batch(b)).collect();
        trees[..]
            .transaction(|trees| {
                for (tree, batch) in trees.iter().zip(&batches) {
                    tree.apply_batch(batch)?;
                }
                Ok(())
            })
            .map_err(|e: sled::transaction::TransactionError<()>| StoreError::from(e))
    }

    fn generate_id(&self) -> StoreResult<u64> {
        Ok(self.db.generate_id()?)
    }

    fn flush(&self) -> StoreResult<()> {
        self.db.flush()?;
        Ok(())
    }

    fn flush_async(&self) -> FlushFuture<'_> {
        Box::pin(async move {
            self.db.flush_async().await?;
            Ok(())
        })
    }

    fn healthy(&self) -> bool {
        self.db.open_tree("health").and_then(|t| t.insert("probe", &[1u8]).map(|_| ())).is_ok()
    }

    fn table_names(&self) -> StoreResult<Vec<String>> {
        Ok(self.db.tree_names().iter().map(|n| String::from_utf8_lossy(n).into_owned()).collect())
    }
}
