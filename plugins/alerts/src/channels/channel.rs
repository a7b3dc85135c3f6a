//! What a channel is given and what it implements; each channel's file is one implementation.

use std::future::Future;

use bw_api::alert::{AlertKind, LateRepo};
use std::pin::Pin;

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
