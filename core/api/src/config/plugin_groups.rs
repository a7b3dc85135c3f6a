//! Settings groups that plugins own. A plugin declares its group once, in its own crate: a
//! struct whose fields are the flat keys users write (with their defaults and docs), which
//! implements [`PluginSettings`] and is registered with
//! [`settings_group!`](crate::settings_group). The configuration then accepts, documents (a test
//! reads `docs/configuration.md`) and checks those keys as it does its own groups, and a build
//! without the plugin neither accepts nor needs them. Inside the code the group is
//! `plugins.NAME`; the plugin reads it with [`super::Config::group`].

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::plugin_list::{sorted, DuplicatePlugin, Registered};

/// A plugin's settings group.
pub trait PluginSettings: Serialize + DeserializeOwned + Default + std::fmt::Debug + 'static {
    /// The group's name: unique, lower case.
    const GROUP: &'static str;

    /// Its keys that are read from the environment by BorgWarehouse's own names (upper case,
    /// no `BW_` prefix), for hosts moving over.
    const BORGWAREHOUSE_NAMES: &'static [&'static str] = &[];

    /// Refuses values that cannot work, naming the setting (`BW_…` and the file key) and the
    /// fix. Runs when the configuration is loaded: a refusal stops the start.
    fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

/// A registered group. Build one with [`settings_group!`](crate::settings_group).
pub struct SettingsGroup {
    pub name: &'static str,
    /// The group's defaults, serialized: its keys are the keys users write.
    pub defaults: fn() -> serde_json::Value,
    /// Reads the group from the loaded configuration as its plugin will (a bad value is
    /// refused by figment, naming its key and where it came from), then checks it.
    pub load: fn(&figment::Figment) -> Result<(), GroupError>,
    /// Shows a loaded group as its type's `Debug` does: secrets as `***`.
    pub debug: fn(&serde_json::Value) -> String,
    /// See [`PluginSettings::BORGWAREHOUSE_NAMES`].
    pub borgwarehouse_names: &'static [&'static str],
}

/// Why a plugin's group was refused.
pub enum GroupError {
    /// A value of the wrong type or form, from figment (it names the key and its source).
    Value(Box<figment::Error>),
    /// [`PluginSettings::check`]'s refusal.
    Check(String),
}

inventory::collect!(SettingsGroup);

/// Registers a plugin's settings group: `settings_group!(VerifySettings);`
#[macro_export]
macro_rules! settings_group {
    ($ty:ty) => {
        $crate::__private::inventory::submit! {
            $crate::config::SettingsGroup {
                name: <$ty as $crate::config::PluginSettings>::GROUP,
                defaults: || $crate::config::group_defaults::<$ty>(),
                load: |figment| $crate::config::load_group::<$ty>(figment),
                debug: |value| $crate::config::debug_group::<$ty>(value),
                borgwarehouse_names: <$ty as $crate::config::PluginSettings>::BORGWAREHOUSE_NAMES,
            }
        }
    };
}

/// The defaults of a group, serialized (used by [`settings_group!`](crate::settings_group)).
#[doc(hidden)]
pub fn group_defaults<T: PluginSettings>() -> serde_json::Value {
    serde_json::to_value(T::default()).unwrap_or_default()
}

/// Reads and checks one group (used by [`settings_group!`](crate::settings_group)).
#[doc(hidden)]
pub fn load_group<T: PluginSettings>(figment: &figment::Figment) -> Result<(), GroupError> {
    let group: T = figment.extract_inner(&format!("plugins.{}", T::GROUP)).map_err(|mut e| {
        // figment appends the inner path after the field's (`[key, "plugins", GROUP]`): put it
        // first, so the error names its key last, as every other setting's does.
        if e.path.len() >= 2 {
            e.path.rotate_right(2);
        }
        GroupError::Value(Box::new(e))
    })?;
    group.check().map_err(GroupError::Check)
}

/// A group's `Debug` (used by [`settings_group!`](crate::settings_group)).
#[doc(hidden)]
pub fn debug_group<T: PluginSettings + std::fmt::Debug>(value: &serde_json::Value) -> String {
    match serde_json::from_value::<T>(value.clone()) {
        Ok(group) => format!("{group:?}"),
        Err(_) => "(unreadable)".into(),
    }
}

static GROUPS: Registered<SettingsGroup> = OnceLock::new();

/// Every plugin settings group built in, by name; an error names a duplicate.
pub fn settings_groups() -> Result<&'static [&'static SettingsGroup], DuplicatePlugin> {
    GROUPS
        .get_or_init(|| sorted(inventory::iter::<SettingsGroup>.into_iter(), |g| g.name, "settings group"))
        .as_deref()
        .map_err(Clone::clone)
}

pub(super) fn groups_or_none() -> &'static [&'static SettingsGroup] {
    settings_groups().unwrap_or(&[])
}

/// The plugins' groups, by name, as loaded (each checked by its plugin's type at load).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PluginGroups(BTreeMap<String, serde_json::Value>);

/// Each group as its own type shows it: its secrets stay `***`, as in the core groups.
impl std::fmt::Debug for PluginGroups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for (name, value) in &self.0 {
            let shown = match groups_or_none().iter().find(|g| g.name == name) {
                Some(group) => (group.debug)(value),
                None => "(no plugin of this build owns it)".into(),
            };
            map.entry(name, &format_args!("{shown}"));
        }
        map.finish()
    }
}

impl Default for PluginGroups {
    /// Every registered group with its defaults.
    fn default() -> Self {
        PluginGroups(groups_or_none().iter().map(|g| (g.name.to_string(), (g.defaults)())).collect())
    }
}

impl PluginGroups {
    /// The group `T`, or its defaults when its plugin is not built in.
    pub fn get<T: PluginSettings>(&self) -> T {
        self.0.get(T::GROUP).and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default()
    }

    /// Replaces the group `T` (tests, and the in-process servers of benches).
    pub fn set<T: PluginSettings>(&mut self, group: &T) {
        if let Ok(v) = serde_json::to_value(group) {
            self.0.insert(T::GROUP.to_string(), v);
        }
    }

    /// Lays `overrides` (keys of the group `T` and their values, as the page's settings keep
    /// them) over the group. Refused, leaving the group as it was, when the result is not a
    /// `T` its plugin accepts: the sentence says why.
    pub fn overlay<T: PluginSettings>(
        &mut self,
        overrides: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), String> {
        let mut value = self.0.get(T::GROUP).cloned().unwrap_or_else(group_defaults::<T>);
        let fields = value.as_object_mut().ok_or_else(|| format!("the group {} is not a table", T::GROUP))?;
        for (key, v) in overrides {
            if !fields.contains_key(key) {
                return Err(format!("the group {} has no setting {key}", T::GROUP));
            }
            fields.insert(key.clone(), v.clone());
        }
        let group: T = serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
        group.check()?;
        self.0.insert(T::GROUP.to_string(), value);
        Ok(())
    }

    /// Changes the group `T` in place (tests): `c.plugins.update(|m: &mut MailSettings| m.port = Some(25))`.
    pub fn update<T: PluginSettings>(&mut self, change: impl FnOnce(&mut T)) {
        let mut group = self.get::<T>();
        change(&mut group);
        self.set(&group);
    }
}
