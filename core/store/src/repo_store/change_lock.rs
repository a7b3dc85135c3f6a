//! The lock every change of repositories holds. On the embedded store, this server's own.
//! With several servers on one database, also the database's ([`Backend::hold_exclusive`]):
//! each server checks names, ids and keys against its in-memory index, and two servers
//! changing at once from their own indexes would give one id twice or one key to two
//! repositories, and the later write would silently replace the earlier one.
//!
//! Holding the database's lock is not enough: this server's index must also show every change
//! committed before it, and another server's notification may still be on its way. So each
//! change counts itself in the store (`META_TABLE`'s `changes`) once its writes are made, as it
//! lets the lock go, and the next holder reads the count first: one it did not make or read
//! again means its index is behind, and it reads the records again before it checks anything.
//! (The count is read before the records wherever they are read, so an index never claims a
//! count whose changes it lacks.)
//!
//! A change commits to the database first, then writes its key file. A server killed between
//! the two lets the lock go with its connection, and leaves the change's mark (the count's ninth byte)
//! standing: the server holding the lease of the periodic work looks for it every
//! [`super::REPAIR_EVERY`] and brings the key folder in line with the database
//! ([`RepoStore::repair_cut_off_change`]).
//!
//! [`Backend::hold_exclusive`]: crate::backend::Backend::hold_exclusive

use std::sync::atomic::Ordering;

use super::change_count::{changes_of, changes_value, CHANGES};
use super::RepoStore;
use bw_host::authorized_keys::SyncReport;

use crate::backend::Hold;
use crate::store_error::{StoreError, StoreResult};

/// Held while a change is made: dropped, it counts the change and takes its mark away (unless
/// its key lines were left unlike the store), then lets the database's lock go, then this
/// server's.
pub(super) struct ChangeGuard<'a> {
    store: &'a RepoStore,
    /// The previous holder's change was cut off before its key file was written.
    cut_off_before: bool,
    /// The count this change makes.
    count: u64,
    held: Option<Hold>,
    _local: tokio::sync::MutexGuard<'a, ()>,
}

impl Drop for ChangeGuard<'_> {
    fn drop(&mut self) {
        if self.held.is_none() {
            return;
        }
        let cut_off = self.store.unsettled.load(Ordering::Acquire);
        match self.store.meta.insert(CHANGES, changes_value(self.count, cut_off)) {
            Ok(()) => self.store.changes_seen.store(self.count, Ordering::Release),
            // Not counted, the mark stands: the next holder reads everything again.
            Err(e) => {
                tracing::warn!(error = %e, "a finished change was not counted; the next change reads the repositories and the key folder again")
            }
        }
    }
}

impl RepoStore {
    /// Takes the lock of changes: this server's, then (several servers) the database's, with
    /// the index brought up to the changes other servers made.
    pub(super) async fn lock_for_change(&self) -> StoreResult<ChangeGuard<'_>> {
        let local = self.write.lock().await;
        let held = self.db.hold_exclusive("repositories")?;
        let (mut cut_off_before, mut count) = (false, 0);
        if held.is_some() {
            (count, cut_off_before) = self.changes_state()?;
            // A change cut off was not counted: its records may be in the store all the same.
            if count != self.changes_seen.load(Ordering::Acquire) || cut_off_before {
                tracing::info!("another server changed repositories since this one last read them; reading them again");
                self.reload_holding_lock(count)?;
            }
            self.meta.insert(CHANGES, changes_value(count, true))?;
        }
        Ok(ChangeGuard { store: self, cut_off_before, count: count.wrapping_add(1), held, _local: local })
    }

    /// With several servers on one database: when a server was killed between a change's
    /// commit and its key file, makes the key folder match the database again (every key
    /// file read and the wrong ones written), and says what it fixed. `None` when no change
    /// was cut off. Run by the lease holder every [`super::REPAIR_EVERY`]: one read when all is well.
    pub async fn repair_cut_off_change(&self) -> StoreResult<Option<SyncReport>> {
        if !self.db.shared_by_servers() || !self.changes_state()?.1 {
            return Ok(None);
        }
        let guard = self.lock_for_change().await?;
        if !guard.cut_off_before {
            // A change under way when looked at, finished since.
            return Ok(None);
        }
        let (sink, keys, lines) = (self.sink.clone(), self.keys.clone(), self.lines()?);
        let path = self.sink_path();
        let report = tokio::task::spawn_blocking(move || sink.sync(&keys, &lines))
            .await
            .map_err(|e| StoreError::io(&path, std::io::Error::other(e)))?
            .map_err(|e| StoreError::io(&path, e))?;
        for name in report.added.iter().chain(&report.rewritten).chain(&report.removed) {
            tracing::warn!(repository = %name, "key folder: a change cut off by a stopped server left this key file unlike the database; fixed");
        }
        tracing::info!("key folder: brought in line with the database after a change was cut off");
        drop(guard);
        Ok(Some(report))
    }

    /// For a start's reconcile, which reads every key file and writes the wrong ones: the
    /// database's lock (several servers), so that no other server's change is under way, and
    /// the index brought up to date. The whole key folder is made right, so a change cut off
    /// is repaired too: [`RepoStore::reconciled`] takes its mark away.
    pub(super) fn hold_for_reconcile(&self) -> StoreResult<Option<Hold>> {
        let held = self.db.hold_exclusive("repositories")?;
        if held.is_some() {
            let (count, cut_off) = self.changes_state()?;
            if count != self.changes_seen.load(Ordering::Acquire) || cut_off {
                self.reload_holding_lock(count)?;
            }
        }
        Ok(held)
    }

    /// The key folder was made to match the database under `held`.
    pub(super) fn reconciled(&self, held: Option<Hold>) -> StoreResult<()> {
        if held.is_some() {
            // Counted as a change: a start's reconcile may take lines in.
            let count = self.changes_state()?.0.wrapping_add(1);
            self.meta.insert(CHANGES, changes_value(count, false))?;
            self.changes_seen.store(count, Ordering::Release);
        }
        Ok(())
    }

    /// Whether other servers may share this store's database.
    pub fn shared_by_servers(&self) -> bool {
        self.db.shared_by_servers()
    }

    /// How many changes were made under the database's lock (0 on a store that never had one).
    pub(super) fn changes_count(&self) -> StoreResult<u64> {
        Ok(self.changes_state()?.0)
    }

    /// The count of changes, and whether one is under way or was cut off.
    fn changes_state(&self) -> StoreResult<(u64, bool)> {
        Ok(changes_of(self.meta.get(CHANGES)?.as_deref()))
    }
}
