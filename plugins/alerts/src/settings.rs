//! The alerts plugin's settings, two groups it owns (declared here once: the keys users write,
//! their defaults and docs): `channels`, where alerts go, and `mail`, the SMTP server, under
//! BorgWarehouse's names ([`crate::mail_settings::MailSettings`]).

use std::time::Duration;

use bw_api::config::{duration_text, PluginSettings, Secret};
use serde::{Deserialize, Serialize};

/// Where alerts go: the channels (the mail server is [`crate::mail_settings::MailSettings`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelSettings {
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
}

impl Default for ChannelSettings {
    fn default() -> Self {
        ChannelSettings {
            email_to: None,
            webhook_url: None,
            webhook_secret: None,
            webhook_backup_completed: false,
            apprise_url: None,
            apprise_services: Vec::new(),
            apprise_mode: AppriseMode::Stateless,
            timeout: Duration::from_secs(30),
        }
    }
}

impl PluginSettings for ChannelSettings {
    const GROUP: &'static str = "channels";
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AppriseMode {
    /// Through an Apprise API server at `apprise_url`.
    Stateless,
    /// By running the `apprise` program.
    Package,
}

bw_api::settings_group!(ChannelSettings);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail_settings::MailSettings;
    use bw_api::config::Config;
    use figment::Jail;

    /// The plugin's groups load like the core's: BorgWarehouse's names, numbers read as
    /// numbers, a password of digits kept as text, and no secret in a printed configuration.
    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closures return figment's error.
    fn the_alert_settings_load_by_their_names_and_never_print_a_secret() {
        Jail::expect_with(|jail| {
            jail.set_env("MAIL_SMTP_HOST", "smtp.example.org");
            jail.set_env("MAIL_SMTP_PORT", "587");
            jail.set_env("MAIL_REJECT_SELFSIGNED_TLS", "false");
            jail.set_env("MAIL_SMTP_PWD", "0123456789");
            jail.set_env("BW_WEBHOOK_SECRET", "webhook-secret-value");
            jail.set_env("BW_ALERT_EMAIL", "ops@example.org");
            let (c, warnings) = Config::load(None).unwrap();
            assert!(warnings.iter().all(|w| !w.contains("BW_ALERT_EMAIL")), "{warnings:?}");
            let mail = c.group::<MailSettings>();
            assert_eq!((mail.host.as_deref(), mail.port), (Some("smtp.example.org"), Some(587)));
            assert!(!mail.reject_selfsigned_tls);
            assert_eq!(mail.password.as_ref().map(Secret::expose), Some("0123456789"), "digits stay text");
            assert_eq!(c.group::<ChannelSettings>().email_to.as_deref(), Some("ops@example.org"));
            let shown = format!("{c:?}");
            for secret in ["0123456789", "webhook-secret-value"] {
                assert!(!shown.contains(secret), "{secret} printed in {shown}");
            }
            assert!(shown.contains("smtp.example.org"), "the groups are shown: {shown}");
            jail.set_env("MAIL_SMTP_PORT", "smtp");
            let err = Config::load(None).unwrap_err().0;
            assert!(err.starts_with("MAIL_SMTP_PORT (from the environment)"), "{err}");
            Ok(())
        });
    }
}
