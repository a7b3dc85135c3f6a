//! What a channel is given and what it implements; each channel's file is one implementation.

use std::future::Future;

use bw_api::health::HealthKind;
use std::pin::Pin;

/// A repository an alert is about.
#[derive(Debug, Clone)]
pub struct LateRepo {
    pub alias: String,
    pub repository_name: String,
    pub last_save: i64,
    /// For a health alert: what happened, by how much, and what to look at.
    pub note: Option<String>,
}

/// What an alert says of its repositories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    /// They had no backup within their alert delay.
    Late,
    /// They were late, an alert said so, and a backup has just ended.
    Recovered,
    /// A health alert (`bw_api::health`): quota, shrink, growth, a failed verify.
    Health(HealthKind),
}

impl AlertKind {
    /// Its name in the log of fired alerts (`GET /api/v1/alerts`).
    pub fn log_name(self) -> &'static str {
        match self {
            AlertKind::Late => "late",
            AlertKind::Recovered => "recovered",
            AlertKind::Health(HealthKind::Quota) => "quota",
            AlertKind::Health(HealthKind::Shrink) => "shrink",
            AlertKind::Health(HealthKind::Growth) => "growth",
            AlertKind::Health(HealthKind::VerifyFailed) => "verifyFailed",
        }
    }

    /// The webhook's `event` for a health alert.
    pub fn health_event(self) -> Option<&'static str> {
        match self {
            AlertKind::Late | AlertKind::Recovered => None,
            AlertKind::Health(HealthKind::Quota) => Some("health.quota"),
            AlertKind::Health(HealthKind::Shrink) => Some("health.shrink"),
            AlertKind::Health(HealthKind::Growth) => Some("health.growth"),
            AlertKind::Health(HealthKind::VerifyFailed) => Some("verify.failed"),
        }
    }
}

/// One alert, as every channel receives it.
pub struct Alert<'a> {
    pub kind: AlertKind,
    pub repos: &'a [LateRepo],
    /// The plain-text message (email body, Apprise body).
    pub text: String,
    /// Unix seconds of the check that raised it.
    pub now: i64,
}

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// A way to tell people that repositories are late.
pub trait AlertChannel: Send + Sync {
    /// The name in logs and in `Delivery`.
    fn name(&self) -> &'static str;
    /// Sends one alert; the error is a sentence for the log.
    fn send<'a>(&'a self, alert: &'a Alert<'a>) -> SendFuture<'a>;
}

/// Runs blocking I/O (ureq) off the runtime's threads.
pub(super) async fn blocking(f: impl FnOnce() -> Result<(), String> + Send + 'static) -> Result<(), String> {
    tokio::task::spawn_blocking(f).await.map_err(|e| e.to_string())?
}
