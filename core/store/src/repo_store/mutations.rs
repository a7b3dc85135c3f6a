//! Changes to repositories. Each holds the write lock, changes the store and the index, then
//! makes the change durable with [`RepoStore::commit`], which undoes it when the file write
//! fails.

use std::collections::HashSet;

use super::{META_TABLE, REPOS_TABLE};

use super::stored::encode_record;
use super::{id_key, NewRepo, Repo, RepoKey, RepoPatch, RepoStore, Scan, NEXT_ID};
use crate::audit_log::AuditEntry;
use crate::store_error::{StoreError, StoreResult};
use bw_host::authorized_keys::KeyChange;
use bw_host::ssh_key::{digest_of_stored, ClientKey};

/// Records a check writes under one hold of the write lock.
const SCAN_BATCH: usize = 1024;

impl RepoStore {
    /// `KeyInUse` when `key` stands on any line, but the line of `except` (the key being replaced,
    /// as it is stored).
    pub(super) fn check_key_free(&self, key: &ClientKey, except: Option<&str>) -> StoreResult<()> {
        let identity = key.identity();
        let same_as_except = except.and_then(digest_of_stored) == Some(identity.digest());
        let taken_by_repo = !same_as_except && self.read().id_of_key(&identity.digest()).is_some();
        if taken_by_repo || self.foreign_keys()?.contains(&identity) {
            return Err(StoreError::KeyInUse);
        }
        Ok(())
    }

    /// A name no repository and no folder in the pool has. A folder that cannot be looked at
    /// counts as taken: a read failure is never "absent".
    pub(super) fn fresh_name(&self) -> String {
        loop {
            let name = hex::encode(rand::random::<[u8; 4]>());
            let on_disk = !matches!(
                std::fs::symlink_metadata(self.pool.repo_path(&name)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound
            );
            if !on_disk && self.read().id_of_name(&name).is_none() {
                return name;
            }
        }
    }

    /// The next id to give. Read under the write lock, which every writer of it holds (or at
    /// start-up, before anything else runs).
    pub(super) fn next_id(&self) -> StoreResult<u64> {
        match self.meta.get(NEXT_ID)? {
            None => Ok(0),
            Some(v) => {
                let bytes: [u8; 8] =
                    v.as_ref().try_into().map_err(|_| StoreError::corrupt("the id counter", "not 8 bytes"))?;
                Ok(u64::from_be_bytes(bytes))
            }
        }
    }

    /// Writes records and the id counter in one transaction, so an id is never handed out
    /// twice and no record outlives a counter that would give its id again.
    pub(super) fn store_records(&self, records: &[Repo], next_id: u64) -> StoreResult<()> {
        let encoded: Vec<([u8; 8], Vec<u8>)> = {
            let seq = self.next_seq()?;
            records.iter().map(|r| Ok((id_key(r.id), encode_record(r, seq)?))).collect::<StoreResult<_>>()?
        };
        {
            let (mut tree, mut meta) = (crate::backend::Batch::default(), crate::backend::Batch::default());
            for (key, bytes) in &encoded {
                tree.insert(key, bytes.as_slice());
            }
            meta.insert(NEXT_ID, next_id.to_be_bytes());
            let mut batches = vec![(REPOS_TABLE, tree), (META_TABLE, meta)];
            let target = records.first().map_or("", |r| r.repository_name.as_str());
            self.audit.add_to(&self.db, &mut batches, target)?;
            self.db.apply_across(batches)?;
        }
        Ok(())
    }

    pub(super) async fn persist(&self) -> StoreResult<()> {
        self.db.flush_async().await?;
        Ok(())
    }

    /// Writes `repo`'s record, with the audit entry of the change under way, if any.
    pub(super) fn put_record(&self, repo: &Repo) -> StoreResult<()> {
        let mut batch = crate::backend::Batch::default();
        batch.insert(id_key(repo.id), encode_record(repo, self.next_seq()?)?);
        let mut batches = vec![(REPOS_TABLE, batch)];
        self.audit.add_to(&self.db, &mut batches, &repo.repository_name)?;
        self.db.apply_across(batches)
    }

    /// Puts records in the index.
    pub(super) fn index_all(&self, records: &[Repo]) {
        let mut index = self.index_mut();
        for r in records {
            index.put(r);
        }
    }

    /// Makes a change durable: flushes the store and writes the key lines' `change`, both at
    /// once (each survives a crash on its own, and start-up reconciles the key lines with the
    /// store, so their order on disk does not matter). On a key-line failure runs `undo` so that
    /// the store and the key lines agree again, and returns the key lines' error.
    pub(super) async fn commit(
        &self,
        change: KeyChange,
        undo: impl FnOnce(&Self) -> StoreResult<()>,
    ) -> StoreResult<()> {
        let (flushed, written) = tokio::join!(self.persist(), self.write_keys(change.clone()));
        if let Err(e) = written {
            tracing::error!(error = %e, "writing the key lines failed; undoing the change");
            undo(self)?;
            self.audit.take_back()?;
            self.persist().await?;
            if let Err(again) = self.write_keys(change.inverse()).await {
                tracing::error!(error = %again, "restoring the key lines failed; the next start repairs them");
                return Err(e);
            }
            self.settled();
            return Err(e);
        }
        flushed?;
        self.settled();
        Ok(())
    }

    /// The store is about to change ahead of its key lines.
    pub(super) fn unsettle(&self) {
        self.unsettled.store(true, std::sync::atomic::Ordering::Release);
    }

    /// The store and the key lines agree again.
    fn settled(&self) {
        self.unsettled.store(false, std::sync::atomic::Ordering::Release);
    }

    /// Writes one change to the key sink: O(1) when the sink can apply it alone, else the whole
    /// `authorized_keys` rendered from the index.
    async fn write_keys(&self, change: KeyChange) -> StoreResult<()> {
        let (keys, sink, pool) = (self.keys.clone(), self.sink.clone(), self.pool.clone());
        let path = self.sink_path();
        let applied = tokio::task::spawn_blocking(move || {
            pool.ensure().map_err(|e| StoreError::io(pool.root(), e))?;
            sink.apply(&keys, &change).map_err(|e| StoreError::io(&path, e))
        })
        .await
        .map_err(|e| StoreError::io(self.sink_path(), std::io::Error::other(e)))??;
        if applied {
            return Ok(());
        }
        let keys = self.keys.clone();
        let lines = self.lines()?;
        tokio::task::spawn_blocking(move || keys.sync(&lines).map(|_| ()).map_err(|e| StoreError::io(keys.path(), e)))
            .await
            .map_err(|e| StoreError::io(self.keys.path(), std::io::Error::other(e)))?
    }

    /// Creates a repository; `audit` is recorded with it (its target: the new name).
    pub async fn create(&self, new: NewRepo, audit: Option<AuditEntry>) -> StoreResult<Repo> {
        let mut created = self.create_many_audited(vec![new], audit).await?;
        created.pop().ok_or_else(|| StoreError::corrupt("create", "stored nothing"))
    }

    /// Creates many repositories under one lock, one store transaction and one
    /// `authorized_keys` write (imports, benchmarks). All or nothing.
    pub async fn create_many(&self, news: Vec<NewRepo>) -> StoreResult<Vec<Repo>> {
        self.create_many_audited(news, None).await
    }

    async fn create_many_audited(&self, news: Vec<NewRepo>, audit: Option<AuditEntry>) -> StoreResult<Vec<Repo>> {
        let _guard = self.lock_for_change().await?;
        let _audit = self.audit.hold(audit);
        let mut adding: std::collections::BTreeMap<&str, u64> = Default::default();
        for new in &news {
            if let Some(t) = &new.tenant {
                *adding.entry(t).or_default() += new.storage_size;
            }
        }
        for (tenant, more) in adding {
            self.check_quota(tenant, more, None)?;
        }
        let foreign = self.foreign_keys()?;
        let mut batch_keys = HashSet::new();
        for new in &news {
            let identity = new.key.identity();
            if self.read().id_of_key(&identity.digest()).is_some()
                || foreign.contains(&identity)
                || !batch_keys.insert(identity)
            {
                return Err(StoreError::KeyInUse);
            }
        }
        let mut names = HashSet::new();
        let mut repos: Vec<Repo> = Vec::with_capacity(news.len());
        // Repositories placed on a storage target so far: undone if anything below fails.
        let mut placed: Vec<(bw_host::storage_target::StorageTarget, String)> = Vec::new();
        let undo_placed = |placed: &[(bw_host::storage_target::StorageTarget, String)]| {
            for (target, name) in placed {
                target.unplace(&self.pool, name);
            }
        };
        for new in news {
            let name = loop {
                let n = self.fresh_name();
                if !names.insert(n.clone()) {
                    continue;
                }
                let Some(target) = &new.storage_target else { break n };
                match self.place_on(target, &n) {
                    Ok(true) => {
                        placed.push((target.clone(), n.clone()));
                        break n;
                    }
                    // The target already has a folder of that name: take another.
                    Ok(false) => continue,
                    Err(e) => {
                        undo_placed(&placed);
                        return Err(e);
                    }
                }
            };
            repos.push(Repo::new(new, name, self.clock.now()));
        }
        let first = self.next_id()?;
        for (i, r) in repos.iter_mut().enumerate() {
            r.id = first + i as u64;
        }
        self.unsettle();
        if let Err(e) = self.store_records(&repos, first + repos.len() as u64) {
            undo_placed(&placed);
            return Err(e);
        }
        self.index_all(&repos);
        let ids: Vec<u64> = repos.iter().map(|r| r.id).collect();
        let committed = self
            .commit(KeyChange::Added(repos.iter().flat_map(Repo::lines).collect()), move |s| {
                for id in &ids {
                    s.repos.remove(id_key(*id))?;
                    s.index_mut().remove(*id);
                }
                Ok(())
            })
            .await;
        if let Err(e) = committed {
            undo_placed(&placed);
            return Err(e);
        }
        Ok(repos)
    }

    /// `TenantQuota` when giving `tenant` `more` GB (besides what its repositories but `except`
    /// have) would pass its quota. The caller holds the write lock.
    fn check_quota(&self, tenant: &str, more: u64, except: Option<u64>) -> StoreResult<()> {
        let Some(quota_gb) = crate::tenant_store::quota_in(&*self.tenants, tenant)? else { return Ok(()) };
        let mut allotted = more;
        self.summaries(0, |s| {
            if s.tenant == Some(tenant) && Some(s.id) != except {
                allotted = allotted.saturating_add(s.storage_size);
            }
        });
        if allotted > quota_gb {
            return Err(StoreError::TenantQuota { tenant: tenant.to_string(), quota_gb });
        }
        Ok(())
    }

    /// Makes `TARGET/NAME` and the pool's link to it before the repository is stored, so that
    /// its client can `borg init` as soon as the answer arrives. `Ok(false)` when the target
    /// already has a folder of that name.
    fn place_on(&self, target: &bw_host::storage_target::StorageTarget, name: &str) -> StoreResult<bool> {
        use bw_host::storage_target::PlaceError;
        self.pool.ensure().map_err(|e| StoreError::io(self.pool.root(), e))?;
        match target.place(&self.pool, name) {
            Ok(()) => Ok(true),
            Err(PlaceError::Taken) => Ok(false),
            Err(PlaceError::Unavailable(problem)) => {
                tracing::warn!(target = %target.path, problem = %problem, "storage target not available; nothing written");
                Err(StoreError::TargetUnavailable(target.path.clone()))
            }
            Err(PlaceError::Io(e)) => Err(StoreError::io(target.repo_dir(name), e)),
        }
    }

    /// The repository `key` names, read under the write lock the caller holds.
    fn current_for_change(&self, key: &RepoKey) -> StoreResult<Repo> {
        self.find(key)?.ok_or(StoreError::NotFound)
    }

    /// The repository `key` names, to be changed: not found, then archived
    /// ([`StoreError::Archived`]: read-only until unarchived), refused. Read under the write
    /// lock the caller holds.
    pub(super) fn editable(&self, key: &RepoKey) -> StoreResult<Repo> {
        let repo = self.current_for_change(key)?;
        if repo.archived {
            return Err(StoreError::Archived);
        }
        Ok(repo)
    }

    /// Edits the repository `key` names: not found, archived ([`StoreError::Archived`]) and a
    /// key in use are refused.
    pub async fn update(&self, key: &RepoKey, patch: RepoPatch) -> StoreResult<Repo> {
        self.update_with(key, |_| Ok::<_, StoreError>(patch), None).await
    }

    /// Edits the repository `key` names with the patch `make_patch` gives. In this order, as
    /// BorgWarehouse 3.x answers: not found, then archived ([`StoreError::Archived`]), then
    /// whatever `make_patch` refuses (the request's validation), then a key in use.
    pub async fn update_with<E: From<StoreError>>(
        &self,
        key: &RepoKey,
        make_patch: impl FnOnce(&Repo) -> Result<RepoPatch, E>,
        audit: Option<AuditEntry>,
    ) -> Result<Repo, E> {
        let _guard = self.lock_for_change().await?;
        let _audit = self.audit.hold(audit);
        let old = self.editable(key)?;
        let patch = make_patch(&old)?;
        if let Some(key) = &patch.key {
            self.check_key_free(key, Some(old.ssh_public_key()))?;
        }
        let repo = old.patched(patch, self.clock.now());
        if let Some(tenant) = repo.tenant.as_deref().filter(|_| repo.storage_size > old.storage_size) {
            self.check_quota(tenant, repo.storage_size, Some(old.id))?;
        }
        Ok(self.replace(old, repo).await?)
    }

    /// Puts `repo` in place of `old` (same id) and makes it durable; back to `old` when the
    /// file cannot be written. The caller holds the write lock.
    pub(super) async fn replace(&self, old: Repo, repo: Repo) -> StoreResult<Repo> {
        self.unsettle();
        self.put_record(&repo)?;
        self.index_mut().put(&repo);
        self.commit(KeyChange::Replaced { old: old.lines(), new: repo.lines() }, |s| {
            s.put_record(&old)?;
            s.index_mut().put(&old);
            Ok(())
        })
        .await?;
        Ok(repo)
    }

    /// Archives (the line is commented out, so the client cannot connect) or unarchives (the
    /// line is active again) a repository. Its data and record stay.
    pub async fn set_archived(&self, key: &RepoKey, archived: bool, audit: Option<AuditEntry>) -> StoreResult<Repo> {
        let _guard = self.lock_for_change().await?;
        let _audit = self.audit.hold(audit);
        let old = self.current_for_change(key)?;
        let repo = Repo { archived, ..old.clone() };
        self.replace(old, repo).await
    }

    /// Deletes the repository `key` names (archived or not) and its folder.
    pub async fn delete(&self, key: &RepoKey, audit: Option<AuditEntry>) -> StoreResult<Repo> {
        let _guard = self.lock_for_change().await?;
        let _audit = self.audit.hold(audit);
        let old = self.current_for_change(key)?;
        self.unsettle();
        let mut gone = crate::backend::Batch::default();
        gone.remove(id_key(old.id));
        let mut batches = vec![(REPOS_TABLE, gone)];
        self.audit.add_to(&self.db, &mut batches, &old.repository_name)?;
        self.db.apply_across(batches)?;
        self.index_mut().remove(old.id);
        self.commit(KeyChange::Removed(old.lines()), |s| {
            s.put_record(&old)?;
            s.index_mut().put(&old);
            Ok(())
        })
        .await?;
        // The key can no longer reach the folder; a folder left behind is only disk space.
        let pool = self.pool.clone();
        let name = old.repository_name.clone();
        let removed = tokio::task::spawn_blocking(move || pool.remove_repo(&name))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        if let Err(e) = removed {
            tracing::error!(repository = %old.repository_name, error = %e, "removing the repository folder failed");
        }
        Ok(old)
    }

    /// Changes fields that a check owns (`lastSave`, `storageUsed`, `status`,
    /// `lastStatusAlertSend`) on the current record, so an edit made while a scan ran is kept,
    /// and saves its page of figures. A repository deleted meanwhile stays deleted (`false`).
    pub async fn update_scanned(&self, id: u64, change: impl FnOnce(&mut Repo)) -> StoreResult<bool> {
        let _guard = self.write.lock().await;
        let Some(before) = self.get(id)? else { return Ok(false) };
        let mut repo = before.clone();
        change(&mut repo);
        if repo.scan() != before.scan() && self.index_mut().set_scan(id, repo.scan()) {
            self.save_scans(super::check_figures::Pages::of(id))?;
        }
        Ok(true)
    }

    /// A check's writes for many repositories, on the index alone (no record is read):
    /// `decide` changes each repository's current figures given its `alert` and its item, and
    /// says whether the repository is to be reported (the status check's late ones, returned
    /// as the index has them: [`super::index::Flagged`]). The pages of the figures changed are
    /// saved once at the end (never the records: see `check_figures`). The write lock is let go every [`SCAN_BATCH`] repositories, so API
    /// changes are not held up for a whole check, and one made meanwhile is kept; repositories
    /// deleted meanwhile are skipped.
    pub async fn update_scans<T>(
        &self,
        items: Vec<(u64, T)>,
        mut decide: impl FnMut(&mut Scan, u64, T) -> bool,
    ) -> StoreResult<Vec<super::index::Flagged>> {
        let mut items = items.into_iter().peekable();
        let (mut changed, mut flagged) = (super::check_figures::Pages::default(), Vec::new());
        while items.peek().is_some() {
            let _guard = self.write.lock().await;
            for (id, item) in items.by_ref().take(SCAN_BATCH) {
                let Some((before, alert)) = self.read().scan_and_alert(id) else { continue };
                let mut scan = before;
                if decide(&mut scan, alert, item) {
                    flagged.push(id);
                }
                if scan != before && self.index_mut().set_scan(id, scan) {
                    changed.add(super::check_figures::Pages::of(id));
                }
            }
        }
        if !changed.is_empty() {
            let _guard = self.write.lock().await;
            self.save_scans(changed)?;
        }
        // From the index, not the records: with every repository of a large host late at once,
        // reading 100,000 records pinned sled's pages (68 MiB resident after the checks).
        let now = self.clock.now();
        let index = self.read();
        Ok(flagged
            .into_iter()
            .filter_map(|id| {
                index.summary(id, now).map(|s| super::index::Flagged {
                    id,
                    repository_name: s.name.to_string(),
                    alias: s.alias.to_string(),
                    last_save: s.last_save,
                })
            })
            .collect())
    }

    /// Flushes changes made by [`RepoStore::update_scanned`].
    pub async fn flush(&self) -> StoreResult<()> {
        self.persist().await
    }
}
