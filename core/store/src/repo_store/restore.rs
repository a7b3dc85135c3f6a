//! The repository side of a server snapshot ([`crate::snapshot`]): every record and the id
//! counter, taken under the write lock, and put back into an empty store after checking that
//! the records could have been written by this server.

use std::collections::HashSet;

use super::{Repo, RepoStore};
use crate::store_error::{SnapshotProblem, StoreError, StoreResult};
use bw_host::ssh_key::ClientKey;

impl RepoStore {
    /// Every record (with its check figures) and the next id, with no change in between.
    /// Blocking: call from a blocking thread, or where no runtime runs.
    pub fn snapshot_blocking(&self) -> StoreResult<(Vec<Repo>, u64)> {
        let _guard = self.write.blocking_lock();
        let repos = self.list()?;
        Ok((repos, self.next_id()?))
    }

    /// Puts a snapshot's records into this empty store in one transaction, or nothing when one
    /// of them is wrong (a bad name, a name, id or key used twice, an id the counter would give
    /// again). The key lines are the caller's to reconcile. Blocking.
    pub fn restore_blocking(&self, repos: Vec<Repo>, next_id: u64) -> StoreResult<()> {
        let _guard = self.write.blocking_lock();
        // A store that holds only what its first start took in from the host's key lines is
        // replaced: a package's install starts the server over a kept pool before the sysadmin
        // can restore, and the snapshot describes those repositories too. Anything else (a
        // repository someone made, or deleted) is refused.
        let replaced = match self.first_start_adoptions_only()? {
            Some(ids) => ids,
            None => return Err(StoreError::NotEmpty),
        };
        let refuse = |r: &Repo, why: &str| {
            StoreError::Snapshot(SnapshotProblem::Repository {
                name: r.repository_name.clone(),
                id: r.id,
                why: why.to_string(),
            })
        };
        let (mut names, mut ids, mut keys) = (HashSet::new(), HashSet::new(), HashSet::new());
        for r in &repos {
            if !bw_host::pool::is_repo_name(&r.repository_name) {
                return Err(refuse(r, "not a repository name (8 lowercase hex characters)"));
            }
            if !names.insert(r.repository_name.clone()) {
                return Err(refuse(r, "its name appears twice"));
            }
            if !ids.insert(r.id) {
                return Err(refuse(r, "its id appears twice"));
            }
            if r.id >= next_id {
                return Err(refuse(r, &format!("its id is not below the snapshot's nextId {next_id}")));
            }
            if r.keys.is_empty() {
                return Err(refuse(r, "it has no key"));
            }
            for k in &r.keys {
                let key = ClientKey::parse(&k.ssh_public_key).map_err(|e| refuse(r, &format!("its key: {e}")))?;
                if !keys.insert(key.identity()) {
                    return Err(refuse(r, "a key of it stands twice in the snapshot"));
                }
            }
        }
        // URLs are made from the settings when answered, never stored.
        self.replace_records(&replaced, &repos, next_id)?;
        {
            let mut index = self.index_mut();
            for id in &replaced {
                index.remove(*id);
            }
        }
        self.index_all(&repos);
        self.db.flush()?;
        Ok(())
    }
}
