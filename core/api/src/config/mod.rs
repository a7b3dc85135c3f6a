//! Configuration: defaults, then an optional TOML file, then the environment (`BW_*` names and
//! BorgWarehouse's own names, spelled as BorgWarehouse spells them).
//!
//! Users write one flat list of keys ([`flat`]); the code reads them grouped by the part of the
//! server that owns them. Secrets are [`Secret`]s, so printing a `Config` shows `***`.

mod file;
mod flat;
mod secret;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use flat::{FlatConfig, BORGWAREHOUSE_KEYS};
pub use secret::Secret;

/// Variables with the `BW_` prefix that are not configuration keys but are read elsewhere.
const BW_OTHER_VARS: &[&str] = &["BW_CONFIG"];

/// The whole configuration, grouped by owner.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub server: ServerSettings,
    pub auth: AuthSettings,
    pub repos: RepoSettings,
    pub checks: CheckSettings,
    pub alerts: AlertSettings,
    pub mail: MailSettings,
    pub ssh: SshSettings,
}

/// Where the server listens and keeps its files, and how it treats connections.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// The borg user's home; `data_dir/home` when unset.
    pub home: Option<PathBuf>,
    /// Refuse to start when the home exists and belongs to another user than the server's.
    pub home_owner_check: bool,
    pub log_format: LogFormat,
    /// Time allowed to receive a request's head, and then its body; slower clients are cut off.
    pub request_timeout: Duration,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpAddr>,
}

/// Who may call: the administrator, API tokens, the cron key, and the failure throttle.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthSettings {
    pub admin_user: String,
    /// Creates the administrator at the first start when no account exists yet.
    pub admin_password: Option<Secret>,
    /// Failed authentications from one address within a minute before it gets 429 for a
    /// minute; 0 turns the throttle off.
    pub failure_limit: u32,
    /// How long a page's sign-in lives without use (`POST /api/v1/sign-in`).
    pub sign_in_ttl: Duration,
    /// Bearer key of the cron routes; unset or empty refuses every call.
    pub cronjob_key: Option<Secret>,
    /// `DISABLE_INTEGRATIONS`: no API token is accepted.
    pub disable_integrations: bool,
    /// `GET /metrics` answers without credentials.
    pub metrics_public: bool,
}

/// The repository routes.
#[derive(Debug, Clone, PartialEq)]
pub struct RepoSettings {
    /// `DISABLE_DELETE_REPO`: the delete routes answer 403.
    pub disable_delete: bool,
    /// `DISABLE_COMPACT_REPO`: the compact route answers 403.
    pub disable_compact: bool,
    /// `STORAGE_TARGETS`: mounted folders where a repository may live instead of the pool.
    pub storage_targets: Vec<bw_host::storage_target::StorageTarget>,
}

/// The status and storage checks.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckSettings {
    /// How often the server runs each check on its own; zero turns it off.
    pub status_interval: Duration,
    pub storage_interval: Duration,
    /// Time allowed to read one repository during a check.
    pub scan_timeout: Duration,
    /// Whether each line runs `borg serve` under the session recorder, so the server learns
    /// that a backup ended within [`CheckSettings::session_interval`].
    pub sessions: Sessions,
    /// Where the recorder drops its records; `POOL/.sessions` when unset.
    pub session_spool: Option<PathBuf>,
    /// The program the lines run as the recorder; this server's own program when unset.
    pub session_program: Option<PathBuf>,
    /// How often the spool is read.
    pub session_interval: Duration,
    /// Each repository is verified (`borg check --repository-only`) once per this; zero turns
    /// the scheduled verify off.
    pub verify_interval: Duration,
    /// How many verifies run at a time.
    pub verify_concurrency: u32,
}

/// `BW_SESSIONS`. The lines name the recorder's program, and sshd runs it as the borg user:
/// a line naming a program that user cannot run locks its client out. So unless sessions are
/// asked for, they go on only where that cannot happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sessions {
    /// Unset: on when the recorder's program can go on the lines and the borg user can run it;
    /// else off, with a warning that says why (the server's start settles it: [`Sessions::On`]
    /// or [`Sessions::Off`] from then on).
    Auto,
    /// `BW_SESSIONS=true`: on, and a start that cannot put the recorder on the lines fails.
    On,
    /// `BW_SESSIONS=false`: plain `borg serve` lines.
    Off,
}

/// Where lateness alerts go (the mail server is in [`MailSettings`]).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSettings {
    pub email_to: Option<String>,
    /// POST `{"status":"down","repos":[..],"timestamp":..}` here when repositories are late.
    pub webhook_url: Option<String>,
    /// Signs webhook bodies: header `X-BorgWarehouse-Signature: sha256=HEX(HMAC-SHA256)`.
    pub webhook_secret: Option<Secret>,
    /// Also POST a `backup.completed` event to the webhook for every session taken in.
    pub webhook_backup_completed: bool,
    /// Apprise API server (stateless mode): POST `{"urls":..,"body":..}` to `URL/notify`.
    pub apprise_url: Option<String>,
    /// Apprise service URLs to notify (both modes).
    pub apprise_services: Vec<String>,
    pub apprise_mode: AppriseMode,
    /// Time allowed to each channel.
    pub timeout: Duration,
    pub health: HealthSettings,
}

/// The health alerts (contract: "History and health"), sent through the same channels as the
/// late alert, each once per event.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthSettings {
    /// Storage used crossing each of these percentages of the quota, rising; empty turns the
    /// quota alert off.
    pub quota_percent: Vec<u8>,
    /// Storage used falling by more than this percentage between two points, on a repository
    /// that is not append-only; 0 turns the shrink alert off.
    pub shrink_percent: u8,
    /// A backup growing storage used by more than this many times the repository's median
    /// growth; 0 turns the growth alert off.
    pub growth_factor: u32,
}

impl HealthSettings {
    /// True when at least one health alert is on.
    pub fn any(&self) -> bool {
        !self.quota_percent.is_empty() || self.shrink_percent > 0 || self.growth_factor > 0
    }
}

/// The SMTP server alerts are sent through.
#[derive(Debug, Clone, PartialEq)]
pub struct MailSettings {
    pub from: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub login: Option<String>,
    pub password: Option<Secret>,
    pub reject_selfsigned_tls: bool,
    /// `starttls` (required), `tls` (implicit, port 465), or `none` (a local relay);
    /// default: `tls` on port 465, `starttls` elsewhere.
    pub tls: Option<MailTls>,
}

/// The SSH side: how sshd learns the clients' keys, and BorgWarehouse's names, kept for
/// compatibility.
#[derive(Debug, Clone, PartialEq)]
pub struct SshSettings {
    pub fqdn: Option<String>,
    pub port: Option<u16>,
    pub unix_user: Option<String>,
    pub key_mode: KeyMode,
    /// The folder `borgwarehouse key-lookup` reads in command mode; outside `data_dir`, readable
    /// by sshd's `AuthorizedKeysCommandUser`.
    pub key_lookup_dir: Option<PathBuf>,
    /// The LAN name and port of the SSH side (`lanSshUrl`).
    pub fqdn_lan: Option<String>,
    pub port_lan: Option<u16>,
    /// `HIDE_SSH_PORT`: URLs leave the port out.
    pub hide_port: bool,
    /// The host's public key files, a path whose file name may hold `*` (server-info's
    /// fingerprints).
    pub host_key_files: String,
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

impl From<FlatConfig> for Config {
    fn from(f: FlatConfig) -> Self {
        Config {
            server: ServerSettings {
                listen: f.listen,
                data_dir: f.data_dir,
                home: f.home,
                home_owner_check: f.home_owner_check,
                log_format: f.log_format,
                request_timeout: f.request_timeout,
                trusted_proxies: f.trusted_proxies,
            },
            auth: AuthSettings {
                admin_user: f.admin_user,
                admin_password: f.admin_password,
                failure_limit: f.auth_failure_limit,
                sign_in_ttl: f.sign_in_ttl,
                cronjob_key: f.cronjob_key,
                disable_integrations: f.disable_integrations,
                metrics_public: f.metrics_public,
            },
            repos: RepoSettings {
                disable_delete: f.disable_delete_repo,
                disable_compact: f.disable_compact_repo,
                // Parsed by `Config::load`, which can refuse a malformed list.
                storage_targets: Vec::new(),
            },
            checks: CheckSettings {
                status_interval: f.status_interval,
                storage_interval: f.storage_interval,
                scan_timeout: f.scan_timeout,
                sessions: match f.sessions {
                    None => Sessions::Auto,
                    Some(true) => Sessions::On,
                    Some(false) => Sessions::Off,
                },
                session_spool: f.session_spool,
                session_program: f.session_program,
                session_interval: f.session_interval,
                verify_interval: f.verify_interval,
                verify_concurrency: f.verify_concurrency,
            },
            alerts: AlertSettings {
                email_to: f.alert_email,
                webhook_url: f.webhook_url,
                webhook_secret: f.webhook_secret,
                webhook_backup_completed: f.webhook_backup_completed,
                apprise_url: f.apprise_url,
                apprise_services: f.apprise_services,
                apprise_mode: f.apprise_mode,
                timeout: f.alert_timeout,
                health: HealthSettings {
                    quota_percent: {
                        let mut levels = f.health_quota_percent;
                        levels.sort_unstable();
                        levels.dedup();
                        levels
                    },
                    shrink_percent: f.health_shrink_percent,
                    growth_factor: f.health_growth_factor,
                },
            },
            mail: MailSettings {
                from: f.mail_smtp_from,
                host: f.mail_smtp_host,
                port: f.mail_smtp_port,
                login: f.mail_smtp_login,
                password: f.mail_smtp_pwd,
                reject_selfsigned_tls: f.mail_reject_selfsigned_tls,
                tls: f.mail_tls,
            },
            ssh: SshSettings {
                fqdn: f.fqdn,
                port: f.ssh_server_port,
                unix_user: f.unix_user,
                key_mode: f.key_mode,
                key_lookup_dir: f.key_lookup_dir,
                fqdn_lan: f.fqdn_lan,
                port_lan: f.ssh_server_port_lan,
                hide_port: f.hide_ssh_port,
                host_key_files: f.host_key_files,
            },
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        FlatConfig::default().into()
    }
}

/// The longest a page's sign-in may last unused (BW_SIGN_IN_TTL): 30 days. Larger values
/// overflowed expiry times (2^63-1 s made every `expiresAt` negative).
pub const SIGN_IN_TTL_MAX: Duration = Duration::from_secs(30 * 86_400);

/// A configuration that could not be loaded; the message names the key and what it expects.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// The configuration of a server run inside another program (the tests, the benches):
    /// its data under `root/data`, the borg home at `root/home`, and sessions off, since "this
    /// program" there is the test or bench binary, which is no recorder the lines could run.
    /// The defaults otherwise; a test that wants sessions names a recorder of its choosing.
    pub fn in_process(root: &Path) -> Config {
        let mut config = Config::default();
        config.server.data_dir = root.join("data");
        config.server.home = Some(root.join("home"));
        config.checks.sessions = Sessions::Off;
        config
    }

    /// Loads defaults -> TOML file (`file`, else `BW_CONFIG`) -> environment, returning the
    /// config and warnings (misspelled `BW_*` variables) to log once logging is up.
    pub fn load(file: Option<&Path>) -> Result<(Config, Vec<String>), ConfigError> {
        let file = file.map(Path::to_path_buf).or_else(|| std::env::var_os("BW_CONFIG").map(PathBuf::from));
        let mut figment = Figment::from(Serialized::defaults(FlatConfig::default()));
        let mut file_text = None;
        if let Some(path) = &file {
            file_text = Some(file::read_checked(path)?);
            figment = figment.merge(Toml::file(path));
        }
        // Text keys are read as exact text; the others as data (numbers, booleans, lists).
        let text = flat::text_keys();
        let (bw_text, bw_data): (Vec<String>, Vec<String>) =
            flat::bw_keys().into_iter().partition(|k| text.contains(k));
        let (bwh_text, bwh_data): (Vec<String>, Vec<String>) =
            BORGWAREHOUSE_KEYS.iter().map(|k| k.to_string()).partition(|k| text.contains(k));
        let bwh_data_upper: Vec<String> = bwh_data.iter().map(|k| k.to_uppercase()).collect();
        figment = figment
            .merge(Env::prefixed("BW_").only(&bw_data.iter().map(String::as_str).collect::<Vec<_>>()))
            .merge(flat::TextEnv { prefix: "BW_", keys: bw_text })
            .merge(
                Env::raw()
                    .only(&bwh_data_upper.iter().map(String::as_str).collect::<Vec<_>>())
                    .map(|k| k.as_str().to_lowercase().into()),
            )
            .merge(flat::TextEnv { prefix: "", keys: bwh_text });
        let flat: FlatConfig = figment.extract().map_err(|e| describe(e, file_text.as_deref()))?;
        let targets = bw_host::storage_target::parse_list(flat.storage_targets.as_deref().unwrap_or(""))
            .map_err(|e| ConfigError(format!("STORAGE_TARGETS (`storage_targets`): {e}")))?;
        let mut config = Config::from(flat);
        config.repos.storage_targets = targets;
        config.check()?;
        Ok((config, misspelled_env_warnings()))
    }

    /// Refuses settings that cannot work together, naming the setting and the fix.
    pub fn check(&self) -> Result<(), ConfigError> {
        if let Some(key) = &self.auth.cronjob_key {
            if key.expose().trim() != key.expose() {
                return Err(ConfigError("CRONJOB_KEY must not start or end with white space".into()));
            }
        }
        self.check_key_lookup_dir()?;
        self.check_pool_path()?;
        self.check_ssh_url_parts()?;
        self.check_sessions()?;
        self.check_storage_targets()?;
        if self.auth.sign_in_ttl < Duration::from_secs(60) {
            return Err(ConfigError(format!(
                "BW_SIGN_IN_TTL (`sign_in_ttl`): {} would sign people out before they can do anything; give a minute \
                 or more (default 28800 s, 8 hours)",
                humantime::format_duration(self.auth.sign_in_ttl)
            )));
        }
        if self.auth.sign_in_ttl > SIGN_IN_TTL_MAX {
            return Err(ConfigError(format!(
                "BW_SIGN_IN_TTL (`sign_in_ttl`): {} is more than a page's sign-in may last unused; give at most {} \
                 (default 28800 s, 8 hours)",
                humantime::format_duration(self.auth.sign_in_ttl),
                humantime::format_duration(SIGN_IN_TTL_MAX)
            )));
        }
        if self.checks.verify_concurrency == 0 {
            return Err(ConfigError(
                "BW_VERIFY_CONCURRENCY (`verify_concurrency`): 0 verifies at a time would never verify; give 1 or more, \
                 or BW_VERIFY_INTERVAL=0 to turn the scheduled verify off"
                    .into(),
            ));
        }
        let health = &self.alerts.health;
        if let Some(bad) = health.quota_percent.iter().find(|p| !(1..=100).contains(*p)) {
            return Err(ConfigError(format!(
                "BW_HEALTH_QUOTA_PERCENT (`health_quota_percent`): {bad} is not a percentage from 1 to 100; give a \
                 list such as [80, 95], or [] to turn the quota alert off"
            )));
        }
        if health.shrink_percent > 100 {
            return Err(ConfigError(format!(
                "BW_HEALTH_SHRINK_PERCENT (`health_shrink_percent`): {} is more than 100; give 1 to 100, or 0 to \
                 turn the shrink alert off",
                health.shrink_percent
            )));
        }
        let user = &self.auth.admin_user;
        if user.is_empty() || user.contains(':') {
            return Err(ConfigError(format!("BW_ADMIN_USER: expected a non-empty name without ':', found {user:?}")));
        }
        Ok(())
    }

    /// `UNIX_USER`, `FQDN`, `FQDN_LAN` and the ports make every repository's URL, which people
    /// paste into shells (`borg init URL`) and configuration files: each must be what it says
    /// (a user name, a host name or address, a port), never text a shell would run.
    fn check_ssh_url_parts(&self) -> Result<(), ConfigError> {
        let ssh = &self.ssh;
        if let Some(user) = ssh.unix_user.as_deref().filter(|u| !u.is_empty()) {
            let mut chars = user.chars();
            let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
            let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
            if !(first_ok && rest_ok && user.len() <= 32) {
                return Err(ConfigError(format!(
                    "UNIX_USER (`unix_user`): {user:?} is not a user name; give the borg user's login name (letters, \
                     digits, _ . -, starting with a letter or _, at most 32 characters)"
                )));
            }
        }
        for (setting, host) in [("FQDN (`fqdn`)", &ssh.fqdn), ("FQDN_LAN (`fqdn_lan`)", &ssh.fqdn_lan)] {
            if let Some(host) = host.as_deref().filter(|h| !h.is_empty()) {
                if !is_host(host) {
                    return Err(ConfigError(format!(
                        "{setting}: {host:?} is not a host name or an IP address; give the name or address clients \
                         reach this server's sshd at, such as backup.example.com or 192.0.2.10 ([2001:db8::10] for \
                         IPv6)"
                    )));
                }
            }
        }
        for (setting, port) in [
            ("SSH_SERVER_PORT (`ssh_server_port`)", ssh.port),
            ("SSH_SERVER_PORT_LAN (`ssh_server_port_lan`)", ssh.port_lan),
        ] {
            if port == Some(0) {
                return Err(ConfigError(format!("{setting}: 0 is not a port; give sshd's port, 1 to 65535")));
            }
        }
        Ok(())
    }

    /// The pool's path is written unquoted into every forced command (`cd POOL;borg serve
    /// --restrict-to-repository POOL/NAME`, inside `command="..."`): a character the shell or
    /// sshd reads as syntax would break every line, or worse.
    fn check_pool_path(&self) -> Result<(), ConfigError> {
        let pool = bw_host::paths::absolute(&self.home()).join("repos");
        let text = pool.to_string_lossy();
        let safe = |c: char| c.is_ascii_alphanumeric() || "/._-+@,=%".contains(c);
        match text.chars().find(|c| !safe(*c)) {
            None => Ok(()),
            Some(c) => Err(ConfigError(format!(
                "BW_HOME (`home`): the pool {text} holds {c:?}, which the forced command on each authorized_keys \
                 line cannot carry safely; choose a home of letters, digits and / . _ - + @ , = % only{}",
                if self.server.home.is_none() {
                    " (it defaults to BW_DATA_DIR/home, from the current folder)"
                } else {
                    ""
                }
            ))),
        }
    }

    /// The recorder's program and spool go on every line, unquoted.
    fn check_sessions(&self) -> Result<(), ConfigError> {
        if self.checks.sessions == Sessions::Off {
            return Ok(());
        }
        if self.checks.session_interval.is_zero() {
            return Err(ConfigError(
                "BW_SESSION_INTERVAL (`session_interval`) must be more than 0 with sessions on".into(),
            ));
        }
        // Unset, an unfit path turns sessions off at the start, with a warning.
        if self.checks.sessions == Sessions::On {
            self.recorder().map_err(ConfigError)?;
        }
        Ok(())
    }

    /// The session spool: `session_spool`, else `POOL/.sessions` (on the pool, so that storage
    /// hosts sharing it reach it too).
    pub fn session_spool(&self) -> PathBuf {
        match &self.checks.session_spool {
            Some(p) => bw_host::paths::absolute(p),
            None => bw_host::paths::absolute(&self.home()).join("repos").join(".sessions"),
        }
    }

    /// The recorder the lines run `borg serve` under, when sessions are on: the configured
    /// program, else this very program. Refused, naming the setting, when a path cannot stand
    /// unquoted in a forced command.
    pub fn recorder(&self) -> Result<bw_host::authorized_keys::Recorder, String> {
        let program = match &self.checks.session_program {
            Some(p) => bw_host::paths::absolute(p),
            None => std::env::current_exe().map_err(|e| {
                format!("BW_SESSION_PROGRAM (`session_program`): this program's path is unknown ({e}); set it")
            })?,
        };
        let recorder = bw_host::authorized_keys::Recorder {
            program: program.to_string_lossy().into_owned(),
            spool: self.session_spool().to_string_lossy().into_owned(),
        };
        for (setting, path) in [
            ("BW_SESSION_PROGRAM (`session_program`)", &recorder.program),
            ("BW_SESSION_SPOOL (`session_spool`)", &recorder.spool),
        ] {
            if !bw_host::authorized_keys::Recorder::plain_path(path) {
                return Err(format!(
                    "{setting}: {path} goes unquoted into every forced command; give an absolute path without white \
                     space, quotes, backslashes, `;`, `$` or backquotes"
                ));
            }
        }
        Ok(recorder)
    }

    /// A target inside the pool or the data folder would hold repositories twice over, or next
    /// to the store.
    fn check_storage_targets(&self) -> Result<(), ConfigError> {
        let pool = bw_host::paths::absolute(&self.home()).join("repos");
        let data = bw_host::paths::absolute(&self.server.data_dir);
        for t in &self.repos.storage_targets {
            let path = Path::new(&t.path);
            if path.starts_with(&pool) || path.starts_with(&data) {
                return Err(ConfigError(format!(
                    "STORAGE_TARGETS (`storage_targets`): {} overlaps the pool {} or the data folder {}; a target \
                     is a folder of its own on another disk",
                    t.path,
                    pool.display(),
                    data.display()
                )));
            }
        }
        Ok(())
    }

    /// Command mode needs the key folder, and that folder must not be inside the data folder:
    /// the lookup runs as an unprivileged user that must never read the store.
    fn check_key_lookup_dir(&self) -> Result<(), ConfigError> {
        let Some(dir) = &self.ssh.key_lookup_dir else {
            if self.ssh.key_mode == KeyMode::Command {
                return Err(ConfigError(
                    "BW_KEY_MODE=command needs BW_KEY_LOOKUP_DIR (`key_lookup_dir`): the folder sshd's \
                     AuthorizedKeysCommand reads, outside the data folder"
                        .into(),
                ));
            }
            return Ok(());
        };
        let inside = bw_host::paths::absolute(dir).starts_with(bw_host::paths::absolute(&self.server.data_dir));
        if inside {
            return Err(ConfigError(format!(
                "BW_KEY_LOOKUP_DIR (`key_lookup_dir`) {} is inside the data folder {}; put it outside, where \
                 sshd's AuthorizedKeysCommandUser may read it without reading the store",
                dir.display(),
                self.server.data_dir.display()
            )));
        }
        Ok(())
    }

    pub fn home(&self) -> PathBuf {
        self.server.home.clone().unwrap_or_else(|| self.server.data_dir.join("home"))
    }

    pub fn db_path(&self) -> PathBuf {
        self.server.data_dir.join("db")
    }
}

/// How a key is written by users: its variable name and its file key.
fn user_name_of(key: &str) -> String {
    if BORGWAREHOUSE_KEYS.contains(&key) || flat::accepted_keys().iter().any(|k| k == key) {
        format!("{} (`{key}` in the config file)", env_name_of(key))
    } else if key.is_empty() {
        "configuration".to_string()
    } else {
        format!("`{key}`")
    }
}

/// The environment variable of a key.
fn env_name_of(key: &str) -> String {
    if BORGWAREHOUSE_KEYS.contains(&key) {
        key.to_uppercase()
    } else {
        format!("BW_{}", key.to_uppercase())
    }
}

/// What was wrong with a value. figment quotes serde's list of variants, which quotes each
/// already (``expected ``file` or `command`` ``): said here once.
fn kind_text(kind: &figment::error::Kind) -> String {
    match kind {
        figment::error::Kind::UnknownVariant(found, expected) => format!(
            "`{found}` is not a value it takes; give one of {}",
            expected.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

/// figment's errors in the user's words: the variable, or the file and line a value came from.
fn describe(err: figment::Error, file_text: Option<&str>) -> ConfigError {
    let out: Vec<String> = err
        .into_iter()
        .map(|e| {
            let key = e.path.last().cloned().unwrap_or_default();
            let source = e.metadata.as_ref().and_then(|m| m.source.as_ref());
            match (source, file_text) {
                (Some(figment::Source::File(path)), Some(text)) => format!(
                    "config file {}{}: `{key}`: {}",
                    path.display(),
                    file::line_of_key(text, &key).map(|l| format!(", line {l}")).unwrap_or_default(),
                    kind_text(&e.kind)
                ),
                // From the environment: name the variable alone.
                _ if e.metadata.as_ref().is_some_and(|m| m.name.contains("environment")) => {
                    format!("{} (from the environment): {}", env_name_of(&key), kind_text(&e.kind))
                }
                _ => format!("{}: {}", user_name_of(&key), kind_text(&e.kind)),
            }
        })
        .collect();
    ConfigError(out.join("; "))
}

fn misspelled_env_warnings() -> Vec<String> {
    let known = flat::bw_keys();
    std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| k.starts_with("BW_"))
        .filter(|k| !BW_OTHER_VARS.contains(&k.as_str()))
        .filter(|k| !known.contains(&k[3..].to_lowercase()))
        .map(|k| match closest(&known, &k[3..].to_lowercase()) {
            Some(g) => format!("unknown variable {k} ignored; did you mean BW_{}?", g.to_uppercase()),
            None => format!("unknown variable {k} ignored"),
        })
        .collect()
}

fn closest<'k>(known: &'k [String], key: &str) -> Option<&'k str> {
    known.iter().map(|k| (edit_distance(key, k), k.as_str())).filter(|(d, _)| *d <= 3).min().map(|(_, k)| k)
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

/// A DNS host name (RFC 1123: dot-separated labels of letters, digits and inner hyphens, at
/// most 63 characters each and 253 in all), an IPv4 address, or an IPv6 address in brackets (as
/// a URL carries one).
fn is_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().is_ok();
    }
    if host.parse::<std::net::Ipv4Addr>().is_ok() {
        return true;
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests;
