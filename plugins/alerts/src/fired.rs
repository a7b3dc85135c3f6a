//! `GET /api/v1/alerts`: the alerts that fired, as the store's log keeps them
//! ([`bw_store::alert_log`]): what a page shows after the channels told people once.

use bw_api::auth::{Guard, Read};
use bw_api::query::whole_number;
use bw_api::refusals::{Answer, INVALID_BODY};
use bw_api::tags::HistoryTag as Tag;
use bw_api::AppState;
use bw_store::alert_log::{FiredAlert, KEEP};
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

/// One repository named in an alert that fired.
#[derive(Object)]
#[oai(rename = "FiredAlert", rename_all = "camelCase")]
pub struct FiredAlertInfo {
    /// Unix seconds it was sent.
    pub at: i64,
    /// `late`, `recovered`, `quota`, `shrink`, `growth` or `verifyFailed`.
    pub kind: String,
    pub repository_name: String,
    pub alias: String,
    /// What the alert said about this repository.
    pub message: String,
    /// The channels that delivered it; empty when none is configured or none delivered.
    pub delivered_by: Vec<String>,
}

impl From<FiredAlert> for FiredAlertInfo {
    fn from(a: FiredAlert) -> Self {
        FiredAlertInfo {
            at: a.at,
            kind: a.kind,
            repository_name: a.repository_name,
            alias: a.alias,
            message: a.message,
            delivered_by: a.delivered_by,
        }
    }
}

/// The alerts that fired, newest first.
#[derive(Object)]
#[oai(rename = "FiredAlerts")]
pub struct FiredAlerts {
    pub alerts: Vec<FiredAlertInfo>,
}

pub struct FiredAlertsApi;

#[OpenApi]
impl FiredAlertsApi {
    /// The alerts that fired (late, recovered, health, failed verify), newest first, one entry
    /// per repository named in an alert; the newest 2,000 are kept
    #[oai(path = "/api/v1/alerts", method = "get", tag = "Tag::History", operation_id = "listFiredAlerts")]
    async fn alerts(
        &self,
        state: Data<&AppState>,
        caller: Guard<Read>,
        /// At most this many (1 to 2000); 100 when absent.
        limit: Query<Option<String>>,
        /// Only this repository's.
        #[oai(name = "repositoryName")]
        repository_name: Query<Option<String>>,
    ) -> Answer<Json<FiredAlerts>, { INVALID_BODY }> {
        let limit = whole_number(limit.as_deref(), "limit", 1, KEEP)?.unwrap_or(100);
        let scope = caller.scope();
        let alerts = if scope.is_whole_host() {
            state.alert_log.newest(limit, repository_name.as_deref())?
        } else {
            // A scoped caller hears only of its own repositories: the others' entries are left
            // out, as if they had never fired.
            let all = state.alert_log.newest(KEEP, repository_name.as_deref())?;
            all.into_iter().filter(|a| state.reachable_id(&a.repository_name, &scope).is_some()).take(limit).collect()
        };
        Ok(Json(FiredAlerts { alerts: alerts.into_iter().map(Into::into).collect() }))
    }
}

/// `limit` is a string in the handler, so that a bad value gets the contract's 400 naming it;
/// the document says what it takes.
pub(crate) fn finish_document(doc: &mut serde_json::Value) {
    if let Some(params) =
        doc.pointer_mut("/paths/~1api~1v1~1alerts/get/parameters").and_then(serde_json::Value::as_array_mut)
    {
        for param in params.iter_mut().filter(|p| p["name"] == "limit") {
            param["schema"] = serde_json::json!({"type": "integer", "minimum": 1, "maximum": KEEP});
        }
    }
}
