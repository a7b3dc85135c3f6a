//! History routes: a repository's points (`storageUsed` and `lastSave` at each check run and
//! session) and the host's sums, over a time range. The points are written by the checks and
//! sessions, and folded by age, in `bw_api::history`; this plugin only answers.

use bw_api::auth::{Guard, Read};
use bw_api::query::whole_number;
use bw_api::refusals::{Answer, INVALID_BODY, NOT_FOUND};
use bw_api::{ApiError, ApiResult, AppState};
use bw_store::history::{HostPoint, Point};
use poem::web::Data;
// Named `Path`: poem-openapi finds path parameters by this type name.
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use bw_api::tags::HistoryTag as Tag;

/// A repository's points, oldest first.
#[derive(Object)]
#[oai(rename = "RepositoryHistory")]
pub struct RepositoryHistory {
    pub points: Vec<RepositoryPoint>,
}

/// A repository at one moment.
#[derive(Object)]
#[oai(rename = "RepositoryHistoryPoint", rename_all = "camelCase")]
pub struct RepositoryPoint {
    /// Unix seconds.
    pub at: i64,
    /// KiB, as the repository's `storageUsed`.
    pub storage_used: u64,
    /// Unix seconds of the last backup then; 0 before the first.
    pub last_save: i64,
}

impl From<Point> for RepositoryPoint {
    fn from(p: Point) -> Self {
        RepositoryPoint { at: p.at, storage_used: p.storage_used, last_save: p.last_save }
    }
}

/// The host's points, oldest first.
#[derive(Object)]
#[oai(rename = "HostHistory")]
pub struct HostHistory {
    pub points: Vec<HostHistoryPoint>,
}

/// The host at one check run: sums over its repositories.
#[derive(Object)]
#[oai(rename = "HostHistoryPoint", rename_all = "camelCase")]
pub struct HostHistoryPoint {
    /// Unix seconds.
    pub at: i64,
    /// KiB, summed over the repositories.
    pub storage_used: u64,
    /// How many repositories there were.
    pub repositories: u64,
    /// How many were late.
    pub late: u64,
}

impl From<HostPoint> for HostHistoryPoint {
    fn from(p: HostPoint) -> Self {
        HostHistoryPoint { at: p.at, storage_used: p.storage_used, repositories: p.repositories, late: p.late }
    }
}

/// The latest time a query may name: the last second of the year 9999.
const LAST_TIME: usize = 253_402_300_799;

/// `from` (default 0) and `to` (default: now), unix seconds. A `from` after `to` is an empty
/// range, answered with no points: each value is valid alone, as the document says.
fn range(state: &AppState, from: Option<&str>, to: Option<&str>) -> ApiResult<(i64, i64)> {
    let from = whole_number(from, "from", 0, LAST_TIME)?.unwrap_or(0) as i64;
    let to = whole_number(to, "to", 0, LAST_TIME)?.map_or_else(|| state.clock.now(), |t| t as i64);
    Ok((from, to))
}

pub struct HistoryApi;

#[OpenApi]
impl HistoryApi {
    /// A repository's history, oldest first (the newest 5,000 points of the range at most)
    #[oai(
        path = "/api/v1/repositories/:repositoryName/history",
        method = "get",
        tag = "Tag::History",
        operation_id = "getRepositoryHistory"
    )]
    async fn repository(
        &self,
        state: Data<&AppState>,
        caller: Guard<Read>,
        #[oai(name = "repositoryName")] name: Path<String>,
        /// Unix seconds, included; 0 when absent.
        from: Query<Option<String>>,
        /// Unix seconds, included; now when absent.
        to: Query<Option<String>>,
    ) -> Answer<Json<RepositoryHistory>, { INVALID_BODY | NOT_FOUND }> {
        let (from, to) = range(&state, from.as_deref(), to.as_deref())?;
        let missing = || ApiError::NotFound(format!("No repository with name {}", name.0));
        let id = state.reachable_id(&name, &caller.scope()).ok_or_else(missing)?;
        let points = state.history.repository(id, from, to)?;
        Ok(Json(RepositoryHistory { points: points.into_iter().map(Into::into).collect() }))
    }

    /// The host's history: sums over its repositories at each check run, oldest first
    ///
    /// A caller bound to a tenant, or to named repositories, gets the sums over those.
    #[oai(path = "/api/v1/history", method = "get", tag = "Tag::History", operation_id = "getHostHistory")]
    async fn host(
        &self,
        state: Data<&AppState>,
        caller: Guard<Read>,
        /// Unix seconds, included; 0 when absent.
        from: Query<Option<String>>,
        /// Unix seconds, included; now when absent.
        to: Query<Option<String>>,
    ) -> Answer<Json<HostHistory>, { INVALID_BODY }> {
        let (from, to) = range(&state, from.as_deref(), to.as_deref())?;
        let scope = caller.scope();
        let points = if scope.is_whole_host() {
            state.history.host(from, to)?
        } else {
            // A tenant's (or named repositories') own sums: the host's are other tenants' too.
            let mut reach = Vec::new();
            state.repos.summaries(state.clock.now(), |r| {
                if scope.admits(r.tenant, &r.name.to_string()) {
                    reach.push((r.id, r.alert));
                }
            });
            let state = state.clone();
            tokio::task::spawn_blocking(move || state.history.sums(&reach, from, to))
                .await
                .map_err(ApiError::internal)??
        };
        Ok(Json(HostHistory { points: points.into_iter().map(Into::into).collect() }))
    }
}

/// `from` and `to` are strings in the handlers, so that a bad value gets the contract's 400
/// naming it; the document says what they take.
fn finish_document(doc: &mut serde_json::Value) {
    for path in [
        "/paths/~1api~1v1~1repositories~1{repositoryName}~1history/get/parameters",
        "/paths/~1api~1v1~1history/get/parameters",
    ] {
        let Some(params) = doc.pointer_mut(path).and_then(serde_json::Value::as_array_mut) else { continue };
        for param in params.iter_mut().filter(|p| p["name"] == "from" || p["name"] == "to") {
            param["schema"] = serde_json::json!({"type": "integer", "minimum": 0, "maximum": LAST_TIME});
        }
    }
}

bw_api::endpoint_plugin!("history", HistoryApi, HistoryApi, document = finish_document);
