//! `GET /api/v1/repositories/{repositoryName}/sessions`: a repository's sessions, newest first.

use bw_api::auth::{Guard, Read};
use bw_api::query::whole_number;
use bw_api::refusals::{Answer, INVALID_BODY, NOT_FOUND};
use bw_api::{ApiError, AppState};
use bw_store::session_store::Session;
use poem::web::Data;
// Named `Path`: poem-openapi finds path parameters by this type name.
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};

#[derive(Tags)]
enum Tag {
    /// Client sessions, taken in the moment they end (with `BW_SESSIONS` on).
    #[oai(rename = "Sessions (this server, v1 paths)")]
    Sessions,
}

/// The sessions of one repository, newest first.
#[derive(Object)]
#[oai(rename = "SessionList")]
pub struct SessionList {
    pub sessions: Vec<SessionInfo>,
}

/// One ended session of a client.
#[derive(Object)]
#[oai(rename = "Session", rename_all = "camelCase")]
pub struct SessionInfo {
    /// The id of the key the client used.
    pub key_id: String,
    /// Unix seconds.
    pub started_at: i64,
    /// Unix seconds.
    pub ended_at: i64,
    /// `borg serve`'s exit code on the server (128 + N when signal N ended it). Not the
    /// backup's result: `borg serve` exits 0 when the client fails (a wrong passphrase, a
    /// repository never initialised); `wroteChanges` says what the server can know.
    pub exit_code: i32,
    /// The client's address, port and the server's port, from sshd's `SSH_CLIENT`.
    pub client: String,
    /// Whether the session committed a change to the repository (borg's transaction number
    /// moved): true for a backup, a prune or a delete that went through; false for a read
    /// (`borg list`, `borg extract`) or a client that failed. Absent for sessions recorded
    /// before the server looked.
    #[oai(skip_serializing_if_is_none)]
    pub wrote_changes: Option<bool>,
}

impl From<Session> for SessionInfo {
    fn from(s: Session) -> Self {
        SessionInfo {
            key_id: s.key_id,
            started_at: s.started_at,
            ended_at: s.ended_at,
            exit_code: s.exit_code,
            client: s.client,
            wrote_changes: s.wrote,
        }
    }
}

/// The largest `limit`, and the default.
const MAX_LIMIT: usize = bw_store::session_store::KEPT_PER_REPOSITORY;
const DEFAULT_LIMIT: usize = 50;

pub struct SessionsApi;

#[OpenApi]
impl SessionsApi {
    /// The sessions of a repository, newest first
    #[oai(
        path = "/api/v1/repositories/:repositoryName/sessions",
        method = "get",
        tag = "Tag::Sessions",
        operation_id = "listRepositorySessions"
    )]
    async fn list(
        &self,
        state: Data<&AppState>,
        caller: Guard<Read>,
        #[oai(name = "repositoryName")] name: Path<String>,
        /// At most this many (1 to 100, default 50).
        limit: Query<Option<String>>,
    ) -> Answer<Json<SessionList>, { INVALID_BODY | NOT_FOUND }> {
        let limit = whole_number(limit.as_deref(), "limit", 1, MAX_LIMIT)?.unwrap_or(DEFAULT_LIMIT);
        let missing = || ApiError::NotFound(format!("No repository with name {}", name.0));
        let id = state.reachable_id(&name, &caller.scope()).ok_or_else(missing)?;
        let sessions = state.sessions.newest(id, limit)?.into_iter().map(SessionInfo::from).collect();
        Ok(Json(SessionList { sessions }))
    }
}

/// `limit` is a string in the handler, so that a bad value gets the contract's 400 naming it;
/// the document says what it takes.
pub(crate) fn finish_document(doc: &mut serde_json::Value) {
    let path = "/paths/~1api~1v1~1repositories~1{repositoryName}~1sessions/get/parameters";
    let Some(params) = doc.pointer_mut(path).and_then(serde_json::Value::as_array_mut) else { return };
    for param in params.iter_mut().filter(|p| p["name"] == "limit") {
        param["schema"] = serde_json::json!({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT});
    }
}
