//! A repository record: what the store keeps and the line it becomes. The API's own shape of it
//! lives with the routes (`bw-plugin-repo`'s `Repository`), made from this at the edge.

use serde::{Deserialize, Serialize};

use super::access_key::{AccessKey, KeyMode};
use bw_host::authorized_keys::RepoLine;
use bw_host::ssh_key::ClientKey;

/// A repository as the store keeps it, and as a snapshot (`export`) writes it: the snapshot
/// form ([`RepoWire`]) also carries the first key as `sshPublicKey` and `appendOnlyMode`, and
/// a snapshot written before keys had their own records (with those two alone) is read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RepoWire", into = "RepoWire")]
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
    /// One or more, oldest first (see [`super::access_key`]).
    pub keys: Vec<AccessKey>,
    pub comment: String,
    pub display_details: bool,
    pub lan_command: bool,
    /// Unix seconds of the last lateness alert sent for this repository.
    pub last_status_alert_send: Option<i64>,
    /// Archived: data and record kept, but the client cannot connect (its lines are commented
    /// out); edits are refused, the checks skip it.
    pub archived: bool,
    /// BorgWarehouse 3.x's icon name, e.g. `IconServer` (v1 paths only; absent when unset).
    pub icon: Option<String>,
    /// The storage target the repository lives on (v1 paths only; absent for the pool).
    pub storage_target: Option<String>,
    /// The `status` BorgWarehouse had computed, taken in by an import and shown until this
    /// server's next status check computes its own. Stored, never shown as such: [`Repo::at`]
    /// takes it out.
    pub imported_status: Option<bool>,
    /// The tenant the repository belongs to; `None`: the host's own.
    pub tenant: Option<String>,
}

/// [`Repo`] in a snapshot (and in the JSON records of the first versions).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RepoWire {
    id: u64,
    alias: String,
    repository_name: String,
    status: bool,
    last_save: i64,
    alert: u64,
    storage_size: u64,
    storage_used: u64,
    /// The first key's, written for readers of the earlier form; read only when `keys` is absent.
    ssh_public_key: String,
    comment: String,
    display_details: bool,
    lan_command: bool,
    append_only_mode: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    last_status_alert_send: Option<i64>,
    #[serde(default)]
    archived: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    icon: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    storage_target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    imported_status: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    keys: Option<Vec<AccessKey>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    tenant: Option<String>,
}

impl TryFrom<RepoWire> for Repo {
    type Error = String;

    fn try_from(w: RepoWire) -> Result<Repo, String> {
        let keys = match w.keys {
            Some(keys) if keys.is_empty() => return Err(format!("repository {} has no key", w.repository_name)),
            // Both say the first key: a document edited in one place only is refused, not half read.
            Some(keys) if keys[0].ssh_public_key != w.ssh_public_key => {
                return Err(format!(
                    "repository {}: sshPublicKey is not the first of its keys (edit both, or neither)",
                    w.repository_name
                ))
            }
            Some(keys) => keys,
            // Written before keys had their own records: the one key, with no name or times.
            None => vec![AccessKey {
                ssh_public_key: w.ssh_public_key,
                mode: KeyMode::from_append_only(w.append_only_mode),
                name: String::new(),
                created_at: 0,
                last_used_at: 0,
            }],
        };
        Ok(Repo {
            id: w.id,
            alias: w.alias,
            repository_name: w.repository_name,
            status: w.status,
            last_save: w.last_save,
            alert: w.alert,
            storage_size: w.storage_size,
            storage_used: w.storage_used,
            keys,
            comment: w.comment,
            display_details: w.display_details,
            lan_command: w.lan_command,
            last_status_alert_send: w.last_status_alert_send,
            archived: w.archived,
            icon: w.icon,
            storage_target: w.storage_target,
            imported_status: w.imported_status,
            tenant: w.tenant,
        })
    }
}

impl From<Repo> for RepoWire {
    fn from(r: Repo) -> RepoWire {
        RepoWire {
            ssh_public_key: r.ssh_public_key().to_string(),
            append_only_mode: r.append_only_mode(),
            id: r.id,
            alias: r.alias,
            repository_name: r.repository_name,
            status: r.status,
            last_save: r.last_save,
            alert: r.alert,
            storage_size: r.storage_size,
            storage_used: r.storage_used,
            comment: r.comment,
            display_details: r.display_details,
            lan_command: r.lan_command,
            last_status_alert_send: r.last_status_alert_send,
            archived: r.archived,
            icon: r.icon,
            storage_target: r.storage_target,
            imported_status: r.imported_status,
            keys: Some(r.keys),
            tenant: r.tenant,
        }
    }
}

impl Repo {
    /// A new repository's record, made at `now`; its id is given when it is stored.
    pub(super) fn new(new: NewRepo, name: String, now: i64) -> Repo {
        Repo {
            id: 0,
            alias: new.alias,
            repository_name: name,
            status: false,
            last_save: 0,
            alert: new.alert,
            storage_size: new.storage_size,
            storage_used: 0,
            keys: vec![AccessKey::new(&new.key, KeyMode::from_append_only(new.append_only_mode), String::new(), now)],
            comment: new.comment,
            display_details: true,
            lan_command: new.lan_command,
            last_status_alert_send: None,
            archived: false,
            icon: new.icon,
            storage_target: new.storage_target.map(|t| t.path),
            imported_status: None,
            tenant: new.tenant,
        }
    }

    /// The fields the checks own.
    pub(super) fn scan(&self) -> Scan {
        Scan {
            last_save: self.last_save,
            storage_used: self.storage_used,
            status: self.status,
            imported_status: self.imported_status,
            last_status_alert_send: self.last_status_alert_send,
        }
    }

    /// The record with the checks' fields of `scan`.
    pub(super) fn with_scan(mut self, scan: Scan) -> Repo {
        self.last_save = scan.last_save;
        self.storage_used = scan.storage_used;
        self.status = scan.status;
        self.imported_status = scan.imported_status;
        self.last_status_alert_send = scan.last_status_alert_send;
        self
    }

    /// The first key's: what `sshPublicKey` shows.
    pub fn ssh_public_key(&self) -> &str {
        self.keys.first().map_or("", |k| k.ssh_public_key.as_str())
    }

    /// The first key's mode: what `appendOnlyMode` shows.
    pub fn append_only_mode(&self) -> bool {
        self.keys.first().is_some_and(|k| k.mode.is_append_only())
    }

    /// The key whose id is `id`.
    pub fn key(&self, id: &str) -> Option<&AccessKey> {
        self.keys.iter().find(|k| k.id() == id)
    }

    /// The repository's key lines, one per key.
    pub fn lines(&self) -> Vec<RepoLine> {
        self.keys
            .iter()
            .map(|k| RepoLine {
                name: self.repository_name.clone(),
                storage_size_gb: self.storage_size,
                append_only: k.mode.is_append_only(),
                key: k.ssh_public_key.clone(),
                archived: self.archived,
            })
            .collect()
    }

    /// The record at `now`: `status` computed, or the imported one until the next status check.
    pub fn at(mut self, now: i64) -> Repo {
        self.status = status_at(self.imported_status.take(), self.last_save, self.alert, now);
        self
    }

    /// The record with the patch's fields changed at `now`. `sshPublicKey` and `appendOnlyMode`
    /// change the first key; a new key there starts unused, with its name and mode kept.
    pub(super) fn patched(&self, patch: RepoPatch, now: i64) -> Repo {
        let mut repo = self.clone();
        if let Some(v) = patch.alias {
            repo.alias = v;
        }
        if let (Some(v), Some(first)) = (patch.key, repo.keys.first_mut()) {
            let same_key = bw_host::ssh_key::digest_of_stored(&first.ssh_public_key) == Some(v.identity().digest());
            if !same_key {
                first.created_at = now;
                first.last_used_at = 0;
            }
            first.ssh_public_key = v.to_openssh();
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
        if let (Some(v), Some(first)) = (patch.append_only_mode, repo.keys.first_mut()) {
            first.mode = KeyMode::from_append_only(v);
        }
        if let Some(v) = patch.icon {
            repo.icon = Some(v);
        }
        repo
    }
}

/// Which repository a read or a change is for: the 2.x paths name it by id, the v1 paths by
/// its folder name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoKey {
    Id(u64),
    Name(String),
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
    /// v1 only.
    pub icon: Option<String>,
    /// Where the repository's folder goes instead of the pool (v1 only).
    pub storage_target: Option<bw_host::storage_target::StorageTarget>,
    /// The tenant it belongs to (the creator's, or an admin's choice).
    pub tenant: Option<String>,
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
    /// v1 only.
    pub icon: Option<String>,
}

/// The fields of a record that the checks own. They change for most repositories at every
/// check, so they are kept in the index and saved in pages of figures (`DATA_DIR/checks/`),
/// not rewritten into the store: sled keeps every page it writes in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scan {
    pub last_save: i64,
    pub storage_used: u64,
    pub status: bool,
    pub imported_status: Option<bool>,
    pub last_status_alert_send: Option<i64>,
}

/// `status` at `now`: the one BorgWarehouse's import kept until the first check, else whether
/// the last backup is within the alert delay.
pub(super) fn status_at(imported_status: Option<bool>, last_save: i64, alert: u64, now: i64) -> bool {
    imported_status.unwrap_or_else(|| is_on_time(last_save, alert, now))
}

/// The contract's status: true when `now - lastSave <= alert`. The one place it is computed.
pub fn is_on_time(last_save: i64, alert: u64, now: i64) -> bool {
    now.saturating_sub(last_save) <= alert as i64
}
