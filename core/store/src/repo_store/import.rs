//! Taking in what a BorgWarehouse server left: at the very first start, the repository lines
//! already in `authorized_keys`; and on demand its `config/repo.json`, whose ids, aliases,
//! quotas and the rest are the truth that scripts and Terraform state know.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{META_TABLE, REPOS_TABLE};
use serde::Deserialize;

use super::stored::encode_record;
use super::{id_key, NewRepo, Repo, RepoStore, INITIALIZED, NEXT_ID};
use crate::store_error::{StoreError, StoreResult};
use bw_host::authorized_keys::KeyChange;
use bw_host::ssh_key::ClientKey;

/// Records made by first-start adoption: their ids were made up here and no client has seen
/// them yet, so an import may give them BorgWarehouse's.
const ADOPTED: &[u8] = b"adopted:";

fn adopted_key(id: u64) -> Vec<u8> {
    [ADOPTED, &id.to_be_bytes()].concat()
}

/// One entry of BorgWarehouse's `repo.json`, as versions 2.x to 3.6 write it (`displayDetails`,
/// `unixUser`, the 3.x fields present or absent). A field of the wrong type refuses the whole
/// file instead of being dropped.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BorgWarehouseRepo {
    pub id: u64,
    pub alias: String,
    pub repository_name: String,
    pub ssh_public_key: String,
    pub storage_size: u64,
    #[serde(default)]
    pub storage_used: u64,
    #[serde(default)]
    pub comment: String,
    #[serde(default)]
    pub alert: u64,
    #[serde(default)]
    pub lan_command: bool,
    #[serde(default)]
    pub append_only_mode: bool,
    #[serde(default)]
    pub last_save: i64,
    pub last_status_alert_send: Option<i64>,
    pub icon: Option<String>,
    pub storage_target: Option<String>,
    #[serde(default)]
    pub archived: bool,
    /// Ignored: this server has one borg user (the dry run says so).
    pub unix_user: Option<String>,
    /// Kept until this server's next status check computes its own.
    pub status: Option<bool>,
}

/// What an import did (or, dry, would do), by repository name.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub added: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
    /// Repositories taken in at first start that got their BorgWarehouse id: (name, from, to).
    pub renumbered: Vec<(String, u64, u64)>,
    /// Notes for the operator (ignored fields).
    pub notes: Vec<String>,
}

impl BorgWarehouseRepo {
    /// Reads and checks every entry; the error lists each offending entry and field, and then
    /// nothing changes.
    pub fn parse_all(entries: &[serde_json::Value]) -> StoreResult<Vec<(BorgWarehouseRepo, ClientKey)>> {
        let mut parsed = Vec::with_capacity(entries.len());
        let mut problems = Vec::new();
        let (mut names, mut ids, mut keys) = (HashSet::new(), HashSet::new(), HashSet::new());
        for (i, entry) in entries.iter().enumerate() {
            let shown = entry.get("repositoryName").and_then(|n| n.as_str()).unwrap_or("?");
            let mut problem = |what: String| problems.push(format!("entry {i} ({shown}): {what}"));
            let repo = match BorgWarehouseRepo::deserialize(entry) {
                Ok(r) => r,
                Err(e) => {
                    problem(e.to_string());
                    continue;
                }
            };
            if !bw_host::pool::is_repo_name(&repo.repository_name) {
                problem("repositoryName is not 8 lowercase hex characters".into());
            }
            let key = match ClientKey::parse(&repo.ssh_public_key) {
                Ok(k) => Some(k),
                Err(e) => {
                    problem(e);
                    None
                }
            };
            if !names.insert(repo.repository_name.clone()) {
                problem("repositoryName stands twice in the file".into());
            }
            if !ids.insert(repo.id) {
                problem(format!("id {} stands twice in the file", repo.id));
            }
            if let Some(key) = key {
                if !keys.insert(key.identity()) {
                    problem("sshPublicKey is the key of another entry".into());
                }
                parsed.push((repo, key));
            }
        }
        if problems.is_empty() {
            Ok(parsed)
        } else {
            Err(StoreError::ImportRefused { file: "repo.json", problems })
        }
    }

    /// The record this entry makes, on top of `base` (the record already here, if any).
    fn record(&self, id: u64, key: &ClientKey, base: Option<&Repo>, now: i64) -> Repo {
        let new = NewRepo {
            alias: self.alias.clone(),
            key: key.clone(),
            storage_size: self.storage_size,
            comment: self.comment.clone(),
            alert: self.alert,
            lan_command: self.lan_command,
            append_only_mode: self.append_only_mode,
            icon: self.icon.clone(),
            // BorgWarehouse made the folder and the link already; the record names the target below.
            storage_target: None,
            tenant: None,
        };
        // What BorgWarehouse accepted is taken as it is (an alert outside the list, an old
        // alias); later edits validate only the fields they send.
        let mut repo = Repo::new(new, self.repository_name.clone(), now);
        repo.id = id;
        repo.last_save = self.last_save;
        repo.storage_used = self.storage_used;
        repo.last_status_alert_send = self.last_status_alert_send.or(base.and_then(|b| b.last_status_alert_send));
        repo.storage_target = self.storage_target.clone();
        repo.archived = self.archived;
        repo.imported_status = self.status;
        // A key already here keeps its record (name, dates), and the repository its other keys:
        // BorgWarehouse knows of the first key only.
        if let Some(base) = base.filter(|b| first_key_is(b, key)) {
            let mode = repo.keys[0].mode;
            repo.keys = base.keys.clone();
            repo.keys[0].mode = mode;
            repo.keys[0].ssh_public_key = key.to_openssh();
        }
        repo
    }
}

fn first_key_is(repo: &Repo, key: &ClientKey) -> bool {
    bw_host::ssh_key::digest_of_stored(repo.ssh_public_key()) == Some(key.identity().digest())
}

/// What an import would change (see `RepoStore::plan_import`).
struct ImportPlan {
    report: ImportReport,
    /// The records to write.
    records: Vec<Repo>,
    /// Ids of repositories taken in at first start that move to BorgWarehouse's id.
    removed_ids: Vec<u64>,
}

impl RepoStore {
    fn is_adopted(&self, id: u64) -> StoreResult<bool> {
        Ok(self.meta.get(adopted_key(id))?.is_some())
    }

    /// The ids of the store's records when every one of them was taken in at the first start
    /// and nothing else was ever stored (no id given out beyond them); `None` otherwise.
    pub(super) fn first_start_adoptions_only(&self) -> StoreResult<Option<Vec<u64>>> {
        let ids: Vec<u64> = self.list()?.iter().map(|r| r.id).collect();
        for id in &ids {
            if !self.is_adopted(*id)? {
                return Ok(None);
            }
        }
        Ok((self.next_id()? == ids.len() as u64).then_some(ids))
    }

    /// Removes the records `replaced` (and their "adopted" marks) and writes `records` with the
    /// counter, in one transaction.
    pub(super) fn replace_records(&self, replaced: &[u64], records: &[Repo], next_id: u64) -> StoreResult<()> {
        let encoded: Vec<(u64, Vec<u8>)> = {
            let seq = self.next_seq()?;
            records.iter().map(|r| Ok((r.id, encode_record(r, seq)?))).collect::<StoreResult<_>>()?
        };
        {
            let (mut tree, mut meta) = (crate::backend::Batch::default(), crate::backend::Batch::default());
            for id in replaced {
                tree.remove(id_key(*id));
                meta.remove(adopted_key(*id));
            }
            for (id, bytes) in &encoded {
                tree.insert(id_key(*id), bytes.as_slice());
            }
            meta.insert(NEXT_ID, next_id.to_be_bytes());
            self.db.apply_across(vec![(REPOS_TABLE, tree), (META_TABLE, meta)])?;
        }
        Ok(())
    }

    /// Takes in BorgWarehouse's `repo.json` under BorgWarehouse's ids. Run twice, the second
    /// run changes nothing; killed midway, its one store transaction either happened or not, and
    /// a second run completes it. `dry_run` says what would change and changes nothing.
    pub async fn import_borgwarehouse(
        &self,
        entries: Vec<serde_json::Value>,
        dry_run: bool,
    ) -> StoreResult<ImportReport> {
        let entries = BorgWarehouseRepo::parse_all(&entries)?;
        let _guard = self.lock_for_change().await?;
        // Run before the server's first start, the import must not drop the lines a
        // BorgWarehouse server left: take them in first, as the first start would.
        if !dry_run {
            self.adopt_existing_lines()?;
        }
        let current: BTreeMap<u64, Repo> = self.records().map(|r| r.map(|r| (r.id, r))).collect::<StoreResult<_>>()?;
        let ImportPlan { report, records, removed_ids } = self.plan_import(&entries, &current)?;
        if dry_run || records.is_empty() {
            return Ok(report);
        }
        let highest = entries.iter().map(|(e, _)| e.id).max().unwrap_or(0);
        self.apply_import(&records, &removed_ids, &current, highest).await?;
        Ok(report)
    }

    /// What an import of `entries` would change, given the records `current`: each entry
    /// added, updated, unchanged or renumbered (a repository taken in at first start, under
    /// the id BorgWarehouse gave it), or every problem that refuses the whole import.
    fn plan_import(
        &self,
        entries: &[(BorgWarehouseRepo, ClientKey)],
        current: &BTreeMap<u64, Repo>,
    ) -> StoreResult<ImportPlan> {
        let foreign = self.foreign_keys()?;
        let mut report = ImportReport::default();
        if entries.iter().any(|(e, _)| e.unix_user.is_some()) {
            report.notes.push("unixUser is ignored: this server serves one borg user, the owner of BW_HOME".into());
        }
        let by_name: HashMap<&str, &Repo> = current.values().map(|r| (r.repository_name.as_str(), r)).collect();
        let imported_names: HashSet<&str> = entries.iter().map(|(e, _)| e.repository_name.as_str()).collect();
        let mut problems = Vec::new();
        let mut records = Vec::new();
        let mut removed_ids = Vec::new();
        for (entry, key) in entries {
            let name = entry.repository_name.as_str();
            let here = by_name.get(name).copied();
            // The record now holding BorgWarehouse's id, when it is another repository.
            let holder = current.get(&entry.id).filter(|r| r.repository_name != name);
            if let Some(other) = holder {
                let moves_away = self.is_adopted(other.id)? && imported_names.contains(other.repository_name.as_str());
                if !moves_away {
                    problems.push(format!(
                        "BorgWarehouse id {} ({name}) belongs here to repository {} ({}), whose id clients have seen",
                        entry.id, other.repository_name, other.alias
                    ));
                    continue;
                }
            }
            if let Some(here) = here.filter(|h| h.id != entry.id) {
                if !self.is_adopted(here.id)? {
                    problems.push(format!(
                        "{name} has id {} here, which clients have seen, and id {} in repo.json",
                        here.id, entry.id
                    ));
                    continue;
                }
                report.renumbered.push((name.to_string(), here.id, entry.id));
                removed_ids.push(here.id);
            }
            let identity = key.identity();
            let key_owner = self
                .read()
                .id_of_key(&identity.digest())
                .and_then(|id| current.get(&id))
                .map(|r| r.repository_name.clone());
            if foreign.contains(&identity)
                || key_owner.as_deref().is_some_and(|owner| owner != name && !imported_names.contains(owner))
            {
                problems.push(format!("{name}: its key already stands on another line of authorized_keys"));
                continue;
            }
            let record = entry.record(entry.id, key, here, self.clock.now());
            match here {
                None => report.added.push(name.to_string()),
                Some(h) if *h == record => report.unchanged.push(name.to_string()),
                Some(_) => report.updated.push(name.to_string()),
            }
            if here != Some(&record) {
                records.push(record);
            }
        }
        if !problems.is_empty() {
            return Err(StoreError::ImportRefused { file: "repo.json", problems });
        }
        Ok(ImportPlan { report, records, removed_ids })
    }

    /// Writes an import's records and takes away the ids given up, with the counter past
    /// `highest`, in one store transaction, then the key lines; undone if the lines cannot be
    /// written.
    async fn apply_import(
        &self,
        records: &[Repo],
        removed_ids: &[u64],
        current: &BTreeMap<u64, Repo>,
        highest: u64,
    ) -> StoreResult<()> {
        let next_id = self.next_id()?.max(highest + 1);
        let encoded: Vec<(u64, Vec<u8>)> = {
            let seq = self.next_seq()?;
            records.iter().map(|r| Ok((r.id, encode_record(r, seq)?))).collect::<StoreResult<_>>()?
        };
        // The "adopted" marks this import takes away, to put back if it has to be undone.
        let mut marked_before = Vec::new();
        for id in removed_ids.iter().chain(records.iter().map(|r| &r.id)) {
            if self.is_adopted(*id)? {
                marked_before.push(*id);
            }
        }
        self.unsettle();
        // Records, ids given up and the counter in one transaction.
        {
            let (mut tree, mut meta) = (crate::backend::Batch::default(), crate::backend::Batch::default());
            for id in removed_ids {
                tree.remove(id_key(*id));
                meta.remove(adopted_key(*id));
            }
            for (id, bytes) in &encoded {
                tree.insert(id_key(*id), bytes.as_slice());
                // A repository BorgWarehouse knows keeps its id from now on.
                meta.remove(adopted_key(*id));
            }
            meta.insert(NEXT_ID, next_id.to_be_bytes());
            self.db.apply_across(vec![(REPOS_TABLE, tree), (META_TABLE, meta)])?;
        }
        let before: Vec<Repo> =
            removed_ids.iter().chain(records.iter().map(|r| &r.id)).filter_map(|id| current.get(id).cloned()).collect();
        {
            let mut index = self.index_mut();
            for id in removed_ids {
                index.remove(*id);
            }
        }
        self.index_all(records);
        let written: Vec<u64> = records.iter().map(|r| r.id).collect();
        let change = KeyChange::Batch {
            before: before.iter().flat_map(Repo::lines).collect(),
            after: records.iter().flat_map(Repo::lines).collect(),
        };
        self.commit(change, move |s| {
            // The file could not be written: put the store back as it was.
            for id in &written {
                s.repos.remove(id_key(*id))?;
                s.index_mut().remove(*id);
            }
            for old in &before {
                s.put_record(old)?;
                s.index_mut().put(old);
            }
            for id in &marked_before {
                s.meta.insert(adopted_key(*id), [1u8])?;
            }
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// On the very first start with an empty store, takes in the repository lines already in
    /// `authorized_keys` (BorgWarehouse's, in any of its forms), so that pointing this server
    /// at an existing borg home does not cut every client off. Later, the store is the truth
    /// and such lines are stale. Returns the names taken in.
    pub(super) fn adopt_existing_lines(&self) -> StoreResult<Vec<String>> {
        let initialized = self.meta.get(INITIALIZED)?.is_some();
        if initialized || !self.is_empty() {
            return Ok(Vec::new());
        }
        let mut adopted: Vec<Repo> = Vec::new();
        let mut seen_keys = HashSet::new();
        let mut lines = self.keys.lines_of_ours().map_err(|e| StoreError::io(self.keys.path(), e))?;
        // In command mode the lines live in the key folder instead: a reinstall over a kept
        // folder must find them there, or it would take back nothing.
        if let Some(dir) = self.sink.key_dir() {
            let kept = dir.lines().map_err(|e| StoreError::io(dir.root(), e))?;
            lines.extend(kept.iter().filter_map(|l| self.keys.parse_ours(l)));
        }
        for line in lines {
            let key = match ClientKey::parse(&line.key) {
                Ok(k) if bw_host::pool::is_repo_name(&line.name) && seen_keys.insert(k.identity()) => k,
                _ => {
                    tracing::warn!(repository = %line.name, "authorized_keys or key folder: line not taken in (bad name, bad key or a key used twice)");
                    continue;
                }
            };
            // A repository with several keys has a line per key: one record takes them all.
            if let Some(repo) = adopted.iter_mut().find(|r| r.repository_name == line.name) {
                let mode = crate::repo_store::KeyMode::from_append_only(line.append_only);
                repo.keys.push(crate::repo_store::AccessKey::new(&key, mode, String::new(), self.clock.now()));
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
                icon: None,
                storage_target: None,
                tenant: None,
            };
            let mut repo = Repo::new(new, line.name.clone(), self.clock.now());
            repo.id = adopted.len() as u64;
            repo.archived = line.archived;
            adopted.push(repo);
        }
        let encoded: Vec<(u64, Vec<u8>)> = {
            let seq = self.next_seq()?;
            adopted.iter().map(|r| Ok((r.id, encode_record(r, seq)?))).collect::<StoreResult<_>>()?
        };
        let next_id = adopted.len() as u64;
        // Records, their "adopted" marks and the counter in one transaction.
        {
            let (mut tree, mut meta) = (crate::backend::Batch::default(), crate::backend::Batch::default());
            for (id, bytes) in &encoded {
                tree.insert(id_key(*id), bytes.as_slice());
                meta.insert(adopted_key(*id), [1u8]);
            }
            meta.insert(NEXT_ID, next_id.to_be_bytes());
            self.db.apply_across(vec![(REPOS_TABLE, tree), (META_TABLE, meta)])?;
        }
        for repo in &adopted {
            tracing::warn!(repository = %repo.repository_name, archived = repo.archived, "authorized_keys: repository line taken in at first start");
        }
        self.index_all(&adopted);
        Ok(adopted.into_iter().map(|r| r.repository_name).collect())
    }
}
