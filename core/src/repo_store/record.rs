//! A repository record: what the store keeps, what the API shows, and the line it becomes.

use poem_openapi::Object;
use serde::{Deserialize, Serialize};

use crate::authorized_keys::RepoLine;
use crate::ssh_key::ClientKey;

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
    /// Archived: data and record kept, but the client cannot connect (its line is commented
    /// out); edits are refused, the checks skip it.
    #[serde(default)]
    pub archived: bool,
    /// BorgWarehouse 3.x's icon name, e.g. `IconServer` (v1 paths only; absent when unset).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub icon: Option<String>,
    /// The storage target the repository lives on (v1 paths only; absent for the pool).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub storage_target: Option<String>,
    /// The URL a client gives borg, `ssh://UNIX_USER@FQDN[:PORT]/./NAME` (v1 paths only; absent
    /// while `FQDN` or `UNIX_USER` is unset). Not stored: made from the settings when answered.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ssh_url: Option<String>,
    /// The same on the LAN, from `FQDN_LAN` and `SSH_SERVER_PORT_LAN` (v1 paths only; absent
    /// unless `FQDN_LAN` is set).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub lan_ssh_url: Option<String>,
    /// The `status` BorgWarehouse had computed, taken in by an import and shown until this
    /// server's next status check computes its own. Stored, never shown as such: [`Repo::at`]
    /// takes it out.
    #[oai(skip)]
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub imported_status: Option<bool>,
}

impl Repo {
    /// A new repository's record; its id is given when it is stored.
    pub(super) fn new(new: NewRepo, name: String) -> Repo {
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
            archived: false,
            icon: new.icon,
            storage_target: new.storage_target.map(|t| t.path),
            ssh_url: None,
            lan_ssh_url: None,
            imported_status: None,
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

    pub fn line(&self) -> RepoLine {
        RepoLine {
            name: self.repository_name.clone(),
            storage_size_gb: self.storage_size,
            append_only: self.append_only_mode,
            key: self.ssh_public_key.clone(),
            archived: self.archived,
        }
    }

    /// The repository as the paths of `family` show it: the BorgWarehouse 2.x paths without the
    /// v1 family's `icon`, `storageTarget` and URLs.
    pub fn shown_on(mut self, family: PathFamily) -> Repo {
        if family == PathFamily::BorgWarehouse2 {
            self.icon = None;
            self.storage_target = None;
            self.ssh_url = None;
            self.lan_ssh_url = None;
        }
        self
    }

    /// The repository as the v1 paths show it: with its URLs.
    pub fn with_urls(mut self, urls: &crate::ssh_url::RepoUrls) -> Repo {
        self.ssh_url = urls.ssh_url(&self.repository_name);
        self.lan_ssh_url = urls.lan_ssh_url(&self.repository_name);
        self
    }

    /// The repository as the API shows it at `now`: `status` computed, or the imported one until
    /// the next status check.
    pub fn at(mut self, now: i64) -> Repo {
        self.status = status_at(self.imported_status.take(), self.last_save, self.alert, now);
        self
    }

    /// The record with the patch's fields changed.
    pub(super) fn patched(&self, patch: RepoPatch) -> Repo {
        let mut repo = self.clone();
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
        if let Some(v) = patch.icon {
            repo.icon = Some(v);
        }
        repo
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
    /// v1 only.
    pub icon: Option<String>,
    /// Where the repository's folder goes instead of the pool (v1 only).
    pub storage_target: Option<crate::storage_target::StorageTarget>,
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
/// check, so they are kept in the index and saved in the checks file (`DATA_DIR/checks.bin`),
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
/// BorgWarehouse's two families of repository paths, whose answers differ: the 2.x paths
/// (`/api/repo…`, repositories by id; the contract's "seed" paths) and the v1 paths of 3.x
/// (`/api/v1/repositories…`, by name), which add `icon`, `storageTarget` and the URLs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathFamily {
    BorgWarehouse2,
    V1,
}

pub(super) fn status_at(imported_status: Option<bool>, last_save: i64, alert: u64, now: i64) -> bool {
    imported_status.unwrap_or_else(|| is_on_time(last_save, alert, now))
}

/// The contract's status: true when `now - lastSave <= alert`. The one place it is computed.
pub fn is_on_time(last_save: i64, alert: u64, now: i64) -> bool {
    now.saturating_sub(last_save) <= alert as i64
}
