//! `verify`: the scheduled verify's settings, a group this plugin owns (declared here once:
//! the keys users write, their defaults and docs; `bw_api::config` accepts and checks them).

use std::time::Duration;

use bw_api::config::PluginSettings;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VerifySettings {
    /// Each repository is verified (`borg check --repository-only`) once per this; zero turns
    /// the scheduled verify off.
    #[serde(rename = "verify_interval", with = "bw_api::config::duration_text")]
    pub interval: Duration,
    /// How many verifies run at a time (scheduled and asked for).
    #[serde(rename = "verify_concurrency")]
    pub concurrency: u32,
}

impl Default for VerifySettings {
    fn default() -> Self {
        VerifySettings { interval: Duration::ZERO, concurrency: 2 }
    }
}

impl PluginSettings for VerifySettings {
    const GROUP: &'static str = "verify";

    fn check(&self) -> Result<(), String> {
        if self.concurrency == 0 {
            return Err("BW_VERIFY_CONCURRENCY (`verify_concurrency`): 0 verifies at a time would never verify; give \
                        1 or more, or BW_VERIFY_INTERVAL=0 to turn the scheduled verify off"
                .into());
        }
        Ok(())
    }
}

bw_api::settings_group!(VerifySettings);

#[cfg(test)]
mod tests {
    use super::*;
    use bw_api::config::Config;
    use figment::Jail;

    /// The group is read, defaulted and checked by the configuration like its own groups,
    /// from the variables and the file, with errors that name the key.
    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closures return figment's error.
    fn the_plugins_group_is_loaded_and_checked_with_the_configuration() {
        Jail::expect_with(|jail| {
            let load = || Config::load(None).map(|(c, _)| c);
            let c = load().unwrap();
            assert_eq!(c.group::<VerifySettings>(), VerifySettings::default(), "off by default");
            assert!(bw_api::config::accepted_keys().iter().any(|k| k == "verify_concurrency"));
            jail.set_env("BW_VERIFY_INTERVAL", "7d");
            assert_eq!(load().unwrap().group::<VerifySettings>().interval, Duration::from_secs(7 * 86_400));
            jail.set_env("BW_VERIFY_CONCURRENCY", "0");
            assert!(load().unwrap_err().0.contains("BW_VERIFY_CONCURRENCY"), "{}", load().unwrap_err());
            jail.set_env("BW_VERIFY_CONCURRENCY", "many");
            let err = load().unwrap_err().0;
            assert!(err.contains("BW_VERIFY_CONCURRENCY (from the environment)"), "{err}");
            jail.set_env("BW_VERIFY_CONCURRENCY", "3");
            jail.create_file("c.toml", "verify_concurrency = 4\nverify_intervl = \"1d\"\n")?;
            let err = Config::load(Some(std::path::Path::new("c.toml"))).unwrap_err().0;
            assert!(err.contains("did you mean `verify_interval`?"), "{err}");
            jail.create_file("c.toml", "verify_concurrency = 4\n")?;
            let (c, _) = Config::load(Some(std::path::Path::new("c.toml"))).unwrap();
            assert_eq!(c.group::<VerifySettings>().concurrency, 3, "the variable over the file");
            Ok(())
        });
    }
}
