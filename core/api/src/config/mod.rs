//! Configuration: defaults, then an optional TOML file, then the environment (`BW_*` names and
//! BorgWarehouse's own names, spelled as BorgWarehouse spells them).
//!
//! Users write one flat list of keys ([`keys`]); the code reads them grouped by the part of the
//! server that owns them, one file per group (`server`, `auth`, `repos`, `checks`, `health`,
//! `ssh`), and plugins own theirs ([`PluginSettings`]). Secrets are [`Secret`]s, so printing a `Config` shows `***`.

mod auth;
mod checks;
mod file;
mod health;
mod keys;
mod plugin_groups;
mod repos;
mod secret;
mod server;
mod ssh;

use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

pub use auth::AuthSettings;
pub use checks::{CheckSettings, Sessions};
pub use health::HealthSettings;
use keys::Grouped;
pub use keys::{accepted_keys, borgwarehouse_keys, duration_text};
#[doc(hidden)]
pub use plugin_groups::{debug_group, group_defaults, load_group};
pub use plugin_groups::{settings_groups, GroupError, PluginGroups, PluginSettings, SettingsGroup};
pub use repos::RepoSettings;
pub use secret::Secret;
pub use server::{LogFormat, ServerSettings};
pub use ssh::{KeyMode, SshSettings};

/// Variables with the `BW_` prefix that are not configuration keys but are read elsewhere.
const BW_OTHER_VARS: &[&str] = &["BW_CONFIG"];

/// The whole configuration, grouped by owner: each group in its own file declares its settings,
/// their defaults and their docs once. Users write the keys flat ([`keys`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerSettings,
    pub auth: AuthSettings,
    pub repos: RepoSettings,
    pub checks: CheckSettings,
    pub health: HealthSettings,
    pub ssh: SshSettings,
    /// The groups plugins own ([`PluginSettings`]); read one with [`Config::group`].
    pub plugins: PluginGroups,
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
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let mut file_text = None;
        if let Some(path) = &file {
            file_text = Some(file::read_checked(path)?);
            figment = figment.merge(Grouped(Toml::file(path)));
        }
        // Text keys are read as exact text; the others as data (numbers, booleans, lists).
        let text = keys::text_keys();
        let (bw_text, bw_data): (Vec<String>, Vec<String>) =
            keys::bw_keys().into_iter().partition(|k| text.contains(k));
        let (bwh_text, bwh_data): (Vec<String>, Vec<String>) =
            borgwarehouse_keys().into_iter().map(str::to_string).partition(|k| text.contains(k));
        let bwh_data_upper: Vec<String> = bwh_data.iter().map(|k| k.to_uppercase()).collect();
        figment = figment
            .merge(Grouped(Env::prefixed("BW_").only(&bw_data.iter().map(String::as_str).collect::<Vec<_>>())))
            .merge(Grouped(keys::TextEnv { prefix: "BW_", keys: bw_text }))
            .merge(Grouped(
                Env::raw()
                    .only(&bwh_data_upper.iter().map(String::as_str).collect::<Vec<_>>())
                    .map(|k| k.as_str().to_lowercase().into()),
            ))
            .merge(Grouped(keys::TextEnv { prefix: "", keys: bwh_text }));
        let mut config: Config = figment.extract().map_err(|e| describe(e, file_text.as_deref()))?;
        for group in plugin_groups::groups_or_none() {
            (group.load)(&figment).map_err(|e| match e {
                GroupError::Value(e) => describe(*e, file_text.as_deref()),
                GroupError::Check(why) => ConfigError(why),
            })?;
        }
        config.repos.storage_targets =
            bw_host::storage_target::parse_list(config.repos.storage_targets_text.as_deref().unwrap_or(""))
                .map_err(|e| ConfigError(format!("STORAGE_TARGETS (`storage_targets`): {e}")))?;
        let levels = &mut config.health.quota_percent;
        levels.sort_unstable();
        levels.dedup();
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
        self.check_database()?;
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
        let health = &self.health;
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

    /// A database is for several servers on one host's files, and several servers cannot share
    /// one `authorized_keys`: each rewrites it whole from its own view. Command key mode, with
    /// the key folder on storage they all reach, is the way (docs/scale-out.md).
    fn check_database(&self) -> Result<(), ConfigError> {
        let Some(url) = &self.server.database_url else { return Ok(()) };
        let url = url.expose();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(ConfigError(
                "BW_DATABASE_URL (`database_url`): expected postgres://USER:PASSWORD@HOST:PORT/DATABASE".into(),
            ));
        }
        if self.ssh.key_mode != KeyMode::Command {
            return Err(ConfigError(
                "BW_DATABASE_URL (`database_url`) needs BW_KEY_MODE=command: servers sharing a database would each \
                 rewrite one authorized_keys file from their own view; in command key mode sshd asks \
                 `borgwarehouse key-lookup`, which reads the key folder (BW_KEY_LOOKUP_DIR) they all write \
                 (docs/scale-out.md)"
                    .into(),
            ));
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

    /// The settings group a plugin owns, as loaded (its defaults when the plugin is not built
    /// in).
    pub fn group<T: PluginSettings>(&self) -> T {
        self.plugins.get()
    }
}

/// How a key is written by users: its variable name and its file key.
fn user_name_of(key: &str) -> String {
    if borgwarehouse_keys().contains(&key) || keys::accepted_keys().iter().any(|k| k == key) {
        format!("{} (`{key}` in the config file)", env_name_of(key))
    } else if key.is_empty() {
        "configuration".to_string()
    } else {
        format!("`{key}`")
    }
}

/// The environment variable of a key: `BW_<KEY>`, or BorgWarehouse's own name.
pub fn env_name_of(key: &str) -> String {
    if borgwarehouse_keys().contains(&key) {
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
    let known = keys::bw_keys();
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
