//! `ssh`: how sshd learns the clients' keys, and the parts of the repositories' URLs, under
//! BorgWarehouse's names.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The SSH side: how sshd learns the clients' keys, and BorgWarehouse's names, kept for
/// compatibility.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SshSettings {
    pub fqdn: Option<String>,
    #[serde(rename = "ssh_server_port")]
    pub port: Option<u16>,
    pub unix_user: Option<String>,
    pub key_mode: KeyMode,
    /// The folder `borgwarehouse key-lookup` reads in command mode; outside `data_dir`, readable
    /// by sshd's `AuthorizedKeysCommandUser`.
    pub key_lookup_dir: Option<PathBuf>,
    /// The LAN name and port of the SSH side (`lanSshUrl`).
    pub fqdn_lan: Option<String>,
    #[serde(rename = "ssh_server_port_lan")]
    pub port_lan: Option<u16>,
    /// `HIDE_SSH_PORT`: URLs leave the port out.
    #[serde(rename = "hide_ssh_port")]
    pub hide_port: bool,
    /// The host's public key files, a path whose file name may hold `*` (server-info's
    /// fingerprints).
    pub host_key_files: String,
}

impl Default for SshSettings {
    fn default() -> Self {
        SshSettings {
            fqdn: None,
            port: None,
            unix_user: None,
            key_mode: KeyMode::File,
            key_lookup_dir: None,
            fqdn_lan: None,
            port_lan: None,
            hide_port: false,
            host_key_files: "/etc/ssh/ssh_host_*_key.pub".into(),
        }
    }
}

impl SshSettings {
    /// The repository URLs these settings give (`sshUrl`, `lanSshUrl`).
    pub fn repo_urls(&self) -> bw_host::ssh_url::RepoUrls {
        bw_host::ssh_url::RepoUrls::new(
            self.unix_user.as_deref(),
            self.fqdn.as_deref().map(|f| (f, self.port)),
            self.fqdn_lan.as_deref().map(|f| (f, self.port_lan)),
            self.hide_port,
        )
    }
}

/// How sshd learns which key may reach which repository.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum KeyMode {
    /// One line per repository in the borg user's `authorized_keys` (BorgWarehouse's way; sshd
    /// reads the whole file at every login).
    File,
    /// sshd's `AuthorizedKeysCommand` runs `borgwarehouse key-lookup`, which reads one small
    /// file per login from `key_lookup_dir`; `authorized_keys` keeps only lines this server did
    /// not write.
    Command,
}
