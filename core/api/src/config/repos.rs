//! `repos`: the repository routes.

use serde::{Deserialize, Serialize};

/// The repository routes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RepoSettings {
    /// `DISABLE_DELETE_REPO`: the delete routes answer 403.
    #[serde(rename = "disable_delete_repo")]
    pub disable_delete: bool,
    /// `DISABLE_COMPACT_REPO`: the compact route answers 403.
    #[serde(rename = "disable_compact_repo")]
    pub disable_compact: bool,
    /// `STORAGE_TARGETS` as written: `NAME=PATH` pairs, parsed into [`RepoSettings::storage_targets`]
    /// when the configuration is loaded (a malformed list refuses the start).
    #[serde(rename = "storage_targets")]
    pub storage_targets_text: Option<String>,
    /// Mounted folders where a repository may live instead of the pool.
    #[serde(skip)]
    pub storage_targets: Vec<bw_host::storage_target::StorageTarget>,
}
