//! A repository as the API shows it, made from the store's record at the edge: the record holds
//! what is kept, this what a client of a path family sees (the v1 paths add `icon`,
//! `storageTarget` and the URLs, which are made from the settings, never stored).

use crate::keys::KeyObject;
use bw_api::list_answer::{ListKind, PathFamily};
use bw_api::AppState;
use bw_store::repo_store::Repo;
use poem_openapi::Object;
use serde::Serialize;

/// A repository as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename = "Repository", rename_all = "camelCase")]
pub struct Repository {
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status_alert_send: Option<i64>,
    /// Archived: data and record kept, but the client cannot connect (its line is commented
    /// out); edits are refused, the checks skip it.
    pub archived: bool,
    /// BorgWarehouse 3.x's icon name, e.g. `IconServer` (v1 paths only; absent when unset).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// The storage target the repository lives on (v1 paths only; absent for the pool).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_target: Option<String>,
    /// The tenant the repository belongs to (v1 paths only; absent: the host's own).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The URL a client gives borg, `ssh://UNIX_USER@FQDN[:PORT]/./NAME` (v1 paths only; absent
    /// while `FQDN` or `UNIX_USER` is unset). Not stored: made from the settings when answered.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh_url: Option<String>,
    /// The same on the LAN, from `FQDN_LAN` and `SSH_SERVER_PORT_LAN` (v1 paths only; absent
    /// unless `FQDN_LAN` is set).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lan_ssh_url: Option<String>,
    /// Every key of the repository, oldest first (v1 paths only): `sshPublicKey` and
    /// `appendOnlyMode` above are the first one's.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<KeyObject>>,
    /// The last verify the server ran (`borg check --repository-only`; v1 paths only; absent
    /// until the first).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_verify: Option<crate::verify::VerifyResult>,
}

impl Repository {
    /// `repo` (already at the time of the answer, see [`Repo::at`]) as the paths of `family`
    /// show it: the 2.x paths without the v1 family's `icon`, `storageTarget` and URLs.
    pub fn shown(repo: Repo, family: PathFamily, state: &AppState) -> Repository {
        let v1 = family == PathFamily::V1;
        let urls = &state.urls;
        let (ssh_public_key, append_only_mode) = (repo.ssh_public_key().to_string(), repo.append_only_mode());
        Repository {
            ssh_url: v1.then(|| urls.ssh_url(&repo.repository_name)).flatten(),
            lan_ssh_url: v1.then(|| urls.lan_ssh_url(&repo.repository_name)).flatten(),
            icon: repo.icon.filter(|_| v1),
            storage_target: repo.storage_target.filter(|_| v1),
            tenant: repo.tenant.filter(|_| v1),
            keys: v1.then(|| repo.keys.iter().map(KeyObject::from).collect()),
            last_verify: v1.then(|| state.verifies.get(repo.id).map(Into::into)).flatten(),
            ssh_public_key,
            append_only_mode,
            id: repo.id,
            alias: repo.alias,
            repository_name: repo.repository_name,
            status: repo.status,
            last_save: repo.last_save,
            alert: repo.alert,
            storage_size: repo.storage_size,
            storage_used: repo.storage_used,
            comment: repo.comment,
            display_details: repo.display_details,
            lan_command: repo.lan_command,
            last_status_alert_send: repo.last_status_alert_send,
            archived: repo.archived,
        }
    }

    /// Writes `repo` as the paths of `family` show it: how the store writes each repository of
    /// a list answer (see [`bw_api::list_answer::WriteRepo`]).
    /// `repo` as an entry of the list `kind`: the v1 list carries `keys` only when asked
    /// (`?include=keys`).
    pub fn write_json(
        out: &mut dyn std::io::Write,
        repo: Repo,
        kind: ListKind,
        state: &AppState,
    ) -> std::io::Result<()> {
        let mut shown = Repository::shown(repo, kind.family(), state);
        if !kind.with_keys() {
            shown.keys = None;
        }
        serde_json::to_writer(out, &shown).map_err(std::io::Error::other)
    }
}
