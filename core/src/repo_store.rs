//! Repositories: the sled tree that is the truth, an in-memory copy that serves reads, and the
//! `authorized_keys` lines and pool folders that follow from them.
//!
//! Every mutation holds one lock, writes the store (flushed before it answers), then renders
//! `authorized_keys` from the store. A crash between the two is repaired by [`RepoStore::reconcile`]
//! at the next start; a failed file write rolls the store change back.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use poem_openapi::Object;
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use crate::authorized_keys::{AuthorizedKeys, RepoLine};
use crate::pool::Pool;
use crate::ssh_key::{ClientKey, KeyIdentity};
use crate::{ApiError, ApiResult};

/// A repository as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename = "Repository", rename_all = "camelCase")]
pub struct Repo {
    /// Given once, never reused after a delete.
    pub id: u64,
    pub alias: String,
    /// 8 lowercase hex characters: the folder `POOL/NAME`.
    pub repository_name: String,
    /// True when `now - lastSave <= alert`.
    pub status: bool,
    /// Unix seconds of the newest `integrity.*` file; 0 before the first backup.
    pub last_save: i64,
    /// Seconds without a backup before the repository counts as late; 0 turns alerts off.
    pub alert: u64,
    /// Quota in GB (10^9 bytes).
    pub storage_size: u64,
    /// KiB used, as `du -s -L` counts it.
    pub storage_used: u64,
    pub ssh_public_key: String,
    pub comment: String,
    pub display_details: bool,
    pub lan_command: bool,
    pub append_only_mode: bool,
    /// Unix seconds of the last lateness alert sent for this repository.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_status_alert_send: Option<i64>,
}

impl Repo {
    /// A new repository's record; its id is given when it is stored.
    fn new(new: NewRepo, name: String) -> Repo {
        Repo {
            id: 0,
            alias: new.alias,
            repository_name: name,
            status: false,
            last_save: 0,
            alert: new.alert,
            storage_size: new.storage_size,
            storage_used: 0,
            ssh_public_key: new.key.to_openssh(),
            comment: new.comment,
            display_details: true,
            lan_command: new.lan_command,
            append_only_mode: new.append_only_mode,
            last_status_alert_send: None,
        }
    }

    fn line(&self) -> RepoLine {
        RepoLine {
            name: self.repository_name.clone(),
            storage_size_gb: self.storage_size,
            append_only: self.append_only_mode,
            key: self.ssh_public_key.clone(),
        }
    }

    /// The repository with `status` computed for `now`.
    pub fn at(mut self, now: i64) -> Repo {
        self.status = now.saturating_sub(self.last_save) <= self.alert as i64;
        self
    }
}

/// A validated create request.
#[derive(Debug, Clone)]
pub struct NewRepo {
    pub alias: String,
    pub key: ClientKey,
    pub storage_size: u64,
    pub comment: String,
    pub alert: u64,
    pub lan_command: bool,
    pub append_only_mode: bool,
}

/// What an import did, by repository name.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub added: Vec<String>,
    pub updated: Vec<String>,
    pub skipped: Vec<String>,
}

/// A validated edit: `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct RepoPatch {
    pub alias: Option<String>,
    pub key: Option<ClientKey>,
    pub storage_size: Option<u64>,
    pub comment: Option<String>,
    pub alert: Option<u64>,
    pub lan_command: Option<bool>,
    pub append_only_mode: Option<bool>,
}

const KEY_IN_USE: &str = "The SSH key is already used in another repository.";
const NEXT_ID: &[u8] = b"next_repo_id";
/// Set once the store has been reconciled with `authorized_keys` for the first time.
const INITIALIZED: &[u8] = b"initialized";

#[derive(Default)]
struct Cache {
    /// Bumped on every change, so answers built from the cache know when they are stale.
    generation: u64,
    by_id: BTreeMap<u64, Repo>,
    by_name: HashMap<String, u64>,
    by_key: HashMap<KeyIdentity, u64>,
}

impl Cache {
    fn put(&mut self, repo: Repo) {
        self.generation += 1;
        if let Some(old) = self.by_id.get(&repo.id) {
            if old.ssh_public_key != repo.ssh_public_key {
                let old_key = identity_of(old);
                self.by_key.remove(&old_key);
            }
        }
        self.by_name.insert(repo.repository_name.clone(), repo.id);
        self.by_key.insert(identity_of(&repo), repo.id);
        self.by_id.insert(repo.id, repo);
    }

    fn remove(&mut self, id: u64) -> Option<Repo> {
        self.generation += 1;
        let repo = self.by_id.remove(&id)?;
        self.by_name.remove(&repo.repository_name);
        self.by_key.remove(&identity_of(&repo));
        Some(repo)
    }
}

/// Stored keys were validated on the way in; a record that no longer parses (edited by hand)
/// gets an identity nothing else can have.
fn identity_of(repo: &Repo) -> KeyIdentity {
    ClientKey::parse(&repo.ssh_public_key)
        .map(|k| k.identity())
        .unwrap_or_else(|_| KeyIdentity { kind: format!("invalid:{}", repo.id), blob: Vec::new() })
}

pub struct RepoStore {
    db: sled::Db,
    repos: sled::Tree,
    meta: sled::Tree,
    cache: RwLock<Cache>,
    write: tokio::sync::Mutex<()>,
    keys: AuthorizedKeys,
    pool: Pool,
    /// The list answer as bytes, and for which store generation and times it holds.
    list_json: std::sync::Mutex<Option<ListCache>>,
}

struct ListCache {
    generation: u64,
    built_at: i64,
    /// The first second at which some repository's status is no longer what the bytes say.
    valid_until: i64,
    bytes: bytes::Bytes,
}

fn id_key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

impl RepoStore {
    pub fn open(db: &sled::Db, keys: AuthorizedKeys, pool: Pool) -> Result<Self, String> {
        let repos = db.open_tree("repos").map_err(|e| e.to_string())?;
        let meta = db.open_tree("meta").map_err(|e| e.to_string())?;
        let mut cache = Cache::default();
        for item in repos.iter() {
            let (_, v) = item.map_err(|e| e.to_string())?;
            let repo: Repo = serde_json::from_slice(&v).map_err(|e| format!("corrupt repository record: {e}"))?;
            cache.put(repo);
        }
        Ok(Self {
            db: db.clone(),
            repos,
            meta,
            cache: RwLock::new(cache),
            write: tokio::sync::Mutex::new(()),
            keys,
            pool,
            list_json: std::sync::Mutex::new(None),
        })
    }

    pub fn authorized_keys(&self) -> &AuthorizedKeys {
        &self.keys
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Cache> {
        self.cache.read().unwrap_or_else(|p| p.into_inner())
    }

    fn cache_mut(&self) -> std::sync::RwLockWriteGuard<'_, Cache> {
        self.cache.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Every repository's id and name, ordered by id.
    pub fn list_names(&self) -> Vec<(u64, String)> {
        self.read().by_id.values().map(|r| (r.id, r.repository_name.clone())).collect()
    }

    /// Every repository, ordered by id.
    pub fn list(&self) -> Vec<Repo> {
        self.read().by_id.values().cloned().collect()
    }

    /// The list answer, `{"repoList":[...]}` with `status` computed for `now`, as JSON bytes.
    /// Built again only after a change, or when some repository's status turns false with the
    /// passing of time (a status only turns from true to false as time passes).
    pub fn list_json(&self, now: i64) -> bytes::Bytes {
        let cache = self.read();
        let mut slot = self.list_json.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = slot.as_ref() {
            if c.generation == cache.generation && c.built_at <= now && now < c.valid_until {
                return c.bytes.clone();
            }
        }
        let mut out = Vec::with_capacity(64 + cache.by_id.len() * 400);
        let mut valid_until = i64::MAX;
        out.extend_from_slice(br#"{"repoList":["#);
        for (i, repo) in cache.by_id.values().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let repo = repo.clone().at(now);
            if repo.status {
                valid_until = valid_until.min(repo.last_save.saturating_add(repo.alert as i64).saturating_add(1));
            }
            // A Repo always serializes: plain strings and numbers.
            let _ = serde_json::to_writer(&mut out, &repo);
        }
        out.extend_from_slice(b"]}");
        let bytes = bytes::Bytes::from(out);
        *slot = Some(ListCache { generation: cache.generation, built_at: now, valid_until, bytes: bytes.clone() });
        bytes
    }

    pub fn len(&self) -> usize {
        self.read().by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, id: u64) -> Option<Repo> {
        self.read().by_id.get(&id).cloned()
    }

    pub fn get_by_name(&self, name: &str) -> Option<Repo> {
        let cache = self.read();
        cache.by_name.get(name).and_then(|id| cache.by_id.get(id)).cloned()
    }

    fn lines(&self) -> Vec<RepoLine> {
        self.read().by_id.values().map(Repo::line).collect()
    }

    /// 409 when `key` stands on any line but `except`'s own.
    fn check_key_free(&self, key: &ClientKey, except: Option<u64>) -> ApiResult<()> {
        let identity = key.identity();
        let taken_by_repo = matches!(self.read().by_key.get(&identity), Some(id) if Some(*id) != except);
        if taken_by_repo || self.keys.foreign_keys().map_err(ApiError::internal)?.contains(&identity) {
            return Err(ApiError::Conflict(KEY_IN_USE.into()));
        }
        Ok(())
    }

    fn fresh_name(&self) -> String {
        loop {
            let name = hex::encode(rand::random::<[u8; 4]>());
            let taken = self.read().by_name.contains_key(&name)
                || std::fs::symlink_metadata(self.pool.repo_path(&name)).is_ok();
            if !taken {
                return name;
            }
        }
    }

    /// The next id to give. Read under the write lock, which every writer of it holds (or at
    /// start-up, before anything else runs).
    fn next_id(&self) -> ApiResult<u64> {
        Ok(self
            .meta
            .get(NEXT_ID)
            .map_err(ApiError::internal)?
            .map(|v| u64::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 8])))
            .unwrap_or(0))
    }

    /// Writes records and the id counter in one transaction, so an id is never handed out
    /// twice and no record outlives a counter that would give its id again.
    fn store_records(&self, records: &[Repo], next_id: u64) -> ApiResult<()> {
        (&self.repos, &self.meta)
            .transaction(|(tree, meta)| {
                for r in records {
                    let bytes =
                        serde_json::to_vec(r).map_err(|e| ConflictableTransactionError::Abort(e.to_string()))?;
                    tree.insert(&id_key(r.id), bytes)?;
                }
                meta.insert(NEXT_ID, &next_id.to_be_bytes())?;
                Ok(())
            })
            .map_err(|e: TransactionError<String>| ApiError::internal(format!("{e:?}")))
    }

    async fn persist(&self) -> ApiResult<()> {
        self.db.flush_async().await.map(|_| ()).map_err(ApiError::internal)
    }

    fn put_record(&self, repo: &Repo) -> ApiResult<()> {
        let bytes = serde_json::to_vec(repo).map_err(ApiError::internal)?;
        self.repos.insert(id_key(repo.id), bytes).map_err(ApiError::internal)?;
        Ok(())
    }

    /// Makes a change durable: flushes the store and renders `authorized_keys` from the cache,
    /// both at once (each survives a crash on its own, and start-up reconciles the file with the
    /// store, so their order on disk does not matter). On a file failure runs `undo` so that
    /// the store and the file agree again, and answers 500.
    async fn commit(&self, undo: impl FnOnce(&Self) -> ApiResult<()>) -> ApiResult<()> {
        let keys = self.keys.clone();
        let lines = self.lines();
        let pool = self.pool.clone();
        let write_file = tokio::task::spawn_blocking(move || {
            pool.ensure()?;
            keys.sync(&lines)
        });
        let (flushed, written) = tokio::join!(self.persist(), write_file);
        let result = written.map_err(ApiError::internal)?;
        if let Err(e) = result {
            tracing::error!(error = %e, path = %self.keys.path().display(), "writing authorized_keys failed; undoing the change");
            undo(self)?;
            self.persist().await?;
            return Err(ApiError::Internal);
        }
        flushed
    }

    pub async fn create(&self, new: NewRepo) -> ApiResult<Repo> {
        let mut created = self.create_many(vec![new]).await?;
        created.pop().ok_or_else(|| ApiError::internal("a create stored nothing"))
    }

    /// Creates many repositories under one lock, one store transaction and one
    /// `authorized_keys` write (imports, benchmarks). All or nothing.
    pub async fn create_many(&self, news: Vec<NewRepo>) -> ApiResult<Vec<Repo>> {
        let _guard = self.write.lock().await;
        let foreign = self.keys.foreign_keys().map_err(ApiError::internal)?;
        let mut batch_keys = std::collections::HashSet::new();
        for new in &news {
            let identity = new.key.identity();
            if self.read().by_key.contains_key(&identity) || foreign.contains(&identity) || !batch_keys.insert(identity)
            {
                return Err(ApiError::Conflict(KEY_IN_USE.into()));
            }
        }
        let mut names = std::collections::HashSet::new();
        let mut repos: Vec<Repo> = Vec::with_capacity(news.len());
        for new in news {
            let name = loop {
                let n = self.fresh_name();
                if names.insert(n.clone()) {
                    break n;
                }
            };
            repos.push(Repo::new(new, name));
        }
        let first = self.next_id()?;
        for (i, r) in repos.iter_mut().enumerate() {
            r.id = first + i as u64;
        }
        self.store_records(&repos, first + repos.len() as u64)?;
        {
            let mut cache = self.cache_mut();
            for r in &repos {
                cache.put(r.clone());
            }
        }
        let ids: Vec<u64> = repos.iter().map(|r| r.id).collect();
        self.commit(move |s| {
            for id in &ids {
                s.repos.remove(id_key(*id)).map_err(ApiError::internal)?;
                s.cache_mut().remove(*id);
            }
            Ok(())
        })
        .await?;
        Ok(repos)
    }

    pub async fn update(&self, id: u64, patch: RepoPatch) -> ApiResult<Repo> {
        let _guard = self.write.lock().await;
        let old = self.get(id).ok_or_else(|| ApiError::NotFound(String::new()))?;
        if let Some(key) = &patch.key {
            self.check_key_free(key, Some(id))?;
        }
        let mut repo = old.clone();
        if let Some(v) = patch.alias {
            repo.alias = v;
        }
        if let Some(v) = patch.key {
            repo.ssh_public_key = v.to_openssh();
        }
        if let Some(v) = patch.storage_size {
            repo.storage_size = v;
        }
        if let Some(v) = patch.comment {
            repo.comment = v;
        }
        if let Some(v) = patch.alert {
            repo.alert = v;
        }
        if let Some(v) = patch.lan_command {
            repo.lan_command = v;
        }
        if let Some(v) = patch.append_only_mode {
            repo.append_only_mode = v;
        }
        self.put_record(&repo)?;
        self.cache_mut().put(repo.clone());
        self.commit(|s| {
            s.put_record(&old)?;
            s.cache_mut().put(old.clone());
            Ok(())
        })
        .await?;
        Ok(repo)
    }

    pub async fn delete(&self, id: u64) -> ApiResult<Repo> {
        let _guard = self.write.lock().await;
        let old = self.get(id).ok_or_else(|| ApiError::NotFound(String::new()))?;
        self.repos.remove(id_key(id)).map_err(ApiError::internal)?;
        self.cache_mut().remove(id);
        self.commit(|s| {
            s.put_record(&old)?;
            s.cache_mut().put(old.clone());
            Ok(())
        })
        .await?;
        // The key can no longer reach the folder; a folder left behind is only disk space.
        let pool = self.pool.clone();
        let name = old.repository_name.clone();
        match tokio::task::spawn_blocking(move || pool.remove_repo(&name)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(repository = %old.repository_name, error = %e, "removing the repository folder failed")
            }
            Err(e) => {
                tracing::error!(repository = %old.repository_name, error = %e, "removing the repository folder failed")
            }
        }
        Ok(old)
    }

    /// Takes in BorgWarehouse's `repo.json` (an array of repositories in the same shape as the
    /// API's). A repository whose name the store knows gets BorgWarehouse's fields; a new one
    /// keeps its id when free. Entries with a bad name or key, or a key another repository
    /// uses, are skipped and reported. One store transaction, one `authorized_keys` write.
    pub async fn import_borgwarehouse(&self, entries: Vec<serde_json::Value>) -> ApiResult<ImportReport> {
        let _guard = self.write.lock().await;
        // Run before the server's first start, the import must not drop the lines a
        // BorgWarehouse server left: take them in first, as the first start would.
        self.adopt_existing_lines().map_err(ApiError::internal)?;
        let foreign = self.keys.foreign_keys().map_err(ApiError::internal)?;
        let mut report = ImportReport::default();
        let mut records: Vec<Repo> = Vec::new();
        let mut used_ids: std::collections::HashSet<u64> = self.read().by_id.keys().copied().collect();
        let mut next_id = self.next_id()?;
        next_id = next_id.max(used_ids.iter().max().map_or(0, |m| m + 1));
        let mut keys_taken: HashMap<KeyIdentity, String> = {
            let cache = self.read();
            cache
                .by_key
                .iter()
                .filter_map(|(k, id)| cache.by_id.get(id).map(|r| (k.clone(), r.repository_name.clone())))
                .collect()
        };
        for entry in entries {
            let name = entry["repositoryName"].as_str().unwrap_or_default().to_string();
            let skip = |report: &mut ImportReport, why: &str| {
                report.skipped.push(format!("{}: {why}", if name.is_empty() { "?" } else { &name }))
            };
            if !crate::pool::is_repo_name(&name) {
                skip(&mut report, "repositoryName is not 8 lowercase hex characters");
                continue;
            }
            let Ok(key) = ClientKey::parse(entry["sshPublicKey"].as_str().unwrap_or_default()) else {
                skip(&mut report, "sshPublicKey is not an accepted public key");
                continue;
            };
            let identity = key.identity();
            if foreign.contains(&identity) || matches!(keys_taken.get(&identity), Some(owner) if *owner != name) {
                skip(&mut report, "its key is already used elsewhere in authorized_keys");
                continue;
            }
            let text = |field: &str, max: usize| {
                entry[field]
                    .as_str()
                    .filter(|s| s.chars().count() <= max && !s.chars().any(char::is_control))
                    .map(str::to_string)
            };
            let existing = self.get_by_name(&name);
            let mut repo = existing.clone().unwrap_or_else(|| {
                let new = NewRepo {
                    alias: name.clone(),
                    key: key.clone(),
                    storage_size: 1,
                    comment: String::new(),
                    alert: 0,
                    lan_command: false,
                    append_only_mode: false,
                };
                Repo::new(new, name.clone())
            });
            if existing.is_none() {
                repo.id = match entry["id"].as_u64() {
                    Some(id) if !used_ids.contains(&id) => id,
                    _ => next_id,
                };
                used_ids.insert(repo.id);
                next_id = next_id.max(repo.id + 1);
            }
            repo.alias = text("alias", 100).filter(|a| !a.trim().is_empty()).unwrap_or(repo.alias);
            repo.comment = text("comment", 500).unwrap_or(repo.comment);
            repo.ssh_public_key = key.to_openssh();
            if let Some(n) = entry["storageSize"].as_u64().filter(|n| (1..=1_000_000).contains(n)) {
                repo.storage_size = n;
            }
            repo.alert = entry["alert"].as_u64().unwrap_or(repo.alert);
            repo.lan_command = entry["lanCommand"].as_bool().unwrap_or(repo.lan_command);
            repo.append_only_mode = entry["appendOnlyMode"].as_bool().unwrap_or(repo.append_only_mode);
            repo.last_save = entry["lastSave"].as_i64().unwrap_or(repo.last_save);
            repo.storage_used = entry["storageUsed"].as_u64().unwrap_or(repo.storage_used);
            repo.last_status_alert_send = entry["lastStatusAlertSend"].as_i64().or(repo.last_status_alert_send);
            keys_taken.insert(identity, name.clone());
            if existing.is_some() {
                report.updated.push(name);
            } else {
                report.added.push(name);
            }
            records.retain(|r| r.repository_name != repo.repository_name);
            records.push(repo);
        }
        if records.is_empty() {
            return Ok(report);
        }
        let before: Vec<Option<Repo>> = records.iter().map(|r| self.get(r.id)).collect();
        self.store_records(&records, next_id)?;
        {
            let mut cache = self.cache_mut();
            for r in &records {
                cache.put(r.clone());
            }
        }
        self.commit(move |s| {
            for (r, old) in records.iter().zip(before) {
                match old {
                    Some(old) => {
                        s.put_record(&old)?;
                        s.cache_mut().put(old);
                    }
                    None => {
                        s.repos.remove(id_key(r.id)).map_err(ApiError::internal)?;
                        s.cache_mut().remove(r.id);
                    }
                }
            }
            Ok(())
        })
        .await?;
        Ok(report)
    }

    /// Changes fields that a check owns (`lastSave`, `storageUsed`, `lastStatusAlertSend`) on
    /// the current record, so an edit made while a scan ran is kept. A repository deleted
    /// meanwhile stays deleted.
    pub async fn update_scanned(&self, id: u64, change: impl FnOnce(&mut Repo)) -> ApiResult<bool> {
        let _guard = self.write.lock().await;
        let Some(before) = self.get(id) else { return Ok(false) };
        let mut repo = before.clone();
        change(&mut repo);
        if repo != before {
            self.put_record(&repo)?;
            self.cache_mut().put(repo);
        }
        Ok(true)
    }

    /// Flushes changes made by [`RepoStore::update_scanned`].
    pub async fn flush(&self) -> ApiResult<()> {
        self.persist().await
    }

    /// On the very first start with an empty store, takes in the repository lines already in
    /// `authorized_keys` (a BorgWarehouse server writes the same lines), so that pointing this
    /// server at an existing borg home does not cut every client off. Later, the store is the
    /// truth and such lines are stale. Returns the names taken in.
    fn adopt_existing_lines(&self) -> std::io::Result<Vec<String>> {
        let initialized = self.meta.get(INITIALIZED).map_err(std::io::Error::other)?.is_some();
        if initialized || !self.is_empty() {
            return Ok(Vec::new());
        }
        let mut adopted = Vec::new();
        let mut seen_keys = std::collections::HashSet::new();
        for line in self.keys.lines_of_ours()? {
            let key = match ClientKey::parse(&line.key) {
                Ok(k) if crate::pool::is_repo_name(&line.name) && seen_keys.insert(k.identity()) => k,
                _ => {
                    tracing::warn!(repository = %line.name, "authorized_keys: line not taken in (bad name, bad key or a key used twice)");
                    continue;
                }
            };
            if adopted.iter().any(|r: &Repo| r.repository_name == line.name) {
                continue;
            }
            let new = NewRepo {
                alias: line.name.clone(),
                key,
                storage_size: line.storage_size_gb.max(1),
                comment: "taken in from authorized_keys at first start".into(),
                alert: 0,
                lan_command: false,
                append_only_mode: line.append_only,
            };
            let mut repo = Repo::new(new, line.name.clone());
            repo.id = adopted.len() as u64;
            adopted.push(repo);
        }
        self.store_records(&adopted, adopted.len() as u64)
            .map_err(|_| std::io::Error::other("storing the repositories taken in failed"))?;
        let mut cache = self.cache_mut();
        let names = adopted.iter().map(|r| r.repository_name.clone()).collect();
        for repo in adopted {
            tracing::warn!(repository = %repo.repository_name, "authorized_keys: repository line taken in at first start");
            cache.put(repo);
        }
        Ok(names)
    }

    /// Brings `authorized_keys` back in line with the store, logging each line it fixed.
    pub fn reconcile(&self) -> std::io::Result<crate::authorized_keys::SyncReport> {
        self.pool.ensure()?;
        self.adopt_existing_lines()?;
        let report = self.keys.sync(&self.lines())?;
        self.meta.insert(INITIALIZED, &[1u8]).map_err(std::io::Error::other)?;
        self.db.flush().map_err(std::io::Error::other)?;
        for name in &report.added {
            tracing::warn!(repository = %name, "authorized_keys: line was missing; added");
        }
        for name in &report.rewritten {
            tracing::warn!(repository = %name, "authorized_keys: line differed from the store; rewritten");
        }
        for name in &report.removed {
            tracing::warn!(repository = %name, "authorized_keys: line for no stored repository (or a duplicate); removed");
        }
        // sshd takes the first line with a matching key: a hand-written line with a
        // repository's key can shadow (or widen) that repository's restrictions.
        let foreign = self.keys.foreign_keys()?;
        let shadowed: Vec<String> = {
            let cache = self.read();
            cache
                .by_key
                .iter()
                .filter(|(identity, _)| foreign.contains(*identity))
                .filter_map(|(_, id)| cache.by_id.get(id).map(|r| r.repository_name.clone()))
                .collect()
        };
        for name in shadowed {
            tracing::warn!(repository = %name, "authorized_keys: this repository's key also stands on a line this server did not write; sshd uses whichever comes first");
        }
        Ok(report)
    }
}
