//! A JSON POST to a URL, signed with HMAC-SHA256 when a secret is set.

use std::time::Duration;

use bw_api::config::{Config, Secret};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::channel::{blocking, Alert, AlertChannel, SendFuture};
use bw_api::alert::AlertKind;

/// The header carrying `sha256=HEX` of the HMAC-SHA256 of the webhook body.
pub const SIGNATURE_HEADER: &str = "X-BorgWarehouse-Signature";
/// BorgWarehouse 3.x's header: the secret itself, for receivers written for BorgWarehouse. It
/// sends the secret, so the guide recommends https and checking the signature instead.
pub const SECRET_HEADER: &str = "X-BorgWarehouse-Secret";

pub struct Webhook {
    url: String,
    secret: Option<Secret>,
    timeout: Duration,
}

impl Webhook {
    /// Needs `BW_WEBHOOK_URL`.
    fn new(config: &Config) -> Option<Webhook> {
        let channels = config.group::<crate::settings::ChannelSettings>();
        Some(Webhook { url: channels.webhook_url?, secret: channels.webhook_secret, timeout: channels.timeout })
    }

    pub fn from_config(config: &Config) -> Option<Box<dyn AlertChannel>> {
        Some(Box::new(Webhook::new(config)?))
    }
}

/// `sha256=HEX` of the HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl Webhook {
    /// POSTs `body`, signed as the alerts are.
    fn post(&self, body: String) -> impl FnOnce() -> Result<(), String> + Send + 'static {
        let secret = self.secret.as_ref().map(|s| s.expose().to_string());
        let signature = secret.as_deref().map(|s| signature(s, body.as_bytes()));
        let (url, timeout) = (self.url.clone(), self.timeout);
        move || {
            let mut req = ureq::post(&url).timeout(timeout).set("Content-Type", "application/json");
            if let (Some(sig), Some(secret)) = (&signature, &secret) {
                req = req.set(SIGNATURE_HEADER, sig).set(SECRET_HEADER, secret);
            }
            req.send_string(&body).map(|_| ()).map_err(|e| e.to_string())
        }
    }
}

/// Posts each of `events` to the webhook in turn, when `BW_WEBHOOK_BACKUP_COMPLETED` asks for
/// it; each outcome is a delivery of the `webhook` channel. This plugin's
/// [`bw_api::alerting::AlertPlugin::post_events`].
pub fn post_events(state: bw_api::AppState, events: Vec<serde_json::Value>) -> bw_api::alerting::PostFuture {
    Box::pin(async move { post_each(&crate::page_settings::effective(&state), events).await })
}

async fn post_each(config: &Config, events: Vec<serde_json::Value>) -> Vec<(&'static str, bool)> {
    let Some(hook) = config
        .group::<crate::settings::ChannelSettings>()
        .webhook_backup_completed
        .then(|| Webhook::new(config))
        .flatten()
    else {
        return Vec::new();
    };
    let mut delivered = Vec::with_capacity(events.len());
    for event in events {
        let outcome = blocking(hook.post(event.to_string())).await;
        if let Err(e) = &outcome {
            tracing::error!(channel = "webhook", error = %e, "backup.completed event not sent");
        }
        delivered.push(("webhook", outcome.is_ok()));
    }
    delivered
}

impl AlertChannel for Webhook {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn send<'a>(&'a self, alert: &'a Alert<'a>) -> SendFuture<'a> {
        let aliases: Vec<&str> = alert.repos.iter().map(|r| r.alias.as_str()).collect();
        let body = match alert.kind.health_event() {
            // BorgWarehouse's own shape, which receivers already read.
            None => {
                let status = match alert.kind {
                    AlertKind::Late => "down",
                    AlertKind::Test => "test",
                    _ => "up",
                };
                serde_json::json!({"status": status, "repos": aliases, "timestamp": alert.now})
            }
            Some(event) => {
                let details: Vec<serde_json::Value> = alert
                    .repos
                    .iter()
                    .map(|r| serde_json::json!({"repository": r.repository_name, "alias": r.alias, "message": r.note}))
                    .collect();
                serde_json::json!({"status": "warning", "event": event, "repos": aliases, "details": details, "timestamp": alert.now})
            }
        }
        .to_string();
        Box::pin(blocking(self.post(body)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
