//! Apprise: through an Apprise API server (stateless) or by running the `apprise` program.

use std::time::Duration;

use bw_api::config::Config;

use crate::settings::AppriseMode;

use super::channel::{blocking, Alert, AlertChannel, SendFuture};

pub struct Apprise {
    services: Vec<String>,
    mode: AppriseMode,
    url: Option<String>,
    timeout: Duration,
}

impl Apprise {
    /// Needs at least one service URL (`BW_APPRISE_SERVICES`).
    pub fn from_config(config: &Config) -> Option<Box<dyn AlertChannel>> {
        let channels = config.group::<crate::settings::ChannelSettings>();
        if channels.apprise_services.is_empty() {
            return None;
        }
        Some(Box::new(Apprise {
            services: channels.apprise_services,
            mode: channels.apprise_mode,
            url: channels.apprise_url,
            timeout: channels.timeout,
        }))
    }

    async fn stateless(&self, body: &str) -> Result<(), String> {
        let Some(base) = self.url.clone() else {
            return Err("BW_APPRISE_URL is needed in stateless mode".into());
        };
        let payload =
            serde_json::json!({"urls": self.services.join(","), "body": body, "title": "BorgWarehouse"}).to_string();
        let timeout = self.timeout;
        blocking(move || {
            ureq::post(&format!("{}/notify", base.trim_end_matches('/')))
                .timeout(timeout)
                .set("Content-Type", "application/json")
                .send_string(&payload)
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .await
    }

    async fn package(&self, body: &str) -> Result<(), String> {
        // Arguments, never a shell: the body is one argument whatever it holds.
        let mut cmd = tokio::process::Command::new("apprise");
        cmd.arg("--title=BorgWarehouse")
            .arg(format!("--body={body}"))
            .arg("--")
            .args(&self.services)
            .kill_on_drop(true);
        match cmd.output().await {
            Ok(out) if out.status.success() => Ok(()),
            Ok(out) => {
                Err(format!("apprise exited with {}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()))
            }
            Err(e) => Err(format!("cannot run apprise: {e}")),
        }
    }
}

impl AlertChannel for Apprise {
    fn name(&self) -> &'static str {
        "apprise"
    }

    fn send<'a>(&'a self, alert: &'a Alert<'a>) -> SendFuture<'a> {
        match self.mode {
            AppriseMode::Stateless => Box::pin(self.stateless(&alert.text)),
            AppriseMode::Package => Box::pin(self.package(&alert.text)),
        }
    }
}
