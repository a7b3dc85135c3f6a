//! Taking in what a BorgWarehouse server left: its `repo.json`, and at the very first start the
//! repository lines already in `authorized_keys`.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;

use super::{NewRepo, Repo, RepoStore, INITIALIZED};
use crate::limits;
use crate::ssh_key::{ClientKey, KeyIdentity};
use crate::store_error::{StoreError, StoreResult};

/// One entry of BorgWarehouse's `repo.json`, as versions 2.x to 3.6 write it. Fields this
/// server does not keep (`status`, `displayDetails`, `unixUser`, 3.x's additions) are ignored;
/// a field of the wrong type refuses the whole file instead of being dropped silently.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BorgWarehouseRepo {
    pub id: Option<u64>,
    pub alias: Option<String>,
    pub repository_name: String,
    pub ssh_public_key: String,
    pub storage_size: Option<u64>,
    pub storage_used: Option<u64>,
    pub comment: Option<String>,
    pub alert: Option<u64>,
    pub lan_command: Option<bool>,
    pub append_only_mode: Option<bool>,
    pub last_save: Option<i64>,
    pub last_status_alert_send: Option<i64>,
}

impl BorgWarehouseRepo {
    /// Reads every entry; the error lists each entry that does not have the expected shape.
    pub fn parse_all(entries: &[serde_json::Value]) -> StoreResult<Vec<BorgWarehouseRepo>> {
        let mut parsed = Vec::with_capacity(entries.len());
        let mut problems = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            match BorgWarehouseRepo::deserialize(entry) {
                Ok(r) => parsed.push(r),
                Err(e) => {
                    let name = entry.get("repositoryName").and_then(|n| n.as_str()).unwrap_or("?");
                    problems.push(format!("entry {i} ({name}): {e}"));
                }
            }
        }
        if problems.is_empty() {
            Ok(parsed)
        } else {
            Err(StoreError::Refused(format!("repo.json refused, nothing changed: {}", problems.join("; "))))
        }
    }
}

/// What an import did, by repository name.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub added: Vec<String>,
    pub updated: Vec<String>,
    pub skipped: Vec<String>,
}

impl RepoStore {
    /// Takes in BorgWarehouse's `repo.json`. A repository whose name the store knows gets
    /// BorgWarehouse's fields; a new one keeps its id when free. Entries with a bad name or key,
    /// or a key another repository uses, are skipped and reported. One store transaction, one
    /// `authorized_keys` write.
    pub async fn import_borgwarehouse(&self, entries: Vec<serde_json::Value>) -> StoreResult<ImportReport> {
        let entries = BorgWarehouseRepo::parse_all(&entries)?;
        let _guard = self.write.lock().await;
        // Run before the server's first start, the import must not drop the lines a
        // BorgWarehouse server left: take them in first, as the first start would.
        self.adopt_existing_lines()?;
        let foreign = self.foreign_keys()?;
        let mut report = ImportReport::default();
        let mut records: Vec<Repo> = Vec::new();
        let mut used_ids: HashSet<u64> = self.read().by_id.keys().copied().collect();
        let mut next_id = self.next_id()?.max(used_ids.iter().max().map_or(0, |m| m + 1));
        let mut keys_taken: HashMap<KeyIdentity, String> = self.read().names_by_key();
        for entry in entries {
            let name = entry.repository_name.clone();
            let mut skip = |why: &str| report.skipped.push(format!("{name}: {why}"));
            if !crate::pool::is_repo_name(&name) {
                skip("repositoryName is not 8 lowercase hex characters");
                continue;
            }
            let Ok(key) = ClientKey::parse(&entry.ssh_public_key) else {
                skip("sshPublicKey is not an accepted public key");
                continue;
            };
            let identity = key.identity();
            if foreign.contains(&identity) || matches!(keys_taken.get(&identity), Some(owner) if *owner != name) {
                skip("its key is already used elsewhere in authorized_keys");
                continue;
            }
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
                repo.id = match entry.id {
                    Some(id) if !used_ids.contains(&id) => id,
                    _ => next_id,
                };
                used_ids.insert(repo.id);
                next_id = next_id.max(repo.id + 1);
            }
            apply(&mut repo, &entry, &key);
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
        self.index_all(&records);
        self.commit(move |s| {
            for (r, old) in records.iter().zip(before) {
                match old {
                    Some(old) => {
                        s.put_record(&old)?;
                        s.index_mut().put(old);
                    }
                    None => {
                        s.repos.remove(super::id_key(r.id))?;
                        s.index_mut().remove(r.id);
                    }
                }
            }
            Ok(())
        })
        .await?;
        Ok(report)
    }

    /// On the very first start with an empty store, takes in the repository lines already in
    /// `authorized_keys` (a BorgWarehouse server writes the same lines), so that pointing this
    /// server at an existing borg home does not cut every client off. Later, the store is the
    /// truth and such lines are stale. Returns the names taken in.
    pub(super) fn adopt_existing_lines(&self) -> StoreResult<Vec<String>> {
        let initialized = self.meta.get(INITIALIZED)?.is_some();
        if initialized || !self.is_empty() {
            return Ok(Vec::new());
        }
        let mut adopted: Vec<Repo> = Vec::new();
        let mut seen_keys = HashSet::new();
        let lines = self.keys.lines_of_ours().map_err(|e| StoreError::io(self.keys.path(), e))?;
        for line in lines {
            let key = match ClientKey::parse(&line.key) {
                Ok(k) if crate::pool::is_repo_name(&line.name) && seen_keys.insert(k.identity()) => k,
                _ => {
                    tracing::warn!(repository = %line.name, "authorized_keys: line not taken in (bad name, bad key or a key used twice)");
                    continue;
                }
            };
            if adopted.iter().any(|r| r.repository_name == line.name) {
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
        self.store_records(&adopted, adopted.len() as u64)?;
        for repo in &adopted {
            tracing::warn!(repository = %repo.repository_name, "authorized_keys: repository line taken in at first start");
        }
        self.index_all(&adopted);
        Ok(adopted.into_iter().map(|r| r.repository_name).collect())
    }
}

/// BorgWarehouse's fields on a record. Text that breaks this server's limits keeps the value
/// the record had (the import never writes what the API would refuse).
fn apply(repo: &mut Repo, entry: &BorgWarehouseRepo, key: &ClientKey) {
    let acceptable = |field: &str, v: &Option<String>, max: usize, allow_empty: bool| {
        v.clone().filter(|s| limits::text_problem(field, s, max, allow_empty).is_none())
    };
    if let Some(alias) = acceptable("alias", &entry.alias, limits::ALIAS_MAX_CHARS, false) {
        repo.alias = alias;
    }
    if let Some(comment) = acceptable("comment", &entry.comment, limits::COMMENT_MAX_CHARS, true) {
        repo.comment = comment;
    }
    repo.ssh_public_key = key.to_openssh();
    if let Some(n) = entry.storage_size.filter(|n| limits::STORAGE_GB.contains(n)) {
        repo.storage_size = n;
    }
    // BorgWarehouse 3.x accepts any alert delay: what it accepted is kept as it is.
    repo.alert = entry.alert.unwrap_or(repo.alert);
    repo.lan_command = entry.lan_command.unwrap_or(repo.lan_command);
    repo.append_only_mode = entry.append_only_mode.unwrap_or(repo.append_only_mode);
    repo.last_save = entry.last_save.unwrap_or(repo.last_save);
    repo.storage_used = entry.storage_used.unwrap_or(repo.storage_used);
    repo.last_status_alert_send = entry.last_status_alert_send.or(repo.last_status_alert_send);
}
