//! The keys users write, derived from the settings groups (each group's file declares its
//! settings, their defaults and their docs once): lower-case names in the TOML file, `BW_<KEY>`
//! in the environment, and BorgWarehouse's own variable names. Users write one flat list, as
//! existing deployments and `docs/configuration.md` do; [`Grouped`] puts each key into its
//! group before the groups are read.

use std::collections::HashMap;
use std::sync::OnceLock;

use figment::value::{Dict, Map, Value};
use figment::{Metadata, Profile, Provider};

use super::Config;

/// Keys of the core groups read from the environment without the `BW_` prefix, spelled as
/// BorgWarehouse spells them (upper case); plugins name theirs in their group
/// (`PluginSettings::BORGWAREHOUSE_NAMES`). Every other key is read as `BW_<KEY>`.
const CORE_BORGWAREHOUSE_KEYS: &[&str] = &[
    "cronjob_key",
    "disable_delete_repo",
    "disable_compact_repo",
    "disable_integrations",
    "fqdn",
    "ssh_server_port",
    "unix_user",
    "fqdn_lan",
    "ssh_server_port_lan",
    "hide_ssh_port",
    "storage_targets",
];

/// Every key, in declaration order, with the path of groups it belongs to (`["alerts",
/// "health"]` for `health_quota_percent`): the defaults serialized (a `None` serializes as
/// null, so unset options are listed too).
fn declared() -> &'static [(String, Vec<String>)] {
    static KEYS: OnceLock<Vec<(String, Vec<String>)>> = OnceLock::new();
    KEYS.get_or_init(|| {
        fn walk(value: &serde_json::Value, path: &mut Vec<String>, out: &mut Vec<(String, Vec<String>)>) {
            let serde_json::Value::Object(map) = value else { return };
            for (key, v) in map {
                if v.is_object() {
                    path.push(key.clone());
                    walk(v, path, out);
                    path.pop();
                } else {
                    out.push((key.clone(), path.clone()));
                }
            }
        }
        let mut out = Vec::new();
        walk(&serde_json::to_value(Config::default()).unwrap_or_default(), &mut Vec::new(), &mut out);
        out
    })
}

/// Every key the configuration accepts: its groups' and those of the plugins built in.
pub fn accepted_keys() -> Vec<String> {
    declared().iter().map(|(k, _)| k.clone()).collect()
}

/// Keys read by BorgWarehouse's own names: the core groups' and those of the plugins built in.
pub fn borgwarehouse_keys() -> Vec<&'static str> {
    let plugins = super::plugin_groups::groups_or_none().iter().flat_map(|g| g.borgwarehouse_names.iter().copied());
    CORE_BORGWAREHOUSE_KEYS.iter().copied().chain(plugins).collect()
}

/// Keys read as `BW_<KEY>`: every key but BorgWarehouse's own names.
pub(super) fn bw_keys() -> Vec<String> {
    let theirs = borgwarehouse_keys();
    accepted_keys().into_iter().filter(|k| !theirs.contains(&k.as_str())).collect()
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
            let figment =
                Figment::from(Serialized::defaults(Config::default())).merge(Grouped(Serialized::default(key, "x")));
            figment.extract::<Config>().is_ok()
                && super::plugin_groups::groups_or_none().iter().all(|g| (g.load)(&figment).is_ok())
        })
        .collect()
}

/// A provider of flat keys (a TOML file, the environment) whose keys are put into their
/// groups, as [`Config`] reads them. A key of no group stays where it is, and is refused by name.
pub(super) struct Grouped<P>(pub P);

impl<P: Provider> Provider for Grouped<P> {
    fn metadata(&self) -> Metadata {
        self.0.metadata()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let groups: HashMap<&str, &[String]> = declared().iter().map(|(k, p)| (k.as_str(), &p[..])).collect();
        let mut out = Map::new();
        for (profile, dict) in self.0.data()? {
            let mut grouped = Dict::new();
            for (key, value) in dict {
                let path = groups.get(key.as_str()).copied().unwrap_or(&[]);
                insert_at(&mut grouped, path, key, value);
            }
            out.insert(profile, grouped);
        }
        Ok(out)
    }

    fn profile(&self) -> Option<Profile> {
        self.0.profile()
    }
}

/// Puts `key` into the table at `path` of `dict`, making the tables on the way.
fn insert_at(dict: &mut Dict, path: &[String], key: String, value: Value) {
    match path.split_first() {
        None => {
            dict.insert(key, value);
        }
        Some((group, rest)) => {
            // A group is a table; no key shares a group's name, so the match always holds.
            if let Value::Dict(_, table) = dict.entry(group.clone()).or_insert_with(|| Value::from(Dict::new())) {
                insert_at(table, rest, key, value);
            }
        }
    }
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
pub mod duration_text {
    use std::time::Duration;

    use serde::{Deserializer, Serializer};

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
