//! Verify jobs (contract: "History and health"): `borg check --repository-only` run by the
//! server on a repository's folder, by `POST /api/v1/repositories/{name}/verify` and every
//! `BW_VERIFY_INTERVAL` for each repository, `BW_VERIFY_CONCURRENCY` at a time.
//!
//! borg's `check` and a client's `create` both take the repository's exclusive lock, and a
//! client waits only a second for it (`--lock-wait 1`, borg's default) before its backup fails.
//! So a verify keeps out of a client's way:
//! - it does not start while a session is under way (the recorder's mark, on any storage host)
//!   or borg's lock is held, nor while this server compacts the repository;
//! - once started, it watches for a session's mark every 50 ms and, the moment one comes,
//!   stops borg with SIGTERM, on which borg releases its lock: the client, which starts borg
//!   serve after its mark and then asks for the lock, gets it. That verify counts as not run
//!   (no result, no alert), and runs again later.
//!
//! The result is kept as the repository's `lastVerify`; a failure sends an alert.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use bw_api::auth::{Guard, Update};
use bw_api::health::{HealthEvent, HealthKind};
use bw_api::refusals::{Answer, CONFLICT, NOT_FOUND};
use bw_api::{ApiError, ApiResult, AppState};
use bw_store::verify_results::LastVerify;
use poem::web::Data;
// Named `Path`: poem-openapi finds path parameters by that type name.
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use crate::maintenance::{borg_command, borg_folder, path_repo, session_under_way, BorgJob, Running};
use crate::tag::Tag;

/// How often a running verify looks for a client's session.
const WATCH_EVERY: Duration = Duration::from_millis(50);
/// How long borg has to stop after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// The most of borg's words kept in a result.
const MESSAGE_MAX: usize = 1000;

/// A repository's last verify.
#[derive(Object, Debug, Clone, PartialEq, serde::Serialize)]
#[oai(rename = "LastVerify")]
pub struct VerifyResult {
    /// Unix seconds of its end.
    pub at: i64,
    /// True when `borg check --repository-only` found nothing wrong.
    pub ok: bool,
    /// What borg said when it found something; empty when it passed.
    pub message: String,
}

impl From<LastVerify> for VerifyResult {
    fn from(v: LastVerify) -> Self {
        VerifyResult { at: v.at, ok: v.ok, message: v.message }
    }
}

/// Why a verify did not run (the route's 409).
#[derive(Debug, PartialEq, Eq)]
pub enum NotRun {
    /// Another borg job of this server runs on the repository.
    Job(BorgJob),
    /// A client's session is under way, or borg's lock is held.
    InUse,
    /// A client came while it ran: borg was stopped to let it in.
    Yielded,
    /// `BW_VERIFY_CONCURRENCY` verifies run already on this server.
    TooMany,
}

impl NotRun {
    fn message(&self) -> &'static str {
        match self {
            NotRun::Job(job) => job.busy(),
            NotRun::InUse => "The repository is in use by a client; the verify runs when it is free",
            NotRun::Yielded => "A client started a session; the verify stopped to let it in and will run again later",
            NotRun::TooMany => {
                "As many verifies as BW_VERIFY_CONCURRENCY allows are running on this server; ask again when one ends"
            }
        }
    }
}

fn in_use(state: &AppState, name: &str, folder: &std::path::Path) -> bool {
    session_under_way(state, name) || folder.join("lock.exclusive").exists()
}

/// The verifies running, per server (its data folder: the tests run several servers in one
/// process), whether asked for through the API or scheduled: `BW_VERIFY_CONCURRENCY` at most,
/// since each `borg check` reads a whole repository.
static VERIFIES_RUNNING: Mutex<BTreeMap<PathBuf, usize>> = Mutex::new(BTreeMap::new());

/// One of a server's `BW_VERIFY_CONCURRENCY` verifies, until dropped.
struct VerifySlot(PathBuf);

impl VerifySlot {
    fn take(state: &AppState) -> Option<VerifySlot> {
        let limit = state.config.group::<crate::verify_settings::VerifySettings>().concurrency.max(1) as usize;
        let server = state.config.server.data_dir.clone();
        let mut running = VERIFIES_RUNNING.lock().unwrap_or_else(|p| p.into_inner());
        let count = running.entry(server.clone()).or_default();
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(VerifySlot(server))
    }
}

impl Drop for VerifySlot {
    fn drop(&mut self) {
        let mut running = VERIFIES_RUNNING.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = running.get_mut(&self.0) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                running.remove(&self.0);
            }
        }
    }
}

/// Verifies the repository `name` now, unless that would get in a client's way.
pub async fn verify(state: &AppState, id: u64, name: &str) -> ApiResult<Result<LastVerify, NotRun>> {
    let folder = borg_folder(state, name)?;
    let _running = match Running::start(name, BorgJob::Verify) {
        Ok(r) => r,
        Err(job) => return Ok(Err(NotRun::Job(job))),
    };
    let Some(_slot) = VerifySlot::take(state) else {
        return Ok(Err(NotRun::TooMany));
    };
    if in_use(state, name, &folder) {
        return Ok(Err(NotRun::InUse));
    }
    let mut child = borg_command(state, &["check", "--repository-only", "--lock-wait", "0"], &folder)
        .env("BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK", "yes")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| ApiError::internal(format!("cannot run borg: {e}")))?;
    let stderr = child.stderr.take();
    let words = tokio::spawn(async move {
        let mut text = String::new();
        if let Some(mut err) = stderr {
            let _ = tokio::io::AsyncReadExt::read_to_string(&mut err, &mut text).await;
        }
        text
    });
    let status = loop {
        tokio::select! {
            status = child.wait() => break status.map_err(|e| ApiError::internal(format!("borg check: {e}")))?,
            _ = tokio::time::sleep(WATCH_EVERY) => {
                // Quietly, every 50 ms: the check before the start has logged an unreadable spool.
                if bw_host::session_spool::active::under_way(&state.config.session_spool(), name).unwrap_or(false) {
                    stop(&mut child).await;
                    tracing::info!(repository = %name, "verify stopped: a client started a session");
                    return Ok(Err(NotRun::Yielded));
                }
            }
        }
    };
    let words = words.await.unwrap_or_default();
    let said = words.trim();
    // borg could not take the lock: a client took it first. Not a result.
    if !status.success() && said.contains("Failed to create/acquire the lock") {
        return Ok(Err(NotRun::InUse));
    }
    let message = if status.success() { String::new() } else { failure_message(status, said) };
    let result = LastVerify { at: state.clock.now(), ok: status.success(), message };
    keep_result(state, id, name, &result)?;
    Ok(Ok(result))
}

/// What a failed check said, within [`MESSAGE_MAX`] bytes.
fn failure_message(status: std::process::ExitStatus, said: &str) -> String {
    let mut m =
        format!("borg check exited with {}: {said}", status.code().map_or("a signal".into(), |c| c.to_string()));
    if m.len() > MESSAGE_MAX {
        let mut cut = MESSAGE_MAX;
        while !m.is_char_boundary(cut) {
            cut -= 1;
        }
        m.truncate(cut);
    }
    m
}

/// Keeps a verify's result (the lists show it), and raises the health alert of a failed one.
fn keep_result(state: &AppState, id: u64, name: &str, result: &LastVerify) -> ApiResult<()> {
    state.verifies.set(id, result.clone())?;
    state.repos.answers_changed();
    if result.ok {
        tracing::info!(repository = %name, "verify passed");
        return Ok(());
    }
    tracing::warn!(repository = %name, message = %result.message, "verify failed");
    let (alias, last_save) =
        state.repos.summary(id, result.at, |s| (s.alias.to_string(), s.last_save)).unwrap_or_default();
    state.queue_health_event(HealthEvent {
        kind: HealthKind::VerifyFailed,
        repository_name: name.to_string(),
        alias,
        last_save,
        message: format!(
            "{} Run `borg check --repository-only` on it to see the damage; `borg check --repair` (after a copy \
             of the folder) can mend the index and segments, and the client's next backup restores what is \
             missing from its files.",
            result.message
        ),
    });
    Ok(())
}

/// SIGTERM, on which borg releases its lock and exits; SIGKILL after [`STOP_GRACE`].
async fn stop(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id().and_then(|p| rustix::process::Pid::from_raw(p as i32)) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    if tokio::time::timeout(STOP_GRACE, child.wait()).await.is_err() {
        let _ = child.kill().await;
    }
}

/// The scheduled verify: every repository whose last verify is older than
/// `BW_VERIFY_INTERVAL` (or that has none), oldest first, `BW_VERIFY_CONCURRENCY` at a time.
/// One in use is tried again at the next run.
pub async fn run_due(state: &AppState) -> ApiResult<usize> {
    let _run = state.start_run("verify", "The verify jobs are already running")?;
    let now = state.clock.now();
    let settings = state.config.group::<crate::verify_settings::VerifySettings>();
    let interval = settings.interval.as_secs() as i64;
    let mut due: Vec<(i64, u64, String)> = Vec::new();
    state.repos.summaries(now, |s| {
        if s.archived {
            return;
        }
        let last = state.verifies.get(s.id).map_or(i64::MIN, |v| v.at);
        if last == i64::MIN || now - last >= interval {
            due.push((last, s.id, s.name.to_string()));
        }
    });
    due.sort_unstable();
    let concurrency = settings.concurrency.max(1) as usize;
    let mut verified = 0;
    for batch in due.chunks(concurrency) {
        let runs = batch.iter().map(|(_, id, name)| async move {
            // A repository no client has written to yet has nothing to verify.
            match verify(state, *id, name).await {
                Ok(Ok(_)) => 1,
                Ok(Err(not_run)) => {
                    tracing::debug!(repository = %name, why = not_run.message(), "verify not run");
                    0
                }
                Err(e) => {
                    tracing::debug!(repository = %name, error = ?e, "verify not run");
                    0
                }
            }
        });
        verified += futures_util::future::join_all(runs).await.into_iter().sum::<usize>();
    }
    Ok(verified)
}

pub struct VerifyApi;

#[OpenApi]
impl VerifyApi {
    /// Verify a repository now (`borg check --repository-only`)
    ///
    /// Answers the result, also kept as the repository's `lastVerify`; a failure sends an
    /// alert. 409 while another verify or a compaction runs on it, while a client uses it,
    /// when a client came during the verify (which then stopped to let it in), or while
    /// `BW_VERIFY_CONCURRENCY` verifies run on the server already.
    #[oai(
        path = "/api/v1/repositories/:repositoryName/verify",
        method = "post",
        tag = "Tag::RepositoriesV1",
        operation_id = "verifyRepository"
    )]
    async fn verify(
        &self,
        state: Data<&AppState>,
        caller: Guard<Update>,
        #[oai(name = "repositoryName")] name: Path<String>,
    ) -> Answer<Json<VerifyResult>, { NOT_FOUND | CONFLICT }> {
        let repo = path_repo(&name, &caller.principal).get(&state)?;
        match verify(&state, repo.id, &repo.repository_name).await? {
            Ok(result) => {
                let entry = caller.audit(
                    state.clock.now(),
                    "repository.verify",
                    &repo.repository_name,
                    serde_json::Value::Null,
                );
                crate::maintenance::record(&state, entry);
                Ok(Json(result.into()))
            }
            Err(not_run) => Err(ApiError::Conflict(not_run.message().into()).into()),
        }
    }
}

/// Every minute while `BW_VERIFY_INTERVAL` is set and sessions are on: without the recorder's
/// marks a verify could not get out of a client's way.
fn interval(state: &AppState) -> Duration {
    let on = state.config.group::<crate::verify_settings::VerifySettings>().interval > Duration::ZERO
        && state.config.checks.sessions == bw_api::config::Sessions::On;
    if on {
        Duration::from_secs(60)
    } else {
        Duration::ZERO
    }
}

fn scheduled(state: AppState) -> bw_api::registry::TaskFuture {
    Box::pin(async move { run_due(&state).await.map(|_| ()) })
}

bw_api::task_plugin!("verify", interval, scheduled);
