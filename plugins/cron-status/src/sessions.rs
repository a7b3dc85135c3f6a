//! Sessions: the status of a repository the moment its backup ends. The session recorder
//! (`borgwarehouse session`, run by each line when `BW_SESSIONS` is on) drops a record into the
//! spool when a client's `borg serve` ends; every `BW_SESSION_INTERVAL` this task takes the
//! waiting records in. For each, it reads only that repository's folder (last backup, disk
//! usage), updates its figures as the checks do, keeps the session, and removes the record.
//! Records wait in the spool while the server is stopped; the periodic checks stay the safety
//! net for anything a record does not say.

use bw_api::auth::{Guard, Read};
use bw_api::query::whole_number;
use bw_api::refusals::{Answer, INVALID_BODY, NOT_FOUND};
use bw_api::{ApiError, ApiResult, AppState};
use bw_host::folder_scan::{scan_all, RepoScanner, ScanTarget};
use bw_host::session_spool::{waiting, SessionRecord, Waiting};
use bw_store::session_store::Session;

use crate::alerts::{AlertKind, LateRepo};
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

/// What one read of the spool did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TakenIn {
    /// Records taken in, for a known repository.
    pub sessions: usize,
    /// Records of a repository that no longer exists (removed).
    pub unknown: usize,
    /// Files that are not records (set aside as `NAME.unreadable`).
    pub unreadable: usize,
    /// Repositories late and alerted about that are on time again: a recovery alert went out.
    pub recovered: usize,
}

/// What the folder of one repository said after its session.
struct Figures {
    last_save: Option<i64>,
    used_kib: Option<u64>,
}

fn read_folder(scanner: &dyn RepoScanner, folder: &std::path::Path) -> Figures {
    Figures {
        last_save: scanner.last_save(folder).ok().flatten(),
        used_kib: scanner.disk_usage_kib(folder).ok().flatten(),
    }
}

/// Takes in every record waiting in the spool.
pub async fn take_in(state: &AppState) -> ApiResult<TakenIn> {
    let spool = state.config.session_spool();
    let found = tokio::task::spawn_blocking(move || waiting(&spool)).await.map_err(ApiError::internal)?;
    let found = found.map_err(|e| bw_store::store_error::StoreError::io(state.config.session_spool(), e))?;
    let mut report = TakenIn::default();
    if found.is_empty() {
        return Ok(report);
    }
    let now = state.clock.now();
    let mut known: Vec<(u64, SessionRecord, Waiting)> = Vec::new();
    for w in found {
        match w.record.clone() {
            Err(why) => {
                tracing::warn!(file = %w.path.display(), %why, "session spool: not a session record; set aside");
                let _ = std::fs::rename(&w.path, w.path.with_extension("unreadable"));
                report.unreadable += 1;
            }
            Ok(record) => match state.repos.id_of_name(&record.repository) {
                Some(id) => known.push((id, record, w)),
                None => {
                    tracing::info!(repository = %record.repository, "session of a repository that no longer exists");
                    let _ = std::fs::remove_file(&w.path);
                    report.unknown += 1;
                }
            },
        }
    }
    // Each repository's folder read once, however many sessions it had, by the checks' readers:
    // off the runtime's threads, and a read that hangs (a dead mount) is given up after
    // `BW_SCAN_TIMEOUT`, its repository keeping its figures.
    let mut targets: Vec<ScanTarget> =
        known.iter().map(|(id, r, _)| ScanTarget { id: *id, repository_name: r.repository.clone() }).collect();
    targets.sort_unstable_by_key(|t| t.id);
    targets.dedup_by_key(|t| t.id);
    let (scanner, timeout) = (state.scanner.clone(), state.config.checks.scan_timeout);
    let read = scan_all(targets, state.repos.pool(), scanner, timeout, |s, p| Ok(read_folder(s, p))).await;
    let figures: Vec<(u64, Figures)> = read
        .into_iter()
        .filter_map(|(target, result)| match result {
            Ok(f) => Some((target.id, f)),
            Err(e) => {
                tracing::warn!(repository = %target.repository_name, error = %e, "session: folder not read");
                None
            }
        })
        .collect();
    let touched: Vec<u64> = figures.iter().map(|(id, _)| *id).collect();
    let figures: Vec<(u64, (u64, Figures))> = figures.into_iter().map(|(id, f)| (id, (id, f))).collect();
    let mut changes = Vec::new();
    let recovered = state
        .repos
        .update_scans(figures, |scan, alert, (id, f): (u64, Figures)| {
            if let Some(t) = f.last_save {
                scan.last_save = t;
            }
            if let Some(kib) = f.used_kib {
                if kib != scan.storage_used {
                    changes.push(bw_api::health::StorageChange { id, before: scan.storage_used, after: kib });
                }
                scan.storage_used = kib;
            }
            let was_late = !scan.status;
            scan.status = bw_store::repo_store::is_on_time(scan.last_save, alert, now);
            scan.imported_status = None;
            // Late, alerted about, and on time again: the recovery is said at once, and a new
            // lateness will be alerted about at once too.
            let recovered = was_late && scan.status && scan.last_status_alert_send.is_some();
            if recovered {
                scan.last_status_alert_send = None;
            }
            recovered
        })
        .await?;
    // Each key's last use: the key id comes from the line this server wrote, never from the client.
    let uses: Vec<(u64, String, i64)> = known.iter().map(|(id, r, _)| (*id, r.key.clone(), r.ended_at)).collect();
    state.repos.record_key_use(&uses).await?;
    let mut events = Vec::new();
    for (id, r, w) in known {
        if state.config.alerts.webhook_backup_completed {
            let alias = state.repos.get(id).ok().flatten().map(|repo| repo.alias).unwrap_or_default();
            events.push(serde_json::json!({
                "event": "backup.completed",
                "repository": r.repository,
                "alias": alias,
                "keyId": r.key,
                "startedAt": r.started_at,
                "endedAt": r.ended_at,
                "exitCode": r.exit_code,
                "wroteChanges": r.wrote,
                "timestamp": now,
            }));
        }
        let session = Session {
            key_id: r.key,
            started_at: r.started_at,
            ended_at: r.ended_at,
            exit_code: r.exit_code,
            client: r.client,
            wrote: r.wrote,
        };
        state.sessions.record(id, &session)?;
        let _ = std::fs::remove_file(&w.path);
        report.sessions += 1;
    }
    state.repos.flush().await?;
    // The health rules read the history before the sessions' points are in it.
    state.judge_health(changes).await?;
    // A history point for each repository whose folder was read: the figures after its backup.
    state.record_history(bw_api::history::HistoryOf::Repositories(&touched)).await?;
    if !recovered.is_empty() {
        let repos: Vec<LateRepo> = recovered
            .into_iter()
            .map(|r| LateRepo {
                alias: r.alias,
                repository_name: r.repository_name,
                last_save: r.last_save,
                note: None,
            })
            .collect();
        report.recovered = repos.len();
        let delivery = crate::alerts::send(state, AlertKind::Recovered, &repos, now).await;
        for (channel, delivered) in delivery.iter() {
            state.telemetry.alert_delivery(channel, delivered);
        }
    }
    if !events.is_empty() {
        // Sent after the figures are in, off the spool's path: a slow receiver holds up no read.
        let (state, config) = (state.clone(), state.config.clone());
        tokio::spawn(async move {
            for delivered in crate::alerts::post_events(&config, events).await {
                state.telemetry.alert_delivery("webhook", delivered);
            }
        });
    }
    tracing::info!(
        sessions = report.sessions,
        unknown = report.unknown,
        recovered = report.recovered,
        "sessions taken in"
    );
    Ok(report)
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
        _caller: Guard<Read>,
        #[oai(name = "repositoryName")] name: Path<String>,
        /// At most this many (1 to 100, default 50).
        limit: Query<Option<String>>,
    ) -> Answer<Json<SessionList>, { INVALID_BODY | NOT_FOUND }> {
        let limit = whole_number(limit.as_deref(), "limit", 1, MAX_LIMIT)?.unwrap_or(DEFAULT_LIMIT);
        let missing = || ApiError::NotFound(format!("No repository with name {}", name.0));
        let id =
            bw_host::pool::is_repo_name(&name).then(|| state.repos.id_of_name(&name)).flatten().ok_or_else(missing)?;
        let sessions = state.sessions.newest(id, limit)?.into_iter().map(SessionInfo::from).collect();
        Ok(Json(SessionList { sessions }))
    }
}

fn interval(state: &AppState) -> std::time::Duration {
    // The start settled `Auto`: on when the lines carry the recorder.
    match state.config.checks.sessions {
        bw_api::config::Sessions::On => state.config.checks.session_interval,
        bw_api::config::Sessions::Off | bw_api::config::Sessions::Auto => std::time::Duration::ZERO,
    }
}

fn scheduled(state: AppState) -> bw_api::registry::TaskFuture {
    Box::pin(async move { take_in(&state).await.map(|_| ()) })
}

/// `limit` is a string in the handler, so that a bad value gets the contract's 400 naming it;
/// the document says what it takes.
fn finish_document(doc: &mut serde_json::Value) {
    let path = "/paths/~1api~1v1~1repositories~1{repositoryName}~1sessions/get/parameters";
    let Some(params) = doc.pointer_mut(path).and_then(serde_json::Value::as_array_mut) else { return };
    for param in params.iter_mut().filter(|p| p["name"] == "limit") {
        param["schema"] = serde_json::json!({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT});
    }
}

bw_api::endpoint_plugin!("sessions", SessionsApi, SessionsApi, document = finish_document);
bw_api::task_plugin!("sessions", interval, scheduled);
