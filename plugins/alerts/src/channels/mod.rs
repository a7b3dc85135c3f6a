//! The channels. Each channel (email, webhook, Apprise) is one file implementing
//! [`channel::AlertChannel`], listed once in [`CHANNELS`]; a channel its configuration leaves out is not
//! built. A failing channel is logged and does not stop the others; every send has a timeout.
//! Aliases are data in every message (a mail body, a JSON string, one program argument), never
//! code.
//!
//! To add a channel: a file here with a `from_config` constructor, its settings group in
//! `bw_api::config`, and one line in [`CHANNELS`].

mod apprise;
mod channel;
mod email;
mod webhook;

use bw_api::alert::{AlertKind, Delivery, HealthKind, LateRepo};
use bw_api::config::Config;
use bw_api::AppState;
use bw_store::alert_log::FiredAlert;

use channel::{Alert, AlertChannel};

pub use webhook::{post_events, signature, SECRET_HEADER, SIGNATURE_HEADER};

/// Builds a channel from the configuration, or `None` when the configuration leaves it out.
type ChannelBuilder = fn(&Config) -> Option<Box<dyn AlertChannel>>;

/// Every channel this server knows, and its name.
const CHANNELS: &[(&str, ChannelBuilder)] = &[
    ("email", email::Email::from_config),
    ("webhook", webhook::Webhook::from_config),
    ("apprise", apprise::Apprise::from_config),
];

/// Each channel this server knows, and whether the configuration turns it on.
pub fn known(config: &Config) -> Vec<(&'static str, bool)> {
    CHANNELS.iter().map(|(name, build)| (*name, build(config).is_some())).collect()
}

/// Sends a test alert through every configured channel, now: what each did. Not kept in the
/// log of fired alerts (it is about no repository), not counted as an alert.
pub async fn send_test(config: &Config, now: i64) -> Delivery {
    send_through_channels(config, AlertKind::Test, &[], now).await
}

/// The channels the configuration turns on.
pub fn configured(config: &Config) -> Vec<Box<dyn AlertChannel>> {
    CHANNELS.iter().filter_map(|(_, build)| build(config)).collect()
}

fn text(kind: AlertKind, repos: &[LateRepo]) -> String {
    let one = repos.len() == 1;
    let mut body = match kind {
        AlertKind::Late => format!(
            "{} repositor{} had no backup within its alert delay:\n\n",
            repos.len(),
            if one { "y has" } else { "ies have" }
        ),
        AlertKind::Recovered => format!(
            "{} repositor{} late, and a backup has just ended:\n\n",
            repos.len(),
            if one { "y was" } else { "ies were" }
        ),
        AlertKind::Health(HealthKind::Quota) => format!(
            "{} repositor{} near {} quota:\n\n",
            repos.len(),
            if one { "y is" } else { "ies are" },
            if one { "its" } else { "their" }
        ),
        AlertKind::Health(HealthKind::Shrink) => {
            format!("Storage used fell sharply in {} repositor{}:\n\n", repos.len(), if one { "y" } else { "ies" })
        }
        AlertKind::Health(HealthKind::VerifyFailed) => format!(
            "The verify (borg check --repository-only) of {} repositor{} found damage:\n\n",
            repos.len(),
            if one { "y" } else { "ies" }
        ),
        AlertKind::Health(HealthKind::Growth) => {
            format!("{} repositor{} far more than usual:\n\n", repos.len(), if one { "y grew" } else { "ies grew" })
        }
        AlertKind::Test => {
            "A test alert, asked for by the administrator: this channel delivers BorgWarehouse's alerts.\n".to_string()
        }
    };
    for r in repos {
        let what = match &r.note {
            Some(note) => note.clone(),
            None if r.last_save == 0 => "never".to_string(),
            None => format!("last backup at unix time {}", r.last_save),
        };
        body.push_str(&format!("- {} ({}): {}\n", r.alias, r.repository_name, what));
    }
    body
}

/// Sends one alert of `kind` for `repos` through every configured channel at once, and keeps
/// it in the store's log of fired alerts (what a page shows). This plugin's
/// [`bw_api::alerting::AlertPlugin::send`].
pub fn send<'a>(
    state: &'a AppState,
    kind: AlertKind,
    repos: &'a [LateRepo],
    now: i64,
) -> bw_api::alerting::DeliveryFuture<'a> {
    Box::pin(send_and_log(state, kind, repos, now))
}

async fn send_and_log(state: &AppState, kind: AlertKind, repos: &[LateRepo], now: i64) -> Delivery {
    let delivery = send_through_channels(&crate::page_settings::effective(state), kind, repos, now).await;
    let delivered_by: Vec<String> = delivery.iter().filter(|(_, ok)| *ok).map(|(c, _)| c.to_string()).collect();
    // The log keeps its newest entries only: an alert naming every repository of a large host
    // makes no more of them than it keeps.
    let logged = &repos[repos.len().saturating_sub(bw_store::alert_log::KEEP)..];
    let fired: Vec<FiredAlert> = logged
        .iter()
        .map(|r| FiredAlert {
            at: now,
            kind: kind.log_name().into(),
            repository_name: r.repository_name.clone(),
            alias: r.alias.clone(),
            message: line_of(kind, r),
            delivered_by: delivered_by.clone(),
        })
        .collect();
    if let Err(e) = state.alert_log.add(&fired) {
        tracing::error!(error = %e, "the fired alert was sent but not logged");
    }
    delivery
}

/// Whether the events that are not alerts (`backup.completed`) have a receiver: this plugin's
/// [`bw_api::alerting::AlertPlugin::wants_events`].
pub fn wants_events(state: &AppState) -> bool {
    let channels = crate::page_settings::effective(state).group::<crate::settings::ChannelSettings>();
    channels.webhook_backup_completed && channels.webhook_url.is_some()
}

/// What an alert says of one repository.
fn line_of(kind: AlertKind, r: &LateRepo) -> String {
    match (&r.note, kind) {
        (Some(note), _) => note.clone(),
        (None, AlertKind::Recovered) => "a backup ended after it was late".into(),
        (None, _) if r.last_save == 0 => "no backup yet".into(),
        (None, _) => "no backup within its alert delay".into(),
    }
}

async fn send_through_channels(config: &Config, kind: AlertKind, repos: &[LateRepo], now: i64) -> Delivery {
    let alert = Alert { kind, repos, text: text(kind, repos), now };
    let channels = configured(config);
    let timeout = config.group::<crate::settings::ChannelSettings>().timeout;
    let sends = channels.iter().map(|channel| {
        let alert = &alert;
        async move {
            let outcome = match tokio::time::timeout(timeout, channel.send(alert)).await {
                Err(_) => Err(format!("timed out after {timeout:?}")),
                Ok(o) => o,
            };
            match &outcome {
                Ok(()) => tracing::info!(channel = channel.name(), "alert sent"),
                Err(e) => tracing::error!(channel = channel.name(), error = %e, "alert not sent"),
            }
            (channel.name(), outcome.is_ok())
        }
    });
    futures_util::future::join_all(sends).await.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_is_data_in_the_text() {
        let late = [LateRepo {
            alias: "$(rm -rf /)\"; x".into(),
            repository_name: "aaaaaaaa".into(),
            last_save: 0,
            note: None,
        }];
        assert!(text(AlertKind::Late, &late).contains("- $(rm -rf /)\"; x (aaaaaaaa): never"));
        assert!(text(AlertKind::Recovered, &late).starts_with("1 repository was late, and a backup has just ended"));
    }

    #[test]
    fn only_configured_channels_are_built() {
        let mut config = Config::default();
        assert!(configured(&config).is_empty());
        config
            .plugins
            .update(|c: &mut crate::settings::ChannelSettings| c.webhook_url = Some("http://127.0.0.1:9/hook".into()));
        let names: Vec<&str> = configured(&config).iter().map(|c| c.name()).collect();
        assert_eq!(names, ["webhook"]);
        config.plugins.update(|c: &mut crate::settings::ChannelSettings| {
            c.email_to = Some("ops@example.org".into());
            c.apprise_services = vec!["mailto://ops@example.org".into()];
        });
        config.plugins.update(|m: &mut crate::mail_settings::MailSettings| m.host = Some("127.0.0.1".into()));
        let names: Vec<&str> = configured(&config).iter().map(|c| c.name()).collect();
        assert_eq!(names, ["email", "webhook", "apprise"]);
    }
}
