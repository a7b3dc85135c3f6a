//! `audit`: how long the audit log keeps its entries, a group this plugin owns.

use bw_api::config::PluginSettings;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditSettings {
    /// Days an audit entry is kept; older ones are forgotten once a day.
    #[serde(rename = "audit_days")]
    pub days: u32,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings { days: 400 }
    }
}

impl PluginSettings for AuditSettings {
    const GROUP: &'static str = "audit";

    fn check(&self) -> Result<(), String> {
        if self.days == 0 {
            return Err(
                "BW_AUDIT_DAYS (`audit_days`): 0 days would forget every entry as it is written; give 1 or more".into(),
            );
        }
        Ok(())
    }
}

bw_api::settings_group!(AuditSettings);

#[cfg(test)]
mod tests {
    use super::*;
    use bw_api::config::Config;
    use figment::Jail;

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closures return figment's error.
    fn the_retention_is_read_defaulted_and_checked() {
        Jail::expect_with(|jail| {
            let load = || Config::load(None).map(|(c, _)| c);
            assert_eq!(load().unwrap().group::<AuditSettings>().days, 400);
            jail.set_env("BW_AUDIT_DAYS", "30");
            assert_eq!(load().unwrap().group::<AuditSettings>().days, 30);
            jail.set_env("BW_AUDIT_DAYS", "0");
            assert!(load().unwrap_err().0.contains("BW_AUDIT_DAYS"));
            Ok(())
        });
    }
}
