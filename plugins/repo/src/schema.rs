//! The bodies of the repository routes, as the OpenAPI document shows them. The limits in the
//! validator attributes are literals; a test compares them with `bw_core::limits`, and
//! [`crate::document`] adds what attributes cannot say.

use bw_core::repo_store::Repo;
use poem_openapi::Object;

// Named `RepositoryList`, not `RepoList`: a schema named like its own property breaks
// generated Python clients.
/// Every repository, as `{"repoList":[...]}`; a page of them (v1 `limit`/`offset`) adds `total`.
#[derive(Object)]
#[oai(rename = "RepositoryList")]
pub struct RepositoryList {
    /// The repositories, ordered by id.
    #[oai(rename = "repoList")]
    pub repo_list: Vec<Repo>,
    /// On a paged answer: how many repositories there are in all.
    #[oai(skip_serializing_if_is_none)]
    pub total: Option<u64>,
}

/// One repository, as `{"repo":{...}}`.
#[derive(Object)]
pub struct RepoOne {
    pub repo: Repo,
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
    pub delete_disabled: bool,
    pub integrations_disabled: bool,
    pub compact_disabled: bool,
}

/// Body of the seed create route: every key required.
#[derive(Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct RepoCreate {
    /// Non-empty, at most 100 characters, no control characters.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub alias: String,
    /// One OpenSSH public key: ssh-ed25519, sk-ssh-ed25519@openssh.com, ssh-rsa (2048 bits or
    /// more), ecdsa-sha2-nistp256/384/521, sk-ecdsa-sha2-nistp256@openssh.com.
    pub ssh_public_key: String,
    /// Quota in GB.
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
    pub storage_size: u64,
    #[oai(validator(max_length = 500))]
    pub comment: String,
    /// One of 0, 3600, 21600, 43200, 90000, 172800, 259200, 345600, 432000, 518400, 604800,
    /// 864000, 1209600, 2592000 (seconds; 0 turns alerts off).
    pub alert: u64,
    pub lan_command: bool,
    pub append_only_mode: bool,
}

/// Body of the v1 create route: `alias`, `sshPublicKey`, `storageSize` required.
#[derive(Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct RepoCreateV1 {
    #[oai(validator(min_length = 1, max_length = 100))]
    pub alias: String,
    pub ssh_public_key: String,
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
    pub storage_size: u64,
    /// Default "".
    #[oai(validator(max_length = 500))]
    pub comment: Option<String>,
    /// Default 0 (alerts off).
    pub alert: Option<u64>,
    /// Default false.
    pub lan_command: Option<bool>,
    /// Default false.
    pub append_only_mode: Option<bool>,
    /// BorgWarehouse 3.x's icon, `^Icon[A-Za-z0-9]{1,40}$` (e.g. `IconServer`).
    pub icon: Option<String>,
    /// One of the configured storage targets' paths (`GET /api/v1/storage-targets`); absent: the
    /// pool. Any other value, or any value while none is configured, is refused (422); a target
    /// that is missing or not mounted answers 409.
    pub storage_target: Option<String>,
}

/// Body of the edit routes: at least one key; absent keys keep their value.
// No `deny_unknown_fields` (it cannot be flattened into RepoEditV1): these types document the
// bodies, validate.rs parses them, and document.rs says `additionalProperties: false`.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct RepoEdit {
    #[oai(validator(min_length = 1, max_length = 100))]
    pub alias: Option<String>,
    pub ssh_public_key: Option<String>,
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
    pub storage_size: Option<u64>,
    #[oai(validator(max_length = 500))]
    pub comment: Option<String>,
    pub alert: Option<u64>,
    pub lan_command: Option<bool>,
    pub append_only_mode: Option<bool>,
}

/// Body of the v1 edit route: the 2.x keys and BorgWarehouse 3.x's `icon`; at least one key.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct RepoEditV1 {
    #[oai(flatten)]
    pub bw2: RepoEdit,
    /// BorgWarehouse 3.x's icon, `^Icon[A-Za-z0-9]{1,40}$`.
    pub icon: Option<String>,
}
