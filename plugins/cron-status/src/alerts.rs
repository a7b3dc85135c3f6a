//! Lateness alerts: email, webhook and Apprise. Each channel is optional; a failing channel is
//! logged and does not stop the others; every send has a timeout. Aliases are data in every
//! message (a mail body, a JSON string, one program argument), never code.

use bw_core::config::{AppriseMode, Config, MailTls};
use hmac::{Hmac, Mac};
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sha2::Sha256;

/// The header carrying `sha256=HEX` of the HMAC-SHA256 of the webhook body.
pub const SIGNATURE_HEADER: &str = "X-BorgWarehouse-Signature";

#[derive(Debug, Clone)]
pub struct LateRepo {
    pub alias: String,
    pub repository_name: String,
    pub last_save: i64,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    pub email: Option<bool>,
    pub webhook: Option<bool>,
    pub apprise: Option<bool>,
}

fn text(late: &[LateRepo]) -> String {
    let mut body = format!(
        "{} repositor{} had no backup within its alert delay:\n\n",
        late.len(),
        if late.len() == 1 { "y has" } else { "ies have" }
    );
    for r in late {
        let when =
            if r.last_save == 0 { "never".to_string() } else { format!("last backup at unix time {}", r.last_save) };
        body.push_str(&format!("- {} ({}): {}\n", r.alias, r.repository_name, when));
    }
    body
}

/// Sends one alert for `late` through every configured channel.
pub async fn send(config: &Config, late: &[LateRepo], now: i64) -> Delivery {
    let body = text(late);
    let (email, webhook, apprise) = tokio::join!(
        with_timeout(config, "email", email(config, &body, late.len())),
        with_timeout(config, "webhook", webhook(config, late, now)),
        with_timeout(config, "apprise", apprise(config, &body)),
    );
    Delivery { email, webhook, apprise }
}

async fn with_timeout(
    config: &Config,
    channel: &str,
    send: impl std::future::Future<Output = Option<Result<(), String>>>,
) -> Option<bool> {
    let outcome = match tokio::time::timeout(config.alert_timeout, send).await {
        Err(_) => Some(Err(format!("timed out after {:?}", config.alert_timeout))),
        Ok(o) => o,
    }?;
    match outcome {
        Ok(()) => {
            tracing::info!(channel, "alert sent");
            Some(true)
        }
        Err(e) => {
            tracing::error!(channel, error = %e, "alert not sent");
            Some(false)
        }
    }
}

async fn email(config: &Config, body: &str, count: usize) -> Option<Result<(), String>> {
    let to = config.alert_email.as_ref()?;
    let host = config.mail_smtp_host.as_ref()?;
    Some(send_email(config, host, to, body, count).await)
}

async fn send_email(config: &Config, host: &str, to: &str, body: &str, count: usize) -> Result<(), String> {
    let from = config
        .mail_smtp_from
        .clone()
        .unwrap_or_else(|| format!("borgwarehouse@{}", config.fqdn.as_deref().unwrap_or("localhost")));
    let message = Message::builder()
        .from(from.parse().map_err(|e| format!("MAIL_SMTP_FROM: {e}"))?)
        .to(to.parse().map_err(|e| format!("BW_ALERT_EMAIL: {e}"))?)
        .subject(format!("BorgWarehouse: {count} late repositor{}", if count == 1 { "y" } else { "ies" }))
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_string())
        .map_err(|e| e.to_string())?;
    let port = config.mail_smtp_port.unwrap_or(587);
    let mode = config.mail_tls.unwrap_or(if port == 465 { MailTls::Tls } else { MailTls::Starttls });
    let tls = || {
        TlsParameters::builder(host.to_string())
            .dangerous_accept_invalid_certs(!config.mail_reject_selfsigned_tls)
            .build_rustls()
            .map_err(|e| e.to_string())
    };
    let mut transport =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host).port(port).timeout(Some(config.alert_timeout));
    transport = match mode {
        MailTls::Tls => transport.tls(Tls::Wrapper(tls()?)),
        MailTls::Starttls => transport.tls(Tls::Required(tls()?)),
        MailTls::None => transport.tls(Tls::None),
    };
    if let (Some(user), Some(password)) = (&config.mail_smtp_login, &config.mail_smtp_pwd) {
        transport = transport.credentials(Credentials::new(user.clone(), password.clone()));
    }
    transport.build().send(message).await.map(|_| ()).map_err(|e| e.to_string())
}

/// `sha256=HEX` of the HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn webhook(config: &Config, late: &[LateRepo], now: i64) -> Option<Result<(), String>> {
    let url = config.webhook_url.clone()?;
    let aliases: Vec<&str> = late.iter().map(|r| r.alias.as_str()).collect();
    let body = serde_json::json!({"status": "down", "repos": aliases, "timestamp": now}).to_string();
    let signature = config.webhook_secret.as_deref().map(|s| signature(s, body.as_bytes()));
    let timeout = config.alert_timeout;
    Some(
        blocking(move || {
            let mut req = ureq::post(&url).timeout(timeout).set("Content-Type", "application/json");
            if let Some(sig) = &signature {
                req = req.set(SIGNATURE_HEADER, sig);
            }
            req.send_string(&body).map(|_| ()).map_err(|e| e.to_string())
        })
        .await,
    )
}

async fn apprise(config: &Config, body: &str) -> Option<Result<(), String>> {
    if config.apprise_services.is_empty() {
        return None;
    }
    match config.apprise_mode {
        AppriseMode::Stateless => {
            let Some(base) = config.apprise_url.clone() else {
                return Some(Err("BW_APPRISE_URL is needed in stateless mode".into()));
            };
            let payload =
                serde_json::json!({"urls": config.apprise_services.join(","), "body": body, "title": "BorgWarehouse"})
                    .to_string();
            let timeout = config.alert_timeout;
            Some(
                blocking(move || {
                    ureq::post(&format!("{}/notify", base.trim_end_matches('/')))
                        .timeout(timeout)
                        .set("Content-Type", "application/json")
                        .send_string(&payload)
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                })
                .await,
            )
        }
        AppriseMode::Package => {
            // Arguments, never a shell: the body is one argument whatever it holds.
            let mut cmd = tokio::process::Command::new("apprise");
            cmd.arg("--title=BorgWarehouse")
                .arg(format!("--body={body}"))
                .arg("--")
                .args(&config.apprise_services)
                .kill_on_drop(true);
            Some(match cmd.output().await {
                Ok(out) if out.status.success() => Ok(()),
                Ok(out) => {
                    Err(format!("apprise exited with {}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()))
                }
                Err(e) => Err(format!("cannot run apprise: {e}")),
            })
        }
    }
}

async fn blocking(f: impl FnOnce() -> Result<(), String> + Send + 'static) -> Result<(), String> {
    tokio::task::spawn_blocking(f).await.map_err(|e| e.to_string())?
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

    #[test]
    fn alias_is_data_in_the_text() {
        let late = [LateRepo { alias: "$(rm -rf /)\"; x".into(), repository_name: "aaaaaaaa".into(), last_save: 0 }];
        assert!(text(&late).contains("- $(rm -rf /)\"; x (aaaaaaaa): never"));
    }
}
