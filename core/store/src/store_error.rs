//! The error of the storage layer: the store and the borg user's files. It says what went
//! wrong in the store's terms; `bw_api::error` is the one place that turns it into an HTTP
//! answer. A read that fails is an error, never "absent".

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No record with that id or name.
    #[error("no such record")]
    NotFound,
    /// The repository is archived: its record is read-only until it is unarchived.
    #[error("the repository is archived")]
    Archived,
    /// The key already stands on another line of `authorized_keys`.
    #[error("the SSH key is already used in another repository")]
    KeyInUse,
    /// The repository has no key with that id.
    #[error("no such key in the repository")]
    KeyNotFound,
    /// The change would leave the repository without a key.
    #[error("a repository keeps at least one key")]
    LastKey,
    /// A user's name breaks its rule.
    #[error("the user name must be 1 to 64 letters, digits, '_', '-', '.' or '@'")]
    InvalidUserName,
    /// A user with that name exists (or, at first run, any user).
    #[error("the user already exists")]
    UserExists,
    /// The change would leave the host without an admin.
    #[error("the last admin can be neither removed nor demoted")]
    LastAdmin,
    /// A user's email is not an address.
    #[error("the email is not an address")]
    InvalidEmail,
    /// Another user has that email (a provider's email selects one user).
    #[error("another user has that email")]
    EmailInUse,
    /// A tenant's name breaks its rule.
    #[error("the tenant name must be 1 to 64 letters, digits, '_', '-' or '.'")]
    InvalidTenantName,
    /// A create or edit would give a tenant's repositories more than its quota.
    #[error("Tenant {tenant} would exceed its quota of {quota_gb} GB")]
    TenantQuota { tenant: String, quota_gb: u64 },
    /// An admin sees the whole host; binding one to a tenant would mean nothing.
    #[error("an admin cannot be bound to a tenant")]
    TenantAdmin,
    /// A user's password is too short.
    #[error("the password must have at least {min} characters")]
    PasswordTooShort { min: usize },
    /// A BorgWarehouse file to import (`repo.json`, `users.json`) breaks its rules; every
    /// problem is listed, and nothing was changed.
    #[error("{file} refused, nothing changed:\n  {}", problems.join("\n  "))]
    ImportRefused { file: &'static str, problems: Vec<String> },
    /// A restore into a store that holds something of its own.
    #[error("{}", NOT_EMPTY)]
    NotEmpty,
    /// A snapshot that this server does not take; nothing was changed.
    #[error("{0}")]
    Snapshot(SnapshotProblem),
    /// The storage target a repository was to be placed on is missing or not mounted.
    #[error("storage target {0} is not available")]
    TargetUnavailable(String),
    /// A file or folder could not be read or written.
    #[error("{}: {source}{}", path.display(), io_advice(source, path))]
    Io { path: PathBuf, source: std::io::Error },
    /// The backend behind the store seam failed (`crate::backend`).
    #[error("store: {0}")]
    Backend(Box<dyn std::error::Error + Send + Sync>),
    /// The store's database does not answer now (down, restarting, unreachable): the same
    /// request may work in a moment.
    #[error("the database does not answer: {0}")]
    Unavailable(String),
    /// A record that does not decode (written by another version, or edited by hand).
    #[error("corrupt record {what}: {cause}")]
    Corrupt { what: String, cause: String },
    /// A blocking task of the store's work stopped (it panicked or was cancelled): the server's
    /// fault, never the caller's.
    #[error("{what} stopped: {cause}")]
    Stopped { what: &'static str, cause: String },
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Why a restore is refused when the store holds something of its own.
pub const NOT_EMPTY: &str = "the data folder holds a store that was used (repositories made or deleted through the \
                             server, tokens or an administrator); restore into an empty data folder";

/// What is wrong with a snapshot given to restore (`bw_store::snapshot`).
#[derive(Debug, thiserror::Error)]
pub enum SnapshotProblem {
    #[error("not a snapshot of this server (format {0:?})")]
    NotOurs(String),
    #[error("snapshot version {version} is not one this server reads ({readable:?})")]
    Version { version: u32, readable: &'static [u32] },
    #[error("token {0:?} in the snapshot: a bad name or hash, or one given twice")]
    Token(String),
    #[error("token {0} exists already")]
    TokenExists(String),
    #[error("the snapshot's administrator account is malformed")]
    Administrator,
    #[error("the snapshot's administrator name is empty or holds ':'")]
    AdministratorName,
    #[error("the snapshot's administrator password hash: {0}")]
    AdministratorHash(String),
    #[error("repository {name} (id {id}) in the snapshot: {why}")]
    Repository { name: String, id: u64, why: String },
}

/// What to do about the file-system refusals a sysadmin meets on a new host.
fn io_advice(e: &std::io::Error, path: &std::path::Path) -> String {
    match e.kind() {
        std::io::ErrorKind::ReadOnlyFilesystem => format!(
            "; the server may not write there. Under the packaged unit (ProtectSystem=strict), add it with \
             `systemctl edit borgwarehouse`: [Service] ReadWritePaths={}",
            path.display()
        ),
        std::io::ErrorKind::PermissionDenied => format!(
            "; the user this runs as ({}) may not use it: check the owner and mode of {} and of the folders above it",
            bw_host::users::effective_uid().map(bw_host::users::user_name).unwrap_or_else(|_| "?".into()),
            path.display()
        ),
        _ => String::new(),
    }
}

impl StoreError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io { path: path.into(), source }
    }

    pub fn corrupt(what: impl Into<String>, cause: impl std::fmt::Display) -> Self {
        StoreError::Corrupt { what: what.into(), cause: cause.to_string() }
    }
}

/// Decodes a stored JSON record, naming it when it does not decode.
pub fn decode<T: serde::de::DeserializeOwned>(what: impl FnOnce() -> String, bytes: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::corrupt(what(), e))
}

/// Encodes a record for the store.
pub fn encode<T: serde::Serialize>(value: &T) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| StoreError::corrupt("encoding", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_only_folder_is_answered_with_the_units_fix() {
        let e = StoreError::io("/var/lib/keys", std::io::Error::from(std::io::ErrorKind::ReadOnlyFilesystem));
        let text = e.to_string();
        assert!(text.starts_with("/var/lib/keys: ") && text.contains("ReadWritePaths=/var/lib/keys"), "{text}");
        let e = StoreError::io("/srv/x", std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert!(e.to_string().contains("check the owner and mode of /srv/x"), "{e}");
    }
}
