//! Configuration: defaults, then an optional TOML file, then the environment (`BW_*` names and
//! BorgWarehouse's own names, spelled as BorgWarehouse spells them).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Keys read from `BW_<KEY>` variables (lower-cased in the TOML file).
pub const BW_KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "home",
    "log_format",
    "admin_user",
    "admin_password",
    "trusted_proxies",
    "status_interval",
    "storage_interval",
    "scan_timeout",
    "alert_email",
    "webhook_url",
    "webhook_secret",
    "apprise_url",
    "apprise_services",
    "apprise_mode",
    "alert_timeout",
    "mail_tls",
    "request_timeout",
    "auth_failure_limit",
];

/// BorgWarehouse's own variable names, read without a prefix.
pub const BORGWAREHOUSE_KEYS: &[&str] = &[
    "CRONJOB_KEY",
    "DISABLE_DELETE_REPO",
    "DISABLE_INTEGRATIONS",
    "MAIL_SMTP_FROM",
    "MAIL_SMTP_HOST",
    "MAIL_SMTP_PORT",
    "MAIL_SMTP_LOGIN",
    "MAIL_SMTP_PWD",
    "MAIL_REJECT_SELFSIGNED_TLS",
    "FQDN",
    "SSH_SERVER_PORT",
    "UNIX_USER",
];

/// Variables with the `BW_` prefix that are not configuration keys but are read elsewhere.
const BW_OTHER_VARS: &[&str] = &["BW_CONFIG"];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// The borg user's home; `data_dir/home` when unset.
    pub home: Option<PathBuf>,
    pub log_format: LogFormat,
    pub admin_user: String,
    /// Creates the administrator at the first start when no account exists yet.
    pub admin_password: Option<String>,
    /// Failed authentications from one address within a minute before it gets 429 for a
    /// minute; 0 turns the throttle off.
    pub auth_failure_limit: u32,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    #[serde(with = "duration_text")]
    pub status_interval: Duration,
    #[serde(with = "duration_text")]
    pub storage_interval: Duration,
    #[serde(with = "duration_text")]
    pub scan_timeout: Duration,
    /// Time allowed to receive a request's head, and then its body; slower clients are cut off.
    #[serde(with = "duration_text")]
    pub request_timeout: Duration,
    pub alert_email: Option<String>,
    /// POST `{"status":"down","repos":[..],"timestamp":..}` here when repositories are late.
    pub webhook_url: Option<String>,
    /// Signs webhook bodies: header `X-BorgWarehouse-Signature: sha256=HEX(HMAC-SHA256)`.
    pub webhook_secret: Option<String>,
    /// Apprise API server (stateless mode): POST `{"urls":..,"body":..}` to `URL/notify`.
    pub apprise_url: Option<String>,
    /// Apprise service URLs to notify (both modes).
    pub apprise_services: Vec<String>,
    pub apprise_mode: AppriseMode,
    #[serde(with = "duration_text")]
    pub alert_timeout: Duration,

    pub cronjob_key: Option<String>,
    pub disable_delete_repo: bool,
    pub disable_integrations: bool,
    pub mail_smtp_from: Option<String>,
    pub mail_smtp_host: Option<String>,
    pub mail_smtp_port: Option<u16>,
    pub mail_smtp_login: Option<String>,
    pub mail_smtp_pwd: Option<String>,
    pub mail_reject_selfsigned_tls: bool,
    /// `starttls` (required), `tls` (implicit, port 465), or `none` (a local relay);
    /// default: `tls` on port 465, `starttls` elsewhere.
    pub mail_tls: Option<MailTls>,
    pub fqdn: Option<String>,
    pub ssh_server_port: Option<u16>,
    pub unix_user: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AppriseMode {
    /// Through an Apprise API server at `apprise_url`.
    Stateless,
    /// By running the `apprise` program.
    Package,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MailTls {
    Starttls,
    Tls,
    None,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            data_dir: PathBuf::from("./data"),
            home: None,
            log_format: LogFormat::Text,
            admin_user: "admin".into(),
            admin_password: None,
            auth_failure_limit: 20,
            trusted_proxies: Vec::new(),
            status_interval: Duration::from_secs(3600),
            storage_interval: Duration::from_secs(3600),
            scan_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            alert_email: None,
            webhook_url: None,
            webhook_secret: None,
            apprise_url: None,
            apprise_services: Vec::new(),
            apprise_mode: AppriseMode::Stateless,
            alert_timeout: Duration::from_secs(30),
            cronjob_key: None,
            disable_delete_repo: false,
            disable_integrations: false,
            mail_smtp_from: None,
            mail_smtp_host: None,
            mail_smtp_port: None,
            mail_smtp_login: None,
            mail_smtp_pwd: None,
            mail_reject_selfsigned_tls: true,
            mail_tls: None,
            fqdn: None,
            ssh_server_port: None,
            unix_user: None,
        }
    }
}

/// A configuration that could not be loaded; the message names the key and what it expects.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Loads defaults -> TOML file (`file`, else `BW_CONFIG`) -> environment, returning the
    /// config and warnings (misspelled `BW_*` variables) to log once logging is up.
    pub fn load(file: Option<&Path>) -> Result<(Config, Vec<String>), ConfigError> {
        let file = file.map(Path::to_path_buf).or_else(|| std::env::var_os("BW_CONFIG").map(PathBuf::from));
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = &file {
            if !path.is_file() {
                return Err(ConfigError(format!("config file {} does not exist", path.display())));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment
            .merge(Env::prefixed("BW_").only(BW_KEYS))
            .merge(Env::raw().only(BORGWAREHOUSE_KEYS).map(|k| k.as_str().to_lowercase().into()));
        let config: Config = figment.extract().map_err(describe)?;
        config.check()?;
        Ok((config, misspelled_env_warnings()))
    }

    fn check(&self) -> Result<(), ConfigError> {
        if let Some(key) = &self.cronjob_key {
            if key.trim() != key {
                return Err(ConfigError("CRONJOB_KEY must not start or end with white space".into()));
            }
        }
        if self.admin_user.is_empty() || self.admin_user.contains(':') {
            return Err(ConfigError(format!(
                "BW_ADMIN_USER: expected a non-empty name without ':', found {:?}",
                self.admin_user
            )));
        }
        Ok(())
    }

    pub fn home(&self) -> PathBuf {
        self.home.clone().unwrap_or_else(|| self.data_dir.join("home"))
    }

    /// The folder that holds every repository: `HOME/repos`.
    pub fn pool(&self) -> PathBuf {
        self.home().join("repos")
    }

    pub fn authorized_keys_path(&self) -> PathBuf {
        self.home().join(".ssh").join("authorized_keys")
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("db")
    }
}

fn describe(err: figment::Error) -> ConfigError {
    let mut out = Vec::new();
    for e in err {
        let key = e.path.last().cloned().unwrap_or_default();
        let name = if BW_KEYS.contains(&key.as_str()) {
            format!("BW_{} (`{}` in the config file)", key.to_uppercase(), key)
        } else if BORGWAREHOUSE_KEYS.contains(&key.to_uppercase().as_str()) {
            format!("{} (`{}` in the config file)", key.to_uppercase(), key)
        } else if key.is_empty() {
            "configuration".to_string()
        } else {
            format!("`{key}`")
        };
        out.push(format!("{name}: {}", e.kind));
    }
    ConfigError(out.join("; "))
}

fn misspelled_env_warnings() -> Vec<String> {
    std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| k.starts_with("BW_"))
        .filter(|k| !BW_OTHER_VARS.contains(&k.as_str()))
        .filter(|k| !BW_KEYS.contains(&k[3..].to_lowercase().as_str()))
        .map(|k| {
            let guess = closest(&k[3..].to_lowercase());
            match guess {
                Some(g) => format!("unknown variable {k} ignored; did you mean BW_{}?", g.to_uppercase()),
                None => format!("unknown variable {k} ignored"),
            }
        })
        .collect()
}

fn closest(key: &str) -> Option<&'static str> {
    BW_KEYS.iter().map(|k| (edit_distance(key, k), *k)).filter(|(d, _)| *d <= 3).min().map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Durations as text: `90s`, `1h`, `2h 30m`, or `0` (off); a bare number is seconds.
mod duration_text {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Secs(s) => Ok(Duration::from_secs(s)),
            Raw::Text(t) if t.trim() == "0" => Ok(Duration::ZERO),
            Raw::Text(t) => humantime::parse_duration(t.trim()).map_err(|e| {
                serde::de::Error::custom(format!("expected a duration such as 90s, 1h or 0, found {t:?} ({e})"))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::Jail;

    fn load_in_jail() -> Result<Config, ConfigError> {
        Config::load(None).map(|(c, _)| c)
    }

    #[test]
    fn defaults() {
        Jail::expect_with(|_jail| {
            let c = load_in_jail().unwrap();
            assert_eq!(c, Config::default());
            assert_eq!(c.listen.to_string(), "127.0.0.1:3000");
            assert_eq!(c.pool(), PathBuf::from("./data/home/repos"));
            assert_eq!(c.authorized_keys_path(), PathBuf::from("./data/home/.ssh/authorized_keys"));
            assert_eq!(c.db_path(), PathBuf::from("./data/db"));
            Ok(())
        });
    }

    #[test]
    fn file_then_env() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "bw.toml",
                r#"
                listen = "127.0.0.1:4000"
                data_dir = "/srv/bw"
                cronjob_key = "from-file"
                status_interval = "30m"
                "#,
            )?;
            jail.set_env("BW_CONFIG", "bw.toml");
            let c = load_in_jail().unwrap();
            assert_eq!(c.listen.port(), 4000);
            assert_eq!(c.home(), PathBuf::from("/srv/bw/home"));
            assert_eq!(c.cronjob_key.as_deref(), Some("from-file"));
            assert_eq!(c.status_interval, Duration::from_secs(1800));

            jail.set_env("BW_LISTEN", "127.0.0.1:5000");
            jail.set_env("CRONJOB_KEY", "from-env");
            jail.set_env("BW_HOME", "/home/borg");
            jail.set_env("BW_TRUSTED_PROXIES", r#"["127.0.0.1", "::1"]"#);
            let c = load_in_jail().unwrap();
            assert_eq!(c.trusted_proxies.len(), 2);
            assert_eq!(c.listen.port(), 5000);
            assert_eq!(c.cronjob_key.as_deref(), Some("from-env"));
            assert_eq!(c.pool(), PathBuf::from("/home/borg/repos"));
            Ok(())
        });
    }

    #[test]
    fn borgwarehouse_names() {
        Jail::expect_with(|jail| {
            jail.set_env("DISABLE_DELETE_REPO", "true");
            jail.set_env("DISABLE_INTEGRATIONS", "true");
            jail.set_env("MAIL_SMTP_HOST", "smtp.example.org");
            jail.set_env("MAIL_SMTP_PORT", "587");
            jail.set_env("MAIL_REJECT_SELFSIGNED_TLS", "false");
            jail.set_env("FQDN", "backup.example.org");
            jail.set_env("SSH_SERVER_PORT", "2222");
            jail.set_env("UNIX_USER", "borgwarehouse");
            jail.set_env("BW_STORAGE_INTERVAL", "0");
            let c = load_in_jail().unwrap();
            assert!(c.disable_delete_repo);
            assert!(c.disable_integrations);
            assert_eq!(c.mail_smtp_host.as_deref(), Some("smtp.example.org"));
            assert_eq!(c.mail_smtp_port, Some(587));
            assert!(!c.mail_reject_selfsigned_tls);
            assert_eq!(c.fqdn.as_deref(), Some("backup.example.org"));
            assert_eq!(c.ssh_server_port, Some(2222));
            assert_eq!(c.unix_user.as_deref(), Some("borgwarehouse"));
            assert_eq!(c.storage_interval, Duration::ZERO);
            Ok(())
        });
    }

    #[test]
    fn bad_value_names_the_key() {
        Jail::expect_with(|jail| {
            jail.set_env("DISABLE_DELETE_REPO", "maybe");
            let err = load_in_jail().unwrap_err().to_string();
            assert!(err.contains("DISABLE_DELETE_REPO"), "{err}");
            assert!(err.contains("bool"), "{err}");
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.set_env("BW_LISTEN", "not-an-address");
            let err = load_in_jail().unwrap_err().to_string();
            assert!(err.contains("BW_LISTEN"), "{err}");
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.set_env("BW_STATUS_INTERVAL", "often");
            let err = load_in_jail().unwrap_err().to_string();
            assert!(err.contains("BW_STATUS_INTERVAL") && err.contains("duration"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn misspelled_variable_is_warned() {
        Jail::expect_with(|jail| {
            jail.set_env("BW_LISTNE", "127.0.0.1:1");
            let (c, warnings) = Config::load(None).unwrap();
            assert_eq!(c.listen.port(), 3000);
            let ours: Vec<&String> = warnings.iter().filter(|w| w.contains("BW_LISTNE")).collect();
            assert_eq!(ours.len(), 1, "{warnings:?}");
            assert!(ours[0].contains("did you mean BW_LISTEN?"), "{warnings:?}");
            assert!(!warnings.iter().any(|w| w.contains("BW_LISTEN ")), "a known name is not warned about");
            Ok(())
        });
    }

    #[test]
    fn unknown_file_key_is_refused() {
        Jail::expect_with(|jail| {
            jail.create_file("bw.toml", "listne = \"127.0.0.1:1\"\n")?;
            let err = Config::load(Some(Path::new("bw.toml"))).unwrap_err().to_string();
            assert!(err.contains("listne"), "{err}");
            Ok(())
        });
    }
}
