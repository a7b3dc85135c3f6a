//! The status check: each repository's last backup, its status, and one alert listing the
//! repositories that are late. Runs on `POST /api/cronjob/checkStatus`, `/api/v1/cron/status`,
//! and on its own every `BW_STATUS_INTERVAL`.

pub mod alerts;

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

pub use alerts::{Delivery, LateRepo};

const TASK: &str = "cron-status";
/// A late repository is alerted about again only after this many seconds.
pub const ALERT_REPEAT_AFTER: i64 = 90_000;

/// What one run did, for logs and tests.
#[derive(Debug, Default)]
pub struct StatusReport {
    pub scanned: usize,
    pub failed: usize,
    pub late: Vec<LateRepo>,
    pub delivery: Delivery,
}

/// One status run. A second run while one is under way gets 409.
pub async fn run(state: &AppState) -> ApiResult<StatusReport> {
    let _run = state.start_run(TASK, "The check status service is already running")?;
    let started = std::time::Instant::now();
    let result = check(state, started).await;
    state.telemetry.check_finished(
        "status",
        CheckRun { duration: started.elapsed(), ended_at: state.clock.now(), succeeded: result.is_ok() },
    );
    result
}

async fn check(state: &AppState, started: std::time::Instant) -> ApiResult<StatusReport> {
    let results = scan_all(state, |s: &dyn RepoScanner, p| s.last_save(p)).await;
    let scanned_in = started.elapsed();
    let now = state.clock.now();
    let mut report = StatusReport::default();
    let mut found_all = Vec::with_capacity(results.len());
    for (repo, result) in results {
        match result {
            Ok(found) => {
                report.scanned += 1;
                found_all.push((repo.id, found));
            }
            Err(e) => {
                report.failed += 1;
                tracing::warn!(repository = %repo.repository_name, error = %e, "status check: repository not read; keeping its old values");
            }
        }
    }
    // Decide on the current figures, so an edit of `alert` made during the scan counts, and
    // write only the fields this check owns.
    let late = state
        .repos
        .update_scans(found_all, |scan, alert, found| {
            if let Some(t) = found {
                scan.last_save = t;
            }
            scan.status = bw_core::repo_store::is_on_time(scan.last_save, alert, now);
            // This server's own status from now on, not the one an import brought.
            scan.imported_status = None;
            let quiet = matches!(scan.last_status_alert_send, Some(t) if now - t < ALERT_REPEAT_AFTER);
            let late = !scan.status && alert != 0 && !quiet;
            if late {
                scan.last_status_alert_send = Some(now);
            }
            late
        })
        .await?;
    let late: Vec<LateRepo> = late
        .into_iter()
        .map(|r| LateRepo { alias: r.alias, repository_name: r.repository_name, last_save: r.last_save })
        .collect();
    report.late = late;
    state.repos.flush().await?;
    bw_core::memory::release_free_memory_now_and_soon();
    if !report.late.is_empty() {
        report.delivery = alerts::send(&state.config, &report.late, now).await;
        for (channel, delivered) in report.delivery.iter() {
            state.telemetry.alert_delivery(channel, delivered);
        }
    }
    tracing::info!(
        scanned = report.scanned,
        failed = report.failed,
        late = report.late.len(),
        read_ms = scanned_in.as_millis() as u64,
        total_ms = started.elapsed().as_millis() as u64,
        "status check done"
    );
    Ok(report)
}

async fn answer(state: &AppState) -> ApiResult<Json<CronSuccess>> {
    run(state).await?;
    Ok(Json(CronSuccess { success: "Status cron has been executed.".into() }))
}

pub struct StatusApi;

#[OpenApi]
impl StatusApi {
    /// Check status and send alerts
    #[oai(path = "/api/cronjob/checkStatus", method = "post", tag = "Tag::Cron", operation_id = "checkStatus")]
    async fn seed(&self, state: Data<&AppState>, _caller: Guard<CronKey>) -> Answer<Json<CronSuccess>, CONFLICT> {
        Ok(answer(&state).await?)
    }

    /// Check status and send alerts
    #[oai(path = "/api/v1/cron/status", method = "post", tag = "Tag::CronV1", operation_id = "runStatusCheck")]
    async fn v1(&self, state: Data<&AppState>, _caller: Guard<CronKeyOrQuery>) -> Answer<Json<CronSuccess>, CONFLICT> {
        Ok(answer(&state).await?)
    }

    /// Check status and send alerts (with GET, as BorgWarehouse's crontab example calls it)
    #[oai(path = "/api/v1/cron/status", method = "get", tag = "Tag::CronV1", operation_id = "runStatusCheckByGet")]
    async fn v1_get(
        &self,
        state: Data<&AppState>,
        _caller: Guard<CronKeyOrQuery>,
    ) -> Answer<Json<CronSuccess>, CONFLICT> {
        Ok(answer(&state).await?)
    }
}

bw_core::endpoint_plugin!("cron-status", StatusApi, StatusApi);

fn scheduled(state: AppState) -> TaskFuture {
    Box::pin(async move { run(&state).await.map(|_| ()) })
}

bw_core::task_plugin!(TASK, |s| s.config.checks.status_interval, scheduled);
