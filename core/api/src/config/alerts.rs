//! `alerts`: where alerts go, and the health rules (the mail server is in `mail`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::keys::duration_text;
use super::Secret;

/// Where alerts go (the mail server is in [`super::MailSettings`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertSettings {
    #[serde(rename = "alert_email")]
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
    #[serde(rename = "alert_timeout", with = "duration_text")]
    pub timeout: Duration,
    pub health: HealthSettings,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            email_to: None,
            webhook_url: None,
            webhook_secret: None,
            webhook_backup_completed: false,
            apprise_url: None,
            apprise_services: Vec::new(),
            apprise_mode: AppriseMode::Stateless,
            timeout: Duration::from_secs(30),
            health: HealthSettings::default(),
        }
    }
}

/// The health alerts (contract: "History and health"), sent through the same channels as the
/// late alert, each once per event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthSettings {
    /// Storage used crossing each of these percentages of the quota, rising; empty turns the
    /// quota alert off. Sorted and without repeats once loaded.
    #[serde(rename = "health_quota_percent")]
    pub quota_percent: Vec<u8>,
    /// Storage used falling by more than this percentage between two points, on a repository
    /// that is not append-only; 0 turns the shrink alert off.
    #[serde(rename = "health_shrink_percent")]
    pub shrink_percent: u8,
    /// A backup growing storage used by more than this many times the repository's median
    /// growth; 0 turns the growth alert off.
    #[serde(rename = "health_growth_factor")]
    pub growth_factor: u32,
}

impl Default for HealthSettings {
    fn default() -> Self {
        HealthSettings { quota_percent: vec![80, 95], shrink_percent: 50, growth_factor: 5 }
    }
}

impl HealthSettings {
    /// True when at least one health alert is on.
    pub fn any(&self) -> bool {
        !self.quota_percent.is_empty() || self.shrink_percent > 0 || self.growth_factor > 0
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AppriseMode {
    /// Through an Apprise API server at `apprise_url`.
    Stateless,
    /// By running the `apprise` program.
    Package,
}
