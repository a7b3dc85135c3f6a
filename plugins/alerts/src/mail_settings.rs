//! `mail`: the SMTP server alerts are sent through, under BorgWarehouse's names: a group the
//! alerts plugin owns.

use serde::{Deserialize, Serialize};

use bw_api::config::{PluginSettings, Secret};

/// The SMTP server alerts are sent through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailSettings {
    #[serde(rename = "mail_smtp_from")]
    pub from: Option<String>,
    #[serde(rename = "mail_smtp_host")]
    pub host: Option<String>,
    #[serde(rename = "mail_smtp_port")]
    pub port: Option<u16>,
    #[serde(rename = "mail_smtp_login")]
    pub login: Option<String>,
    #[serde(rename = "mail_smtp_pwd")]
    pub password: Option<Secret>,
    #[serde(rename = "mail_reject_selfsigned_tls")]
    pub reject_selfsigned_tls: bool,
    /// `starttls` (required), `tls` (implicit, port 465), or `none` (a local relay);
    /// default: `tls` on port 465, `starttls` elsewhere.
    #[serde(rename = "mail_tls")]
    pub tls: Option<MailTls>,
}

impl Default for MailSettings {
    fn default() -> Self {
        MailSettings {
            from: None,
            host: None,
            port: None,
            login: None,
            password: None,
            reject_selfsigned_tls: true,
            tls: None,
        }
    }
}

impl PluginSettings for MailSettings {
    const GROUP: &'static str = "mail";
    const BORGWAREHOUSE_NAMES: &'static [&'static str] = &[
        "mail_smtp_from",
        "mail_smtp_host",
        "mail_smtp_port",
        "mail_smtp_login",
        "mail_smtp_pwd",
        "mail_reject_selfsigned_tls",
    ];
}

bw_api::settings_group!(MailSettings);

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MailTls {
    Starttls,
    Tls,
    None,
}
