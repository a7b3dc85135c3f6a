//! The alert settings an admin may change in the page (#33; BorgWarehouse 3.6 has email,
//! Apprise and webhook switches in its page): each field of `GET/PATCH /api/v1/alerts/settings`
//! is one key of this plugin's groups, `channels` or `mail`. What the page set overrides the
//! environment and the file ([`bw_store::page_settings`]); `null` gives a key back to them.
//! Every use of the channels reads [`effective`], so a change applies to the next alert
//! without a restart.

use bw_api::config::Config;
use bw_api::AppState;
use bw_store::page_settings::Overrides;
use serde_json::Value;

use crate::mail_settings::MailSettings;
use crate::settings::ChannelSettings;

/// What a field holds, and so how its value is checked.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An address to mail alerts to; "" turns email off.
    Email,
    /// An http(s) address; "" turns it off.
    Url,
    /// A host name, a sender, a login; "" is none.
    Text,
    /// Written, never answered back; "" is none.
    Secret,
    Bool,
    Port,
    /// `starttls`, `tls` or `none`; "" is the default for the port.
    MailTls,
    /// `stateless` or `package`.
    AppriseMode,
    /// Apprise service addresses.
    Services,
}

/// One field of the page's alert settings.
pub struct Field {
    /// Its key in the routes' bodies.
    pub api: &'static str,
    /// The settings group and key it overrides.
    pub group: &'static str,
    pub key: &'static str,
    pub kind: Kind,
}

const fn field(api: &'static str, group: &'static str, key: &'static str, kind: Kind) -> Field {
    Field { api, group, key, kind }
}

const CHANNELS: &str = "channels";
const MAIL: &str = "mail";

/// Every field, in the order the page shows them.
pub const FIELDS: &[Field] = &[
    field("emailTo", CHANNELS, "alert_email", Kind::Email),
    field("smtpHost", MAIL, "mail_smtp_host", Kind::Text),
    field("smtpPort", MAIL, "mail_smtp_port", Kind::Port),
    field("smtpFrom", MAIL, "mail_smtp_from", Kind::Text),
    field("smtpLogin", MAIL, "mail_smtp_login", Kind::Text),
    field("smtpPassword", MAIL, "mail_smtp_pwd", Kind::Secret),
    field("smtpTls", MAIL, "mail_tls", Kind::MailTls),
    field("smtpRejectSelfSignedTls", MAIL, "mail_reject_selfsigned_tls", Kind::Bool),
    field("webhookUrl", CHANNELS, "webhook_url", Kind::Url),
    field("webhookSecret", CHANNELS, "webhook_secret", Kind::Secret),
    field("webhookBackupCompleted", CHANNELS, "webhook_backup_completed", Kind::Bool),
    field("appriseMode", CHANNELS, "apprise_mode", Kind::AppriseMode),
    field("appriseUrl", CHANNELS, "apprise_url", Kind::Url),
    field("appriseServices", CHANNELS, "apprise_services", Kind::Services),
];

/// What the page set, for both groups.
pub struct PageOverrides {
    pub channels: Overrides,
    pub mail: Overrides,
}

impl PageOverrides {
    pub fn read(state: &AppState) -> Result<PageOverrides, bw_store::store_error::StoreError> {
        Ok(PageOverrides { channels: state.page_settings.get(CHANNELS)?, mail: state.page_settings.get(MAIL)? })
    }

    pub fn of(&self, group: &str) -> &Overrides {
        if group == MAIL {
            &self.mail
        } else {
            &self.channels
        }
    }

    pub fn of_mut(&mut self, group: &str) -> &mut Overrides {
        if group == MAIL {
            &mut self.mail
        } else {
            &mut self.channels
        }
    }

    /// Whether the page set this field.
    pub fn sets(&self, f: &Field) -> bool {
        self.of(f.group).contains_key(f.key)
    }

    /// `config` with these over it, or why they cannot be.
    pub fn over(&self, config: &Config) -> Result<Config, String> {
        let mut config = config.clone();
        config.plugins.overlay::<ChannelSettings>(&self.channels)?;
        config.plugins.overlay::<MailSettings>(&self.mail)?;
        Ok(config)
    }
}

/// The configuration the channels use: the server's, with what the page set over it. Page
/// settings that cannot be read or no longer fit (written by another version) are left out,
/// said in the log: alerts then go where the configuration says.
pub fn effective(state: &AppState) -> Config {
    let laid = PageOverrides::read(state).map_err(|e| e.to_string()).and_then(|o| o.over(&state.config));
    match laid {
        Ok(config) => config,
        Err(why) => {
            tracing::error!(error = %why, "the alert settings changed in the page are not used");
            state.config.clone()
        }
    }
}

/// The value a field's key takes in its group for `given` (checked), or why it is refused.
pub fn value_of(f: &Field, given: &Value) -> Result<Value, String> {
    let text = |max: usize| -> Result<Option<String>, String> {
        let s = given.as_str().ok_or_else(|| format!("{} must be a string", f.api))?;
        if s.chars().count() > max || s.chars().any(char::is_control) {
            return Err(format!("{} must be at most {max} characters, without control characters", f.api));
        }
        Ok((!s.is_empty()).then(|| s.to_string()))
    };
    let or_null = |v: Option<String>| v.map_or(Value::Null, Value::String);
    match f.kind {
        Kind::Email => {
            let v = text(254)?;
            if let Some(a) = &v {
                let ok = a.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.contains('@'))
                    && !a.contains(char::is_whitespace);
                if !ok {
                    return Err(format!("{} must be an email address, or \"\" for none", f.api));
                }
            }
            Ok(or_null(v))
        }
        Kind::Url => {
            let v = text(2048)?;
            if let Some(u) = &v {
                let rest = u.strip_prefix("https://").or_else(|| u.strip_prefix("http://"));
                if !rest.is_some_and(|r| !r.is_empty() && !r.contains(char::is_whitespace)) {
                    return Err(format!("{} must be an http:// or https:// address, or \"\" for none", f.api));
                }
            }
            Ok(or_null(v))
        }
        Kind::Text => {
            let v = text(255)?;
            if f.key == "mail_smtp_host" && v.as_deref().is_some_and(|h| h.contains(char::is_whitespace)) {
                return Err(format!("{} must be a host name", f.api));
            }
            Ok(or_null(v))
        }
        Kind::Secret => Ok(or_null(text(1024)?)),
        Kind::Bool => given.as_bool().map(Value::Bool).ok_or_else(|| format!("{} must be true or false", f.api)),
        Kind::Port => match given.as_u64() {
            Some(p @ 1..=65535) => Ok(Value::from(p)),
            _ => Err(format!("{} must be a port from 1 to 65535", f.api)),
        },
        Kind::MailTls => match given.as_str() {
            Some("") => Ok(Value::Null),
            Some(m @ ("starttls" | "tls" | "none")) => Ok(Value::from(m)),
            _ => Err(format!("{} must be \"starttls\", \"tls\", \"none\", or \"\" for the port's default", f.api)),
        },
        Kind::AppriseMode => match given.as_str() {
            Some(m @ ("stateless" | "package")) => Ok(Value::from(m)),
            _ => Err(format!("{} must be \"stateless\" or \"package\"", f.api)),
        },
        Kind::Services => {
            let list = given.as_array().ok_or_else(|| format!("{} must be a list of addresses", f.api))?;
            if list.len() > 50 {
                return Err(format!("{} may hold at most 50 addresses", f.api));
            }
            let mut out = Vec::with_capacity(list.len());
            for s in list {
                match s.as_str() {
                    Some(s) if !s.is_empty() && s.len() <= 2048 && !s.chars().any(char::is_control) => {
                        out.push(Value::from(s))
                    }
                    _ => return Err(format!("{} must hold addresses of 1 to 2048 characters", f.api)),
                }
            }
            Ok(Value::Array(out))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(api: &str) -> &'static Field {
        FIELDS.iter().find(|f| f.api == api).unwrap()
    }

    #[test]
    fn each_field_names_a_key_of_its_group() {
        let channels = serde_json::to_value(ChannelSettings::default()).unwrap();
        let mail = serde_json::to_value(MailSettings::default()).unwrap();
        for f in FIELDS {
            let group = if f.group == MAIL { &mail } else { &channels };
            assert!(group.get(f.key).is_some(), "{} names {}.{}", f.api, f.group, f.key);
        }
    }

    #[test]
    fn values_are_checked_and_empty_text_is_none() {
        assert_eq!(value_of(named("emailTo"), &Value::from("")).unwrap(), Value::Null);
        assert!(value_of(named("emailTo"), &Value::from("not an address")).is_err());
        assert!(value_of(named("webhookUrl"), &Value::from("ftp://x")).is_err());
        assert!(value_of(named("webhookUrl"), &Value::from("https://hooks.example.org/\u{7}")).is_err());
        assert_eq!(value_of(named("smtpPort"), &Value::from(587)).unwrap(), Value::from(587));
        assert!(value_of(named("smtpPort"), &Value::from(0)).is_err());
        assert!(value_of(named("smtpPort"), &Value::from(70000)).is_err());
        assert!(value_of(named("appriseMode"), &Value::from("")).is_err());
        assert!(value_of(named("appriseServices"), &serde_json::json!(["mailto://a@example.org", ""])).is_err());
    }

    #[test]
    fn the_page_overrides_the_configuration_and_null_is_none() {
        let mut config = Config::default();
        config.plugins.update(|c: &mut ChannelSettings| c.webhook_url = Some("https://env.example.org/hook".into()));
        let mut page = PageOverrides { channels: Overrides::new(), mail: Overrides::new() };
        page.channels.insert("alert_email".into(), Value::from("ops@example.org"));
        page.channels.insert("webhook_url".into(), Value::Null);
        page.mail.insert("mail_smtp_port".into(), Value::from(2525));
        let over = page.over(&config).unwrap();
        let channels = over.group::<ChannelSettings>();
        assert_eq!((channels.email_to.as_deref(), channels.webhook_url), (Some("ops@example.org"), None));
        assert_eq!(over.group::<MailSettings>().port, Some(2525));
        page.mail.insert("mail_smtp_port".into(), Value::from("smtp"));
        assert!(page.over(&config).is_err(), "a value its group refuses");
    }
}
