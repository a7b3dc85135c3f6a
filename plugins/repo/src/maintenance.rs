//! BorgWarehouse 3.x's maintenance routes on the v1 paths: archive, compact, break-lock.
//!
//! `compact` and `break-lock` run the real `borg` on the repository's folder, as this server's
//! own user, which owns the borg home. A folder that another user owns is left alone (409): the
//! files borg would write there as this user would lock the client out.
//!
//! Neither may harm a client's backup. While a client's session is under way (the recorder's
//! mark) both answer 409 at once: break-lock would pull the lock from under the live backup
//! (borg then dies with "exclusive lock should exist here"), and compact would wait out borg's
//! lock timeout only to fail. A lock without a live session is a stale one; compact answers
//! 409 for it too, and break-lock is what releases it.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::sync::Mutex;

use bw_api::auth::{Guard, Update};
use bw_api::body::{JsonRequest, Message};
use bw_api::body_fields::{Checked, Refusals};
use bw_api::refusals::{Answer, CONFLICT, DISABLED, INVALID_BODY, NOT_FOUND};
use bw_api::{ApiError, ApiResult, AppState};
use bw_store::store_error::StoreError;
use poem::web::Data;
// Named `Path`: poem-openapi finds path parameters by that type name.
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use crate::fields::{Archived, Flag};
use crate::path_repo::PathRepo;
use crate::tag::Tag;

/// Body of the archive route.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct ArchiveBody {
    /// `true` archives (the client can no longer connect), `false` restores the line.
    pub archived: Checked<Flag<Archived>>,
}

/// BorgWarehouse's own answer to any archive body but `{"archived": true|false}`: 400, not the
/// 422 of add and edit.
const ARCHIVE_REFUSED: Refusals = Refusals {
    not_an_object: |_| ApiError::BadRequest(ARCHIVED_BOOLEAN.into()),
    refused: |_| ApiError::BadRequest(ARCHIVED_BOOLEAN.into()),
    unknown_key: |_, _| String::new(),
    required_first: true,
};

const ARCHIVED_BOOLEAN: &str = "archived must be a boolean";

/// The server's own borg jobs on a repository (compact, verify): one at a time per repository,
/// and no break-lock under one.
static RUNNING: Mutex<Option<HashMap<String, BorgJob>>> = Mutex::new(None);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BorgJob {
    Compact,
    Verify,
}

impl BorgJob {
    /// The contract's 409 while this job runs.
    pub(crate) fn busy(self) -> &'static str {
        match self {
            BorgJob::Compact => "A compaction is already running for this repository",
            BorgJob::Verify => "A verify is already running for this repository",
        }
    }
}

/// Marks a job as running on a repository until dropped.
pub(crate) struct Running(String);

impl Running {
    /// Starts `job` on `name`, unless a job runs there: then the one that runs.
    pub(crate) fn start(name: &str, job: BorgJob) -> Result<Running, BorgJob> {
        let mut map = RUNNING.lock().unwrap_or_else(|p| p.into_inner());
        let map = map.get_or_insert_with(HashMap::new);
        if let Some(&other) = map.get(name) {
            return Err(other);
        }
        map.insert(name.to_string(), job);
        Ok(Running(name.to_string()))
    }

    fn running(name: &str) -> Option<BorgJob> {
        RUNNING.lock().unwrap_or_else(|p| p.into_inner()).as_ref().and_then(|m| m.get(name).copied())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(map) = RUNNING.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            map.remove(&self.0);
        }
    }
}

/// A repository of this section's paths, with BorgWarehouse 3.x's 404 for them.
pub(crate) fn path_repo(name: &str, caller: &bw_api::auth::Principal) -> PathRepo {
    PathRepo::name_or(name, format!("Repository with name {name} not found"), caller)
}

/// The folder borg works on, when borg can safely work on it: initialised by a client, and
/// owned by this server's user.
pub(crate) fn borg_folder(state: &AppState, name: &str) -> ApiResult<std::path::PathBuf> {
    let folder = state.repos.pool().repo_path(name);
    let no_data = || ApiError::Conflict(format!("Repository {name} has no borg data yet"));
    let meta = match std::fs::metadata(&folder) {
        Ok(m) if m.is_dir() => m,
        Ok(_) => return Err(no_data()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(no_data()),
        Err(e) => return Err(StoreError::io(&folder, e).into()),
    };
    if !folder.join("config").is_file() {
        return Err(no_data());
    }
    let me = bw_host::users::effective_uid().map_err(|e| StoreError::io("/proc/self", e))?;
    if meta.uid() != me {
        return Err(ApiError::Conflict(format!(
            "Repository {name} is owned by {}, not by this server's user",
            bw_host::users::user_name(meta.uid())
        )));
    }
    Ok(folder)
}

/// The 409 while a client's session is under way on the repository (the recorder's mark, on
/// any storage host); `None` when there is none.
fn client_connected(state: &AppState, name: &str, what: &str) -> Option<ApiError> {
    session_under_way(state, name).then(|| {
        ApiError::Conflict(format!(
            "The repository is in use by a client (a backup or another borg command is under way); {what}"
        ))
    })
}

/// Whether a client's session of `name` is under way (the recorder's mark, on any storage
/// host). A spool that cannot be read is logged and counts as none: the job's own lock wait
/// (borg's) still keeps it from a client's lock.
pub(crate) fn session_under_way(state: &AppState, name: &str) -> bool {
    let spool = state.config.session_spool();
    bw_host::session_spool::active::under_way(&spool, name).unwrap_or_else(|e| {
        tracing::warn!(spool = %spool.display(), error = %e, "cannot read the sessions under way");
        false
    })
}

/// borg's words when another process holds the repository's lock.
const LOCK_HELD: &str = "Failed to create/acquire the lock";

/// `borg ARGS FOLDER` as this server runs it on a repository's folder, not started.
pub(crate) fn borg_command(state: &AppState, args: &[&str], folder: &std::path::Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("borg");
    cmd.args(args)
        .arg(folder)
        // borg's own cache and security files stay in the server's data folder.
        .env("BORG_BASE_DIR", state.config.server.data_dir.join("borg"))
        .env("BORG_RELOCATED_REPO_ACCESS_IS_OK", "yes")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// Runs `borg ARGS FOLDER`; its error output goes to the log, never to the client. A lock
/// that another process holds is the client's 409 `locked`.
async fn borg(state: &AppState, args: &[&str], folder: &std::path::Path, locked: &str) -> ApiResult<()> {
    let out = borg_command(state, args, folder)
        .output()
        .await
        .map_err(|e| ApiError::internal(format!("cannot run borg: {e}")))?;
    let said = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        Ok(())
    } else if said.contains(LOCK_HELD) {
        tracing::info!(folder = %folder.display(), borg = %said.trim(), "borg {} put off: the lock is held", args[0]);
        Err(ApiError::Conflict(locked.to_string()))
    } else {
        Err(ApiError::internal(format!(
            "borg {} {} exited with {}: {}",
            args.join(" "),
            folder.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

pub struct MaintenanceApi;

#[OpenApi]
impl MaintenanceApi {
    /// Archive or unarchive a repository
    ///
    /// An archived repository keeps its data and its record, but its client can no longer
    /// connect; edits are refused and the checks skip it. Unarchiving restores its line.
    #[oai(
        path = "/api/v1/repositories/:repositoryName/archive",
        method = "post",
        tag = "Tag::RepositoriesV1",
        operation_id = "archiveRepository"
    )]
    async fn archive(
        &self,
        state: Data<&AppState>,
        caller: Guard<Update>,
        #[oai(name = "repositoryName")] name: Path<String>,
        body: JsonRequest<ArchiveBody>,
    ) -> Answer<Json<Message>, { INVALID_BODY | NOT_FOUND }> {
        let path = path_repo(&name, &caller.principal);
        path.key(&state)?;
        let archived = body.fields_with(&ARCHIVE_REFUSED)?.parse()?.archived.into_inner();
        let audit =
            caller.audit(state.clock.now(), "repository.archive", &name, serde_json::json!({"archived": archived}));
        let repo =
            state.repos.set_archived(path.key(&state)?, archived, Some(audit)).await.map_err(|e| path.answer(e))?;
        let done = if archived { "archived" } else { "unarchived" };
        tracing::info!(repository = %repo.repository_name, "repository {done}");
        Ok(Json(Message { message: format!("Repository {} has been {done}", repo.repository_name) }))
    }

    /// Compact a repository (frees the space of deleted archives)
    ///
    /// 409 while a client's session is under way, or while borg's lock is held.
    #[oai(
        path = "/api/v1/repositories/:repositoryName/compact",
        method = "post",
        tag = "Tag::RepositoriesV1",
        operation_id = "compactRepository"
    )]
    async fn compact(
        &self,
        state: Data<&AppState>,
        caller: Guard<Update>,
        #[oai(name = "repositoryName")] name: Path<String>,
    ) -> Answer<Json<Message>, { DISABLED | NOT_FOUND | CONFLICT }> {
        let repo = path_repo(&name, &caller.principal).get(&state)?;
        if state.config.repos.disable_compact {
            return Err(ApiError::Forbidden("Compaction is disabled on this server".into()).into());
        }
        let folder = borg_folder(&state, &repo.repository_name)?;
        let _running = Running::start(&repo.repository_name, BorgJob::Compact)
            .map_err(|running| ApiError::Conflict(running.busy().into()))?;
        if let Some(busy) = client_connected(&state, &repo.repository_name, "compact it when the client is done") {
            return Err(busy.into());
        }
        let locked = "The repository is locked: a client is using it, or a client that is gone left its lock (see \
                      break-lock); compact it when it is free";
        borg(&state, &["compact", "--lock-wait", "10"], &folder, locked).await?;
        tracing::info!(repository = %repo.repository_name, "repository compacted");
        record(
            &state,
            caller.audit(state.clock.now(), "repository.compact", &repo.repository_name, serde_json::Value::Null),
        );
        Ok(Json(Message { message: format!("Repository {} has been compacted", repo.repository_name) }))
    }

    /// Release a stale lock on a repository
    ///
    /// For a lock left by a client that is gone (a killed backup, a lost connection). While a
    /// client's session is under way the lock is live, and this answers 409 without touching
    /// it: pulling it would break that backup.
    #[oai(
        path = "/api/v1/repositories/:repositoryName/break-lock",
        method = "post",
        tag = "Tag::RepositoriesV1",
        operation_id = "breakRepositoryLock"
    )]
    async fn break_lock(
        &self,
        state: Data<&AppState>,
        caller: Guard<Update>,
        #[oai(name = "repositoryName")] name: Path<String>,
    ) -> Answer<Json<Message>, { NOT_FOUND | CONFLICT }> {
        let repo = path_repo(&name, &caller.principal).get(&state)?;
        let folder = borg_folder(&state, &repo.repository_name)?;
        match Running::running(&repo.repository_name) {
            Some(BorgJob::Compact) => {
                return Err(ApiError::Conflict("A compaction is running for this repository".into()).into())
            }
            Some(BorgJob::Verify) => {
                return Err(ApiError::Conflict("A verify is running for this repository".into()).into())
            }
            None => {}
        }
        let live = "break-lock is only for a stale lock, left by a client that is gone; a live backup's lock is \
                    released when it ends";
        if let Some(busy) = client_connected(&state, &repo.repository_name, live) {
            return Err(busy.into());
        }
        borg(&state, &["break-lock"], &folder, "The repository's lock is being taken; try again").await?;
        tracing::info!(repository = %repo.repository_name, "repository lock released");
        record(
            &state,
            caller.audit(state.clock.now(), "repository.break-lock", &repo.repository_name, serde_json::Value::Null),
        );
        Ok(Json(Message { message: format!("Lock on repository {} has been released", repo.repository_name) }))
    }
}

/// Records what changed nothing in the store (a borg job): alone, after it ran. A failed write
/// is logged; the job's answer stands (it ran).
pub(crate) fn record(state: &AppState, entry: bw_store::audit_log::AuditEntry) {
    if let Err(e) = state.audit.record(&entry) {
        tracing::error!(action = %entry.action, error = %e, "the audit entry was not written");
    }
}

#[cfg(test)]
mod tests {
    use super::{BorgJob, Running};

    #[test]
    fn one_borg_job_at_a_time_per_repository() {
        let first = Running::start("aaaaaaaa", BorgJob::Compact).expect("the first starts");
        assert_eq!(
            Running::start("aaaaaaaa", BorgJob::Verify).err(),
            Some(BorgJob::Compact),
            "a verify under a compaction"
        );
        assert_eq!(Running::running("aaaaaaaa"), Some(BorgJob::Compact));
        let other = Running::start("bbbbbbbb", BorgJob::Verify).expect("another repository is not held up");
        drop(first);
        assert_eq!(Running::running("aaaaaaaa"), None, "a finished compaction still counts");
        assert!(Running::start("aaaaaaaa", BorgJob::Compact).is_ok());
        drop(other);
    }
}
