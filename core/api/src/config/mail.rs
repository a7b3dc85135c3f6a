//! `mail`: the SMTP server alerts are sent through, under BorgWarehouse's names.

use serde::{Deserialize, Serialize};

use super::Secret;

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

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MailTls {
    Starttls,
    Tls,
    None,
}
