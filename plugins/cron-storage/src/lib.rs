//! The storage check: each repository's `storageUsed` in KiB, as `du -s -L` counts it. Runs on
//! `POST /api/cronjob/getStorageUsed`, `/api/v1/cron/storage`, and on its own every
//! `BW_STORAGE_INTERVAL`.

use bw_core::auth::{CronKey, CronKeyOrQuery, Guard};
use bw_core::body::CronSuccess;
use bw_core::refusals::{Answer, CONFLICT};
use bw_core::registry::TaskFuture;
use bw_core::scan::{scan_all, RepoScanner};
use bw_core::tags::CronTag as Tag;
use bw_core::telemetry::CheckRun;
use bw_core::{ApiResult, AppState};
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;

const TASK: &str = "cron-storage";

/// What one run did, for logs and tests.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StorageReport {
    pub scanned: usize,
    pub failed: usize,
}

/// One storage run. A second run while one is under way gets 409.
pub async fn run(state: &AppState) -> ApiResult<StorageReport> {
    let _run = state.start_run(TASK, "The storage used service is already running")?;
    let started = std::time::Instant::now();
    let result = check(state).await;
    state.telemetry.check_finished(
        "storage",
        CheckRun { duration: started.elapsed(), ended_at: state.clock.now(), succeeded: result.is_ok() },
    );
    result
}

async fn check(state: &AppState) -> ApiResult<StorageReport> {
    let results = scan_all(state, |s: &dyn RepoScanner, p| s.disk_usage_kib(p)).await;
    let mut report = StorageReport::default();
    let mut found = Vec::with_capacity(results.len());
    for (repo, result) in results {
        match result {
            Ok(kib) => {
                report.scanned += 1;
                found.push((repo.id, kib.unwrap_or(0)));
            }
            Err(e) => {
                report.failed += 1;
                tracing::warn!(repository = %repo.repository_name, error = %e, "storage check: repository not read; keeping its old figure");
            }
        }
    }
    // Write only the field this check owns, on the current record.
    state
        .repos
        .update_scans(found, |scan, _alert, kib| {
            scan.storage_used = kib;
            false
        })
        .await?;
    state.repos.flush().await?;
    bw_core::memory::release_free_memory_now_and_soon();
    tracing::info!(scanned = report.scanned, failed = report.failed, "storage check done");
    Ok(report)
}

async fn answer(state: &AppState) -> ApiResult<Json<CronSuccess>> {
    run(state).await?;
    Ok(Json(CronSuccess { success: "Storage cron has been executed.".into() }))
}

pub struct StorageApi;

#[OpenApi]
impl StorageApi {
    /// Retrieve storage of repositories
    #[oai(path = "/api/cronjob/getStorageUsed", method = "post", tag = "Tag::Cron", operation_id = "getStorageUsed")]
    async fn seed(&self, state: Data<&AppState>, _caller: Guard<CronKey>) -> Answer<Json<CronSuccess>, CONFLICT> {
        Ok(answer(&state).await?)
    }

    /// Retrieve storage of repositories
    #[oai(path = "/api/v1/cron/storage", method = "post", tag = "Tag::CronV1", operation_id = "runStorageCheck")]
    async fn v1(&self, state: Data<&AppState>, _caller: Guard<CronKeyOrQuery>) -> Answer<Json<CronSuccess>, CONFLICT> {
        Ok(answer(&state).await?)
    }

    /// Retrieve storage of repositories (with GET, as BorgWarehouse's crontab example calls it)
    #[oai(path = "/api/v1/cron/storage", method = "get", tag = "Tag::CronV1", operation_id = "runStorageCheckByGet")]
    async fn v1_get(
        &self,
        state: Data<&AppState>,
        _caller: Guard<CronKeyOrQuery>,
    ) -> Answer<Json<CronSuccess>, CONFLICT> {
        Ok(answer(&state).await?)
    }
}

bw_core::endpoint_plugin!("cron-storage", StorageApi, StorageApi);

fn scheduled(state: AppState) -> TaskFuture {
    Box::pin(async move { run(&state).await.map(|_| ()) })
}

bw_core::task_plugin!(TASK, |s| s.config.checks.storage_interval, scheduled);
