//! Alerts: telling people, and keeping what was told.
//!
//! - [`channels`]: email, webhook and Apprise, each one file, and the sending of one alert
//!   through every configured channel, logged in the store's fired-alerts log. Registered as
//!   this build's alert plugin: the checks, sessions and verify raise alerts through
//!   `AppState::send_alert` and never know the channels.
//! - [`health`]: every 2 s, the health alerts the rules decided (`bw_api::health`) are sent.
//! - [`fired`]: `GET /api/v1/alerts`, the log of fired alerts; `test_routes`: the channels
//!   known and configured, and a test alert through them; `settings_routes` and
//!   [`page_settings`]: the channels' settings changed from the page, over the environment.
//! - its settings: [`ChannelSettings`] (`channels`: where alerts go) and [`MailSettings`]
//!   (`mail`: the SMTP server), groups this plugin owns.

pub mod channels;
mod fired;
pub mod health;
mod mail_settings;
pub mod page_settings;
mod settings;
mod settings_routes;
mod test_routes;

pub use channels::{signature, SECRET_HEADER, SIGNATURE_HEADER};
pub use mail_settings::{MailSettings, MailTls};
pub use settings::{AppriseMode, ChannelSettings};

bw_api::alert_plugin!("alerts", channels::send, channels::post_events, channels::wants_events);
type Apis = (fired::FiredAlertsApi, test_routes::TestAlertApi, settings_routes::AlertSettingsApi);
bw_api::endpoint_plugin!(
    "alerts",
    Apis,
    (fired::FiredAlertsApi, test_routes::TestAlertApi, settings_routes::AlertSettingsApi),
    document = finish_document
);

fn finish_document(doc: &mut serde_json::Value) {
    fired::finish_document(doc);
    settings_routes::finish_document(doc);
}
