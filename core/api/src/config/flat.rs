//! The keys users write: lower-case names in the TOML file, `BW_<KEY>` in the environment, and
//! BorgWarehouse's own variable names. One flat list, because that is what the README documents
//! and what existing deployments set; [`super::Config`] groups them by owner inside the code.
//! The accepted names are derived from this struct (see [`accepted_keys`]), never kept by hand.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{AppriseMode, KeyMode, LogFormat, MailTls, Secret};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(super) struct FlatConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub home: Option<PathBuf>,
    pub log_format: LogFormat,
    pub admin_user: String,
    pub admin_password: Option<Secret>,
    pub auth_failure_limit: u32,
    #[serde(with = "duration_text")]
    pub sign_in_ttl: Duration,
    pub trusted_proxies: Vec<std::net::IpAddr>,
    #[serde(with = "duration_text")]
    pub status_interval: Duration,
    #[serde(with = "duration_text")]
    pub storage_interval: Duration,
    #[serde(with = "duration_text")]
    pub scan_timeout: Duration,
    /// Unset: on when this program can go on the lines (see `super::Sessions`).
    pub sessions: Option<bool>,
    pub session_spool: Option<PathBuf>,
    pub session_program: Option<PathBuf>,
    #[serde(with = "duration_text")]
    pub session_interval: Duration,
    #[serde(with = "duration_text")]
    pub verify_interval: Duration,
    pub verify_concurrency: u32,
    #[serde(with = "duration_text")]
    pub request_timeout: Duration,
    pub alert_email: Option<String>,
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<Secret>,
    pub webhook_backup_completed: bool,
    pub health_quota_percent: Vec<u8>,
    pub health_shrink_percent: u8,
    pub health_growth_factor: u32,
    pub apprise_url: Option<String>,
    pub apprise_services: Vec<String>,
    pub apprise_mode: AppriseMode,
    #[serde(with = "duration_text")]
    pub alert_timeout: Duration,
    pub mail_tls: Option<MailTls>,
    pub key_mode: KeyMode,
    pub key_lookup_dir: Option<PathBuf>,
    pub home_owner_check: bool,
    pub metrics_public: bool,

    // BorgWarehouse's names (see BORGWAREHOUSE_KEYS).
    pub cronjob_key: Option<Secret>,
    pub disable_delete_repo: bool,
    pub disable_compact_repo: bool,
    pub disable_integrations: bool,
    pub mail_smtp_from: Option<String>,
    pub mail_smtp_host: Option<String>,
    pub mail_smtp_port: Option<u16>,
    pub mail_smtp_login: Option<String>,
    pub mail_smtp_pwd: Option<Secret>,
    pub mail_reject_selfsigned_tls: bool,
    pub fqdn: Option<String>,
    pub ssh_server_port: Option<u16>,
    pub unix_user: Option<String>,
    pub fqdn_lan: Option<String>,
    pub ssh_server_port_lan: Option<u16>,
    pub hide_ssh_port: bool,
    pub host_key_files: String,
    pub storage_targets: Option<String>,
}

/// Keys read from the environment without the `BW_` prefix, spelled as BorgWarehouse spells
/// them (upper case). Every other key is read as `BW_<KEY>`.
pub(super) const BORGWAREHOUSE_KEYS: &[&str] = &[
    "cronjob_key",
    "disable_delete_repo",
    "disable_compact_repo",
    "disable_integrations",
    "mail_smtp_from",
    "mail_smtp_host",
    "mail_smtp_port",
    "mail_smtp_login",
    "mail_smtp_pwd",
    "mail_reject_selfsigned_tls",
    "fqdn",
    "ssh_server_port",
    "unix_user",
    "fqdn_lan",
    "ssh_server_port_lan",
    "hide_ssh_port",
    "storage_targets",
];

impl Default for FlatConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            data_dir: PathBuf::from("./data"),
            home: None,
            log_format: LogFormat::Text,
            admin_user: "admin".into(),
            admin_password: None,
            auth_failure_limit: 20,
            sign_in_ttl: Duration::from_secs(28800),
            trusted_proxies: Vec::new(),
            status_interval: Duration::from_secs(3600),
            storage_interval: Duration::from_secs(3600),
            scan_timeout: Duration::from_secs(60),
            sessions: None,
            session_spool: None,
            session_program: None,
            session_interval: Duration::from_secs(2),
            verify_interval: Duration::ZERO,
            verify_concurrency: 2,
            request_timeout: Duration::from_secs(30),
            alert_email: None,
            webhook_url: None,
            webhook_secret: None,
            webhook_backup_completed: false,
            health_quota_percent: vec![80, 95],
            health_shrink_percent: 50,
            health_growth_factor: 5,
            apprise_url: None,
            apprise_services: Vec::new(),
            apprise_mode: AppriseMode::Stateless,
            alert_timeout: Duration::from_secs(30),
            mail_tls: None,
            key_mode: KeyMode::File,
            key_lookup_dir: None,
            home_owner_check: true,
            metrics_public: false,
            cronjob_key: None,
            disable_delete_repo: false,
            disable_compact_repo: false,
            disable_integrations: false,
            mail_smtp_from: None,
            mail_smtp_host: None,
            mail_smtp_port: None,
            mail_smtp_login: None,
            mail_smtp_pwd: None,
            mail_reject_selfsigned_tls: true,
            fqdn: None,
            ssh_server_port: None,
            unix_user: None,
            fqdn_lan: None,
            ssh_server_port_lan: None,
            hide_ssh_port: false,
            host_key_files: "/etc/ssh/ssh_host_*_key.pub".into(),
            storage_targets: None,
        }
    }
}

/// Every key the configuration accepts, in declaration order: the fields of [`FlatConfig`] as
/// serde names them (a `None` serializes as null, so unset options are listed too).
pub(super) fn accepted_keys() -> Vec<String> {
    match serde_json::to_value(FlatConfig::default()) {
        Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Keys read as `BW_<KEY>`: every key but BorgWarehouse's own names.
pub(super) fn bw_keys() -> Vec<String> {
    accepted_keys().into_iter().filter(|k| !BORGWAREHOUSE_KEYS.contains(&k.as_str())).collect()
}

/// Keys whose value is text (names, paths, URLs, secrets). figment reads an environment value
/// as TOML-like data, so `CRONJOB_KEY=0123456789` would become the number 123456789; these keys
/// are read as the exact text instead. Derived, not listed: a key is text when the text "x" is
/// an acceptable value for it.
pub(super) fn text_keys() -> Vec<String> {
    use figment::providers::Serialized;
    use figment::Figment;
    accepted_keys()
        .into_iter()
        .filter(|key| {
            Figment::from(Serialized::defaults(FlatConfig::default()))
                .merge((key.as_str(), "x"))
                .extract::<FlatConfig>()
                .is_ok()
        })
        .collect()
}

/// Environment variables read as exact text (see [`text_keys`]).
pub(super) struct TextEnv {
    /// `BW_`, or empty for BorgWarehouse's own names.
    pub prefix: &'static str,
    /// Lower-case keys; the variable is `PREFIX` + the key in upper case.
    pub keys: Vec<String>,
}

impl figment::Provider for TextEnv {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named(format!("`{}*` environment variables", self.prefix))
    }

    fn data(&self) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        let mut dict = figment::value::Dict::new();
        for key in &self.keys {
            let name = format!("{}{}", self.prefix, key.to_uppercase());
            if let Some(value) = std::env::var_os(&name) {
                let value = value.into_string().map_err(|_| figment::Error::from(format!("{name} is not UTF-8")))?;
                dict.insert(key.clone(), figment::value::Value::from(value));
            }
        }
        Ok(figment::Profile::Default.collect(dict))
    }
}

/// Durations as text: `90s`, `1h`, `2h 30m`, or `0` (off); a bare number is seconds.
mod duration_text {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    /// Seconds (a whole number) or text; anything else is named in the error, in the words of
    /// the setting (an untagged enum said only "data did not match any variant").
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Duration;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a duration such as 90s, 1h or 0")
            }
            fn visit_u64<E: serde::de::Error>(self, s: u64) -> Result<Duration, E> {
                Ok(Duration::from_secs(s))
            }
            fn visit_i64<E: serde::de::Error>(self, s: i64) -> Result<Duration, E> {
                u64::try_from(s).map(Duration::from_secs).map_err(|_| {
                    E::custom(format!("expected a duration such as 90s, 1h or 0, found {s} (a negative number)"))
                })
            }
            fn visit_str<E: serde::de::Error>(self, t: &str) -> Result<Duration, E> {
                if t.trim() == "0" {
                    return Ok(Duration::ZERO);
                }
                humantime::parse_duration(t.trim())
                    .map_err(|e| E::custom(format!("expected a duration such as 90s, 1h or 0, found {t:?} ({e})")))
            }
        }
        d.deserialize_any(Visitor)
    }
}
