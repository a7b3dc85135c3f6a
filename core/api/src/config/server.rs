//! `server`: where the server listens and keeps its files, and how it treats connections.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::keys::duration_text;

/// Where the server listens and keeps its files, and how it treats connections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// The borg user's home; `data_dir/home` when unset.
    pub home: Option<PathBuf>,
    /// Refuse to start when the home exists and belongs to another user than the server's.
    pub home_owner_check: bool,
    pub log_format: LogFormat,
    /// Time allowed to receive a request's head, and then its body; slower clients are cut off.
    #[serde(with = "duration_text")]
    pub request_timeout: Duration,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// `postgres://…`: the store is this PostgreSQL database instead of the embedded one
    /// (a secret: the address may hold a password).
    pub database_url: Option<super::Secret>,
    /// A PEM file of the CA that signed the database's certificate (a managed service's own),
    /// trusted beside the web's roots when the URL asks for TLS (`sslmode=require`).
    pub database_ca: Option<PathBuf>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            data_dir: PathBuf::from("./data"),
            home: None,
            home_owner_check: true,
            log_format: LogFormat::Text,
            request_timeout: Duration::from_secs(30),
            trusted_proxies: Vec::new(),
            database_url: None,
            database_ca: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}
