//! The audit entry of a repository change, written in the same store transaction as the
//! record it changes (see `crate::audit_log`). A mutation puts its entry here once it holds the
//! write lock ([`PendingAudit::hold`]); the record write that follows takes it into its batch;
//! an undo (the key lines could not be written) takes the entry back with the record.

use std::sync::Mutex;

use crate::audit_log::{AuditEntry, TABLE};
use crate::backend::{Batch, SharedBackend, Table};
use crate::store_error::{encode, StoreResult};

pub(super) struct PendingAudit {
    table: std::sync::Arc<dyn Table>,
    entry: Mutex<Option<AuditEntry>>,
    written: Mutex<Option<[u8; 16]>>,
}

/// Clears what a change left pending, however it ends.
pub(super) struct Held<'a>(&'a PendingAudit);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        *self.0.entry.lock().unwrap_or_else(|p| p.into_inner()) = None;
        *self.0.written.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

impl PendingAudit {
    pub fn open(db: &SharedBackend) -> StoreResult<Self> {
        Ok(Self { table: db.table(TABLE)?, entry: Mutex::new(None), written: Mutex::new(None) })
    }

    /// The change under way (its caller holds the write lock) is recorded by `entry`.
    pub fn hold(&self, entry: Option<AuditEntry>) -> Held<'_> {
        *self.entry.lock().unwrap_or_else(|p| p.into_inner()) = entry;
        Held(self)
    }

    /// Adds the pending entry, if any, to `batches` (its target, when the caller could not know
    /// it, is `target`: a new repository's name).
    pub fn add_to(&self, db: &SharedBackend, batches: &mut Vec<(&str, Batch)>, target: &str) -> StoreResult<()> {
        let Some(mut entry) = self.entry.lock().unwrap_or_else(|p| p.into_inner()).take() else { return Ok(()) };
        if entry.target.is_empty() {
            entry.target = target.to_string();
        }
        let key = crate::audit_log::key(entry.at, db.generate_id()?);
        let mut batch = Batch::default();
        batch.insert(key, encode(&entry)?);
        batches.push((TABLE, batch));
        *self.written.lock().unwrap_or_else(|p| p.into_inner()) = Some(key);
        Ok(())
    }

    /// The change was undone: so is its entry.
    pub fn take_back(&self) -> StoreResult<()> {
        if let Some(key) = self.written.lock().unwrap_or_else(|p| p.into_inner()).take() {
            self.table.remove(key)?;
        }
        Ok(())
    }
}
