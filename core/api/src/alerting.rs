//! Raising an alert: what the checks, sessions and verify call, and the seam the alert plugin
//! (`plugins/alerts`) plugs its channels into. The raisers never know the channels, and a build
//! without any alert plugin still runs its checks: its alerts are logged and go nowhere.
//!
//! An alert plugin registers with [`alert_plugin!`](crate::alert_plugin); every one built in
//! is given every alert, and their deliveries are merged.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;

use crate::alert::{AlertKind, Delivery, LateRepo};
use crate::plugin_list::{sorted, DuplicatePlugin, Registered};
use crate::state::AppState;

pub type DeliveryFuture<'a> = Pin<Box<dyn Future<Output = Delivery> + Send + 'a>>;
/// Each post's channel and whether it was delivered.
pub type PostFuture = Pin<Box<dyn Future<Output = Vec<(&'static str, bool)>> + Send>>;

/// A way of telling people. Build one with [`alert_plugin!`](crate::alert_plugin).
pub struct AlertPlugin {
    pub name: &'static str,
    /// Sends one alert of a kind about some repositories, at a unix time, and logs it.
    pub send: for<'a> fn(&'a AppState, AlertKind, &'a [LateRepo], i64) -> DeliveryFuture<'a>,
    /// Posts events that are not alerts (`backup.completed`) to the receivers that take them.
    pub post_events: fn(AppState, Vec<serde_json::Value>) -> PostFuture,
    /// Whether it has a receiver for such events (so their raisers need not build them).
    pub wants_events: fn(&AppState) -> bool,
}

inventory::collect!(AlertPlugin);

/// Registers an alert plugin: `alert_plugin!("alerts", send, post_events, wants_events);`
#[macro_export]
macro_rules! alert_plugin {
    ($name:expr, $send:expr, $post_events:expr, $wants_events:expr $(,)?) => {
        $crate::__private::inventory::submit! {
            $crate::alerting::AlertPlugin {
                name: $name,
                send: $send,
                post_events: $post_events,
                wants_events: $wants_events,
            }
        }
    };
}

static ALERTS: Registered<AlertPlugin> = OnceLock::new();

/// Every alert plugin built in, by name; an error names a duplicate.
pub fn alert_plugins() -> Result<&'static [&'static AlertPlugin], DuplicatePlugin> {
    ALERTS
        .get_or_init(|| sorted(inventory::iter::<AlertPlugin>.into_iter(), |p| p.name, "alert"))
        .as_deref()
        .map_err(Clone::clone)
}

fn plugins_or_none() -> &'static [&'static AlertPlugin] {
    alert_plugins().unwrap_or(&[])
}

impl AppState {
    /// Sends one alert of `kind` about `repos`, raised at unix time `now` (its check's), through
    /// every alert plugin, and counts what each channel did for `/metrics`.
    pub async fn send_alert(&self, kind: AlertKind, repos: &[LateRepo], now: i64) -> Delivery {
        self.events.publish(crate::events::Event::new("alert", None, now));
        let plugins = plugins_or_none();
        if plugins.is_empty() {
            tracing::info!(
                kind = kind.log_name(),
                repositories = repos.len(),
                "alert raised; no alert plugin is built in"
            );
            return Delivery::default();
        }
        let mut all = Vec::new();
        for plugin in plugins {
            all.extend((plugin.send)(self, kind, repos, now).await.iter());
        }
        for &(channel, delivered) in &all {
            self.telemetry.alert_delivery(channel, delivered);
        }
        all.into_iter().collect()
    }

    /// Whether an alert plugin takes events that are not alerts (`backup.completed`).
    pub fn wants_events(&self) -> bool {
        plugins_or_none().iter().any(|p| (p.wants_events)(self))
    }

    /// Posts `events` in the background, off the caller's path: a slow receiver holds up
    /// nothing.
    pub fn post_events(&self, events: Vec<serde_json::Value>) {
        if events.is_empty() {
            return;
        }
        for plugin in plugins_or_none() {
            let (state, post) = (self.clone(), (plugin.post_events)(self.clone(), events.clone()));
            tokio::spawn(async move {
                for (channel, delivered) in post.await {
                    state.telemetry.alert_delivery(channel, delivered);
                }
            });
        }
    }
}
