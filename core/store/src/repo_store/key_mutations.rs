//! Changes to a repository's keys: add one, change its mode or name, remove one (never the
//! last), and the last use sessions report. Each holds the write lock and goes through
//! [`RepoStore::replace`], so the key lines follow with the same undo as any edit.

use super::stored::encode_record;
use super::{id_key, AccessKey, KeyPatch, NewKey, Repo, RepoKey, RepoStore};
use crate::audit_log::AuditEntry;
use crate::store_error::{StoreError, StoreResult};

impl RepoStore {
    /// Adds the key `make` gives to the repository `key` names. In this order, as an edit
    /// answers: not found, archived, whatever `make` refuses (the request's validation), then a
    /// key in use anywhere. Returns the key as stored.
    pub async fn add_key_with<E: From<StoreError>>(
        &self,
        key: &RepoKey,
        make: impl FnOnce() -> Result<NewKey, E>,
        audit: Option<AuditEntry>,
    ) -> Result<AccessKey, E> {
        let _guard = self.lock_for_change().await?;
        let _audit = self.audit.hold(audit);
        let old = self.editable(key)?;
        let new = make()?;
        self.check_key_free(&new.key, None)?;
        let added = AccessKey::new(&new.key, new.mode, new.name, self.clock.now());
        let mut repo = old.clone();
        repo.keys.push(added.clone());
        self.replace(old, repo).await?;
        Ok(added)
    }

    /// Changes the mode or name of the key `key_id` of the repository `key` names, as `make`
    /// says. In this order: repository not found, archived, key not found, then whatever `make`
    /// refuses.
    pub async fn update_key_with<E: From<StoreError>>(
        &self,
        key: &RepoKey,
        key_id: &str,
        make: impl FnOnce() -> Result<KeyPatch, E>,
        audit: Option<AuditEntry>,
    ) -> Result<AccessKey, E> {
        let _guard = self.lock_for_change().await?;
        let _audit = self.audit.hold(audit);
        let old = self.editable(key)?;
        let mut repo = old.clone();
        let changed = repo.keys.iter_mut().find(|k| k.id() == key_id).ok_or(StoreError::KeyNotFound)?;
        let patch = make()?;
        if let Some(mode) = patch.mode {
            changed.mode = mode;
        }
        if let Some(name) = patch.name {
            changed.name = name;
        }
        let changed = changed.clone();
        self.replace(old, repo).await?;
        Ok(changed)
    }

    /// Removes the key `key_id` from the repository `key` names; its last key stays
    /// ([`StoreError::LastKey`]).
    pub async fn remove_key(&self, key: &RepoKey, key_id: &str, audit: Option<AuditEntry>) -> StoreResult<AccessKey> {
        let _guard = self.lock_for_change().await?;
        let _audit = self.audit.hold(audit);
        let old = self.editable(key)?;
        let at = old.keys.iter().position(|k| k.id() == key_id).ok_or(StoreError::KeyNotFound)?;
        if old.keys.len() == 1 {
            return Err(StoreError::LastKey);
        }
        let mut repo = old.clone();
        let removed = repo.keys.remove(at);
        self.replace(old, repo).await?;
        Ok(removed)
    }

    /// Sets each key's last use (sessions taken in): `(repository id, key id, unix seconds)`,
    /// newer times only, in one store batch. Keys and repositories gone meanwhile are skipped;
    /// the key lines do not change.
    pub async fn record_key_use(&self, uses: &[(u64, String, i64)]) -> StoreResult<()> {
        if uses.is_empty() {
            return Ok(());
        }
        let _guard = self.lock_for_change().await?;
        let mut changed: std::collections::BTreeMap<u64, Repo> = std::collections::BTreeMap::new();
        for (id, key_id, at) in uses {
            let repo = match changed.remove(id) {
                Some(r) => Some(r),
                None => self.get(*id)?,
            };
            let Some(mut repo) = repo else { continue };
            if let Some(k) = repo.keys.iter_mut().find(|k| &k.id() == key_id) {
                k.last_used_at = k.last_used_at.max(*at);
            }
            changed.insert(*id, repo);
        }
        let seq = self.next_seq()?;
        let mut batch = crate::backend::Batch::default();
        for repo in changed.values() {
            batch.insert(id_key(repo.id), encode_record(repo, seq)?);
        }
        self.repos.apply(batch)?;
        // The list answers show `lastUsedAt`.
        self.index_mut().generation += 1;
        self.persist().await
    }
}
