//! A repository's keys: each is its own key line (or key file in command mode), with its own
//! mode. A repository has one or more; the first (the oldest still present) is the one the
//! repository object's `sshPublicKey` and `appendOnlyMode` show, so 2.x clients see no change.

use serde::{Deserialize, Serialize};

use bw_host::ssh_key::ClientKey;

/// What a key may do: `borg serve` with or without `--append-only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyMode {
    Full,
    AppendOnly,
}

impl KeyMode {
    pub fn from_append_only(append_only: bool) -> KeyMode {
        if append_only {
            KeyMode::AppendOnly
        } else {
            KeyMode::Full
        }
    }

    pub fn is_append_only(self) -> bool {
        self == KeyMode::AppendOnly
    }
}

/// One key of a repository, as the store keeps it and a snapshot writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessKey {
    /// `kind BASE64[ comment]`, validated.
    pub ssh_public_key: String,
    pub mode: KeyMode,
    /// Free text under the alias rules; may be empty.
    #[serde(default)]
    pub name: String,
    /// Unix seconds; for keys that existed before keys had their own records, the time of the
    /// upgrade that gave them one.
    #[serde(default)]
    pub created_at: i64,
    /// Unix seconds of the last session with this key; 0 while it has never been used.
    #[serde(default)]
    pub last_used_at: i64,
}

impl AccessKey {
    pub fn new(key: &ClientKey, mode: KeyMode, name: String, created_at: i64) -> AccessKey {
        AccessKey { ssh_public_key: key.to_openssh(), mode, name, created_at, last_used_at: 0 }
    }

    /// The key's id in the API and on its line: 16 hex characters of the SHA-256 of its blob.
    pub fn id(&self) -> String {
        bw_host::ssh_key::key_id(&self.ssh_public_key).unwrap_or_default()
    }

    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> String {
        bw_host::ssh_key::fingerprint(&self.ssh_public_key).unwrap_or_default()
    }
}

/// A key to add to a repository, validated.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub key: ClientKey,
    pub mode: KeyMode,
    pub name: String,
}

/// A change to one key: `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct KeyPatch {
    pub mode: Option<KeyMode>,
    pub name: Option<String>,
}
