//! The bodies of the repository routes, each described once: the document and the parsing both
//! come from these structs and their fields' rules ([`crate::fields`]); [`crate::document`]
//! adds what a struct cannot say (examples, an edit's one key at least).

use bw_api::body_fields::{Checked, Given, TenantName};

use crate::fields::{
    Alert, Alias, AppendOnlyMode, Comment, Flag, Icon, LanCommand, SshPublicKey, StorageSize, StorageTargetPath,
};
use crate::repository::Repository;
use poem_openapi::Object;

// Named `RepositoryList`, not `RepoList`: a schema named like its own property breaks
// generated Python clients.
/// Every repository, as `{"repoList":[...]}`; a page of them (v1 `limit`/`offset`) adds `total`.
#[derive(Object)]
#[oai(rename = "RepositoryList")]
pub struct RepositoryList {
    /// The repositories, ordered by id.
    #[oai(rename = "repoList")]
    pub repo_list: Vec<Repository>,
    /// On a paged answer: how many repositories there are in all.
    #[oai(skip_serializing_if_is_none)]
    pub total: Option<u64>,
}

/// One repository, as `{"repo":{...}}`.
#[derive(Object)]
pub struct RepoOne {
    pub repo: Repository,
}

/// The new repository's id and folder name.
#[derive(Object)]
pub struct Created {
    pub id: u64,
    #[oai(rename = "repositoryName")]
    pub repository_name: String,
}

/// The v1 create answer: the new repository's id and name, and the URLs a client gives borg.
#[derive(Object, Debug, Clone, PartialEq)]
#[oai(rename = "CreatedV1", rename_all = "camelCase")]
pub struct CreatedV1 {
    pub id: u64,
    pub repository_name: String,
    /// `ssh://UNIX_USER@FQDN[:PORT]/./NAME`; absent while `FQDN` or `UNIX_USER` is unset.
    #[oai(skip_serializing_if_is_none)]
    pub ssh_url: Option<String>,
    /// The same with `FQDN_LAN` and `SSH_SERVER_PORT_LAN`; absent unless `FQDN_LAN` is set.
    #[oai(skip_serializing_if_is_none)]
    pub lan_ssh_url: Option<String>,
}

/// One of the host's SSH keys, as `ssh-keygen -l` names it.
#[derive(Object, Debug, Clone, PartialEq)]
#[oai(rename = "HostKeyFingerprint")]
pub struct HostKeyFingerprint {
    /// Key type, e.g. `ssh-ed25519`.
    #[oai(rename = "type")]
    pub kind: String,
    /// `SHA256:` and the unpadded base64 of the key's SHA-256.
    pub sha256: String,
}

/// What a client needs to know of this host to set up a backup, and what the server allows.
#[derive(Object, Debug, Clone, PartialEq)]
#[oai(rename = "ServerInfo", rename_all = "camelCase")]
pub struct ServerInfo {
    #[oai(skip_serializing_if_is_none)]
    pub unix_user: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub fqdn: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub ssh_port: Option<u16>,
    #[oai(skip_serializing_if_is_none)]
    pub fqdn_lan: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub ssh_port_lan: Option<u16>,
    pub host_key_fingerprints: Vec<HostKeyFingerprint>,
    /// The filesystem of the pool (where repositories live unless on a storage target);
    /// absent when it cannot be read.
    #[oai(skip_serializing_if_is_none)]
    pub pool_disk: Option<PoolDisk>,
    pub delete_disabled: bool,
    pub integrations_disabled: bool,
    pub compact_disabled: bool,
}

/// The size of a filesystem, as `df` shows it.
#[derive(Object, Debug, Clone, PartialEq)]
#[oai(rename_all = "camelCase")]
pub struct PoolDisk {
    pub total_bytes: u64,
    pub used_bytes: u64,
    /// What the borg user may still write.
    pub free_bytes: u64,
}

/// Body of the seed create route: every key required.
#[derive(Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct RepoCreate {
    /// Non-empty, at most 100 characters, no control characters.
    pub alias: Checked<Alias>,
    /// One OpenSSH public key: ssh-ed25519, sk-ssh-ed25519@openssh.com, ssh-rsa (2048 bits or
    /// more), ecdsa-sha2-nistp256/384/521, sk-ecdsa-sha2-nistp256@openssh.com.
    pub ssh_public_key: Checked<SshPublicKey>,
    /// Quota in GB.
    pub storage_size: Checked<StorageSize>,
    pub comment: Checked<Comment>,
    /// One of 0, 3600, 21600, 43200, 90000, 172800, 259200, 345600, 432000, 518400, 604800,
    /// 864000, 1209600, 2592000 (seconds; 0 turns alerts off).
    pub alert: Checked<Alert>,
    pub lan_command: Checked<Flag<LanCommand>>,
    pub append_only_mode: Checked<Flag<AppendOnlyMode>>,
}

/// Body of the v1 create route: `alias`, `sshPublicKey`, `storageSize` required.
#[derive(Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct RepoCreateV1 {
    pub alias: Checked<Alias>,
    pub ssh_public_key: Checked<SshPublicKey>,
    pub storage_size: Checked<StorageSize>,
    /// Default "".
    pub comment: Given<Checked<Comment>>,
    /// Default 0 (alerts off).
    pub alert: Given<Checked<Alert>>,
    /// Default false.
    pub lan_command: Given<Checked<Flag<LanCommand>>>,
    /// Default false.
    pub append_only_mode: Given<Checked<Flag<AppendOnlyMode>>>,
    /// BorgWarehouse 3.x's icon, `^Icon[A-Za-z0-9]{1,40}$` (e.g. `IconServer`).
    pub icon: Given<Checked<Icon>>,
    /// One of the configured storage targets' paths (`GET /api/v1/storage-targets`); absent: the
    /// pool. Any other value, or any value while none is configured, is refused (422); a target
    /// that is missing or not mounted answers 409.
    pub storage_target: Given<Checked<StorageTargetPath>>,
    /// The tenant it belongs to (a caller bound to a tenant may give only its own, and gets it
    /// when it gives none); absent: the host's own.
    pub tenant: Given<Checked<TenantName>>,
}

/// Body of the edit routes: at least one key; absent keys keep their value.
// No `deny_unknown_fields` (it cannot be flattened into RepoEditV1): `JsonRequest::fields`
// refuses unknown keys, and document.rs says `additionalProperties: false`.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct RepoEdit {
    pub alias: Given<Checked<Alias>>,
    pub ssh_public_key: Given<Checked<SshPublicKey>>,
    pub storage_size: Given<Checked<StorageSize>>,
    pub comment: Given<Checked<Comment>>,
    pub alert: Given<Checked<Alert>>,
    pub lan_command: Given<Checked<Flag<LanCommand>>>,
    pub append_only_mode: Given<Checked<Flag<AppendOnlyMode>>>,
}

/// Body of the v1 edit route: the 2.x keys and BorgWarehouse 3.x's `icon`; at least one key.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct RepoEditV1 {
    #[oai(flatten)]
    pub bw2: RepoEdit,
    /// BorgWarehouse 3.x's icon, `^Icon[A-Za-z0-9]{1,40}$`.
    pub icon: Given<Checked<Icon>>,
}
