//! Email through an SMTP server (lettre: STARTTLS/TLS via rustls, or plain to a local relay).

use bw_api::alert::{AlertKind, HealthKind};
use bw_api::config::SshSettings;

use crate::mail_settings::{MailSettings, MailTls};
use crate::settings::ChannelSettings;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::channel::{Alert, AlertChannel, SendFuture};
use bw_api::config::Config;

pub struct Email {
    to: String,
    host: String,
    mail: MailSettings,
    alerts: ChannelSettings,
    ssh: SshSettings,
}

impl Email {
    /// Needs a recipient (`BW_ALERT_EMAIL`) and a server (`MAIL_SMTP_HOST`).
    pub fn from_config(config: &Config) -> Option<Box<dyn AlertChannel>> {
        let (alerts, mail) = (config.group::<ChannelSettings>(), config.group::<MailSettings>());
        Some(Box::new(Email {
            to: alerts.email_to.clone()?,
            host: mail.host.clone()?,
            mail,
            alerts,
            ssh: config.ssh.clone(),
        }))
    }

    async fn deliver(&self, alert: &Alert<'_>) -> Result<(), String> {
        let count = alert.repos.len();
        let plural = if count == 1 { "y" } else { "ies" };
        let subject = match alert.kind {
            AlertKind::Late => format!("BorgWarehouse: {count} late repositor{plural}"),
            AlertKind::Recovered => format!("BorgWarehouse: {count} repositor{plural} backing up again"),
            AlertKind::Health(HealthKind::Quota) => format!("BorgWarehouse: {count} repositor{plural} near the quota"),
            AlertKind::Health(HealthKind::Shrink) => {
                format!("BorgWarehouse: storage used fell sharply in {count} repositor{plural}")
            }
            AlertKind::Health(HealthKind::Growth) => {
                format!("BorgWarehouse: {count} repositor{plural} grew far more than usual")
            }
            AlertKind::Health(HealthKind::VerifyFailed) => {
                format!("BorgWarehouse: the verify of {count} repositor{plural} failed")
            }
            AlertKind::Test => "BorgWarehouse: a test alert".into(),
        };
        let from = self
            .mail
            .from
            .clone()
            .unwrap_or_else(|| format!("borgwarehouse@{}", self.ssh.fqdn.as_deref().unwrap_or("localhost")));
        let message = Message::builder()
            .from(from.parse().map_err(|e| format!("MAIL_SMTP_FROM: {e}"))?)
            .to(self.to.parse().map_err(|e| format!("BW_ALERT_EMAIL: {e}"))?)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(alert.text.clone())
            .map_err(|e| e.to_string())?;
        let port = self.mail.port.unwrap_or(587);
        let mode = self.mail.tls.unwrap_or(if port == 465 { MailTls::Tls } else { MailTls::Starttls });
        let tls = || {
            TlsParameters::builder(self.host.clone())
                .dangerous_accept_invalid_certs(!self.mail.reject_selfsigned_tls)
                .build_rustls()
                .map_err(|e| e.to_string())
        };
        let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.host)
            .port(port)
            .timeout(Some(self.alerts.timeout));
        transport = match mode {
            MailTls::Tls => transport.tls(Tls::Wrapper(tls()?)),
            MailTls::Starttls => transport.tls(Tls::Required(tls()?)),
            MailTls::None => transport.tls(Tls::None),
        };
        if let (Some(user), Some(password)) = (&self.mail.login, &self.mail.password) {
            transport = transport.credentials(Credentials::new(user.clone(), password.expose().to_string()));
        }
        transport.build().send(message).await.map(|_| ()).map_err(|e| e.to_string())
    }
}

impl AlertChannel for Email {
    fn name(&self) -> &'static str {
        "email"
    }

    fn send<'a>(&'a self, alert: &'a Alert<'a>) -> SendFuture<'a> {
        Box::pin(self.deliver(alert))
    }
}
