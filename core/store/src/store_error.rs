//! The error of the storage layer: the sled store and the borg user's files. It says what went
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
    /// The store refused the value (a name or password that breaks its rules).
    #[error("{0}")]
    Refused(String),
    /// The storage target a repository was to be placed on is missing or not mounted.
    #[error("storage target {0} is not available")]
    TargetUnavailable(String),
    /// A file or folder could not be read or written.
    #[error("{}: {source}{}", path.display(), io_advice(source, path))]
    Io { path: PathBuf, source: std::io::Error },
    /// The sled store failed.
    #[error("store: {0}")]
    Db(#[from] sled::Error),
    /// A record that does not decode (written by another version, or edited by hand).
    #[error("corrupt record {what}: {cause}")]
    Corrupt { what: String, cause: String },
    /// A blocking task of the store's work stopped (it panicked or was cancelled): the server's
    /// fault, never the caller's.
    #[error("{what} stopped: {cause}")]
    Stopped { what: &'static str, cause: String },
}

pub type StoreResult<T> = Result<T, StoreError>;

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

impl<E: std::fmt::Debug> From<sled::transaction::TransactionError<E>> for StoreError {
    fn from(e: sled::transaction::TransactionError<E>) -> Self {
        match e {
            sled::transaction::TransactionError::Storage(e) => StoreError::Db(e),
            sled::transaction::TransactionError::Abort(cause) => {
                StoreError::corrupt("transaction", format!("{cause:?}"))
            }
        }
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
