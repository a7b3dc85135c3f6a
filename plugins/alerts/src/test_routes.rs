//! `GET /api/v1/alerts/channels` and `POST /api/v1/alerts/test`: which channels this server
//! alerts through, and a test alert that shows each one works, before a real outage does (#33:
//! BorgWarehouse 3.6 has this in its page; the settings are the environment's, with what an
//! admin changed in the page over them: `settings_routes`).

use bw_api::auth::{Administrator, Guard, Read, WholeHost};
use bw_api::tags::HistoryTag as Tag;
use bw_api::AppState;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

/// One channel.
#[derive(Object)]
#[oai(rename = "AlertChannel")]
pub struct ChannelInfo {
    /// `email`, `webhook` or `apprise`.
    pub name: String,
    /// Whether the settings turn it on (`BW_ALERT_EMAIL` and `MAIL_SMTP_HOST`, `BW_WEBHOOK_URL`,
    /// `BW_APPRISE_SERVICES`).
    pub configured: bool,
}

/// The channels this server knows.
#[derive(Object)]
#[oai(rename = "AlertChannels")]
pub struct Channels {
    pub channels: Vec<ChannelInfo>,
}

/// What one channel did with the test alert.
#[derive(Object)]
#[oai(rename = "TestAlertDelivery")]
pub struct TestDelivery {
    pub name: String,
    /// False: it failed (the server's log says why).
    pub delivered: bool,
}

/// What the test alert did, for each configured channel (none configured: an empty list).
#[derive(Object)]
#[oai(rename = "TestAlert")]
pub struct TestAlert {
    pub channels: Vec<TestDelivery>,
}

pub struct TestAlertApi;

#[OpenApi]
impl TestAlertApi {
    /// The alert channels this server knows, and whether each is configured
    #[oai(path = "/api/v1/alerts/channels", method = "get", tag = "Tag::History", operation_id = "listAlertChannels")]
    async fn channels(&self, state: Data<&AppState>, _caller: Guard<WholeHost<Read>>) -> Json<Channels> {
        let channels = crate::channels::known(&crate::page_settings::effective(&state))
            .into_iter()
            .map(|(name, configured)| ChannelInfo { name: name.into(), configured })
            .collect();
        Json(Channels { channels })
    }

    /// Send a test alert through every configured channel, now
    ///
    /// About no repository, and not kept among the alerts that fired. The answer says what each
    /// channel did; a failure's reason is in the server's log.
    #[oai(path = "/api/v1/alerts/test", method = "post", tag = "Tag::History", operation_id = "sendTestAlert")]
    async fn test(&self, state: Data<&AppState>, _caller: Guard<Administrator>) -> Json<TestAlert> {
        let delivery = crate::channels::send_test(&crate::page_settings::effective(&state), state.clock.now()).await;
        tracing::info!(target: "audit", "test alert sent");
        let channels = delivery.iter().map(|(name, delivered)| TestDelivery { name: name.into(), delivered }).collect();
        Json(TestAlert { channels })
    }
}
