//! A backup of this server's own state: one JSON document with every repository record (check
//! figures included), the id counter, the tokens (their hashes, never values) and the users
//! with their password hashes. Copying a live sled folder is not a backup; this is.
//!
//! `borgwarehouse export` takes it (through the control socket while the server runs), and
//! `borgwarehouse restore FILE` brings it back into an empty data folder and makes the key lines
//! (`authorized_keys`, or the key folder) match it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::page_settings::{Overrides, PageSettings};
use crate::tenant_store::TenantStore;

use crate::history::{HistorySnapshot, HistoryStore};
use crate::repo_store::{Repo, RepoStore};
use crate::store_error::{SnapshotProblem, StoreError, StoreResult};
use crate::token_store::{TokenRecord, TokenStore};
use crate::user_store::{Role, User, UserRecord, UserStore};

/// What the document says it is, so that another JSON file given by mistake is refused.
pub const FORMAT: &str = "borgwarehouse-server-snapshot";
/// Raised when a field changes meaning; a restore refuses a version it does not know.
/// Version 2 gave repositories several keys (`keys`); a version 1 snapshot (one key, in
/// `sshPublicKey` and `appendOnlyMode`) is still read. An older server refuses version 2
/// rather than drop every key but the first. Version 3 added `history`; a version 1 or 2
/// snapshot restores with none. Version 4 holds `users` in place of the one `administrator`
/// (an older snapshot's administrator becomes the first admin user).
pub const VERSION: u32 = 4;
/// The versions a restore reads.
const READABLE: &[u32] = &[1, 2, 3, 4];
pub use crate::store_error::NOT_EMPTY;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Snapshot {
    pub format: String,
    pub version: u32,
    /// Unix seconds.
    pub created_at: i64,
    /// The version of the server that wrote it.
    pub server_version: String,
    /// The next repository id to give: ids are never reused, across a restore too.
    pub next_id: u64,
    pub repositories: Vec<Repo>,
    pub tokens: Vec<TokenRecord>,
    /// The one administrator of versions 1 to 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub administrator: Option<AdminAccount>,
    /// Users with their password hashes (version 4).
    #[serde(default)]
    pub users: Vec<UserRecord>,
    /// Each repository's points and the host's (version 3).
    #[serde(default)]
    pub history: HistorySnapshot,
    /// The tenants' quotas, GB by tenant (version 4).
    #[serde(default, rename = "tenantQuotasGB", skip_serializing_if = "BTreeMap::is_empty")]
    pub tenant_quotas: BTreeMap<String, u64>,
    /// The settings an admin changed in the page, by group (version 4): the alert channels,
    /// secrets included, as the data folder holds them (the export is mode 0600).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub page_settings: BTreeMap<String, Overrides>,
}

/// The administrator's name and argon2 hash (PHC string).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdminAccount {
    pub user: String,
    pub password_hash: String,
}

/// What a restore did, for the command's output.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoreReport {
    pub repositories: usize,
    pub tokens: usize,
    pub users: usize,
    /// Key lines added or rewritten to match the snapshot.
    pub key_lines_fixed: usize,
}

/// The stores a snapshot holds.
pub struct Stores<'a> {
    pub repos: &'a RepoStore,
    pub tokens: &'a TokenStore,
    pub users: &'a UserStore,
    pub history: &'a HistoryStore,
    pub tenants: &'a TenantStore,
    pub page_settings: &'a PageSettings,
}

impl Stores<'_> {
    /// Takes a snapshot, dated `created_at` and signed with `server_version`. Repositories and the id counter are read under the repository write
    /// lock, so no change lands half in it. Blocking: call from a blocking thread.
    pub fn export_snapshot(&self, created_at: i64, server_version: &str) -> StoreResult<Snapshot> {
        let (repositories, next_id) = self.repos.snapshot_blocking()?;
        let tokens = self.tokens.list().map_err(|e| match e {
            crate::token_store::TokenError::Store(e) => e,
            // A list reads and never refuses; said as what it would be, a record gone wrong.
            other => StoreError::corrupt("tokens", other),
        })?;
        let users = self.users.export()?;
        let history = self.history.export()?;
        let tenant_quotas = self.tenants.quotas()?.into_iter().collect();
        let page_settings = self.page_settings.all()?;
        Ok(Snapshot {
            format: FORMAT.into(),
            version: VERSION,
            created_at,
            server_version: server_version.into(),
            next_id,
            repositories,
            tokens,
            administrator: None,
            users,
            history,
            tenant_quotas,
            page_settings,
        })
    }

    /// Brings `snapshot` back into this state's store, which must be empty (no repository, no
    /// token, no administrator), then makes the key lines match. Blocking.
    pub fn restore_snapshot(&self, snapshot: Snapshot) -> StoreResult<RestoreReport> {
        if snapshot.format != FORMAT {
            return Err(StoreError::Snapshot(SnapshotProblem::NotOurs(snapshot.format)));
        }
        if !READABLE.contains(&snapshot.version) {
            return Err(StoreError::Snapshot(SnapshotProblem::Version {
                version: snapshot.version,
                readable: READABLE,
            }));
        }
        // The repositories are checked by `restore_blocking`, under their lock, before anything
        // is written; the tokens and the administrator here.
        let no_tokens = self.tokens.list().map(|t| t.is_empty()).unwrap_or(false);
        if !no_tokens || self.users.exists()? {
            return Err(StoreError::NotEmpty);
        }
        // Everything is checked before anything is written: a refused snapshot changes nothing.
        self.tokens.check_restorable(&snapshot.tokens)?;
        let mut users = snapshot.users;
        if let Some(a) = snapshot.administrator {
            if a.user.is_empty() || a.user.contains(':') || !a.password_hash.starts_with("$argon2") {
                return Err(StoreError::Snapshot(SnapshotProblem::Administrator));
            }
            if !users.iter().any(|u| u.user.name == a.user) {
                let user = User { name: a.user, role: Role::Admin, email: None, tenant: None, created_at: 0 };
                users.push(UserRecord { user, password_hash: a.password_hash });
            }
        }
        UserStore::check_restorable(&users)?;
        if snapshot.tenant_quotas.keys().any(|t| !crate::user_store::is_tenant_name(t)) {
            return Err(StoreError::InvalidTenantName);
        }
        let report = RestoreReport {
            repositories: snapshot.repositories.len(),
            tokens: snapshot.tokens.len(),
            users: users.len(),
            key_lines_fixed: 0,
        };
        let known: std::collections::HashSet<u64> = snapshot.repositories.iter().map(|r| r.id).collect();
        self.repos.restore_blocking(snapshot.repositories, snapshot.next_id)?;
        // An empty store may hold the host points of its first start's checks: the snapshot's
        // history replaces them.
        self.history.clear()?;
        self.history.restore(&snapshot.history, &known)?;
        self.tokens.restore(&snapshot.tokens)?;
        self.users.restore(&users)?;
        let quotas: Vec<(String, u64)> = snapshot.tenant_quotas.into_iter().collect();
        self.tenants.restore(&quotas)?;
        self.page_settings.restore(&snapshot.page_settings)?;
        let sync = self.repos.reconcile()?;
        Ok(RestoreReport { key_lines_fixed: sync.added.len() + sync.rewritten.len() + sync.removed.len(), ..report })
    }
}
