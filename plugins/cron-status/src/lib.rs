//! The status check: each repository's last backup, its status, and one alert listing the
//! repositories that are late (sent by the alert plugin, `plugins/alerts`). Runs on `POST /api/cronjob/checkStatus`, `/api/v1/cron/status`,
//! and on its own every `BW_STATUS_INTERVAL`.

use bw_api::checks::{read_or_log, Check};
use bw_api::tags::CronTag as Tag;
use bw_api::{ApiResult, AppState};
use bw_host::folder_scan::RepoScanner;

pub use bw_api::alert::{Delivery, LateRepo};

const CHECK: Check = Check {
    task: "cron-status",
    label: "status",
    busy: "The check status service is already running",
    done: "Status cron has been executed.",
};
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
    CHECK.run(state, |started| check(state, started)).await
}

async fn check(state: &AppState, started: std::time::Instant) -> ApiResult<StatusReport> {
    let results = state.scan_all(|s: &dyn RepoScanner, p| s.last_save(p)).await;
    let scanned_in = started.elapsed();
    let now = state.clock.now();
    let (found_all, failed) = read_or_log(&CHECK, results);
    let mut report = StatusReport { scanned: found_all.len(), failed, ..StatusReport::default() };
    // Decide on the current figures, so an edit of `alert` made during the scan counts, and
    // write only the fields this check owns.
    let late = state
        .repos
        .update_scans(found_all, |scan, alert, found| {
            if let Some(t) = found {
                scan.last_save = t;
            }
            scan.status = bw_store::repo_store::is_on_time(scan.last_save, alert, now);
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
        .map(|r| LateRepo { alias: r.alias, repository_name: r.repository_name, last_save: r.last_save, note: None })
        .collect();
    report.late = late;
    state.repos.flush().await?;
    // No storage figure changed: the health rules have nothing to judge.
    state.figures_changed(Vec::new(), bw_api::history::HistoryOf::Run).await?;
    bw_store::memory::release_free_memory_now_and_soon();
    if !report.late.is_empty() {
        report.delivery = state.send_alert(bw_api::alert::AlertKind::Late, &report.late, now).await;
    }
    // Late as the history and /metrics count it; `alerted` are those whose alert went now
    // (a late repository is alerted again only after ALERT_REPEAT_AFTER).
    let mut late_now = 0usize;
    state.repos.summaries(now, |s| late_now += usize::from(s.late()));
    tracing::info!(
        scanned = report.scanned,
        failed = report.failed,
        late = late_now,
        alerted = report.late.len(),
        read_ms = scanned_in.as_millis() as u64,
        total_ms = started.elapsed().as_millis() as u64,
        "status check done"
    );
    Ok(report)
}

bw_api::check_plugin!(
    StatusApi,
    CHECK,
    run,
    interval = |s| s.config.checks.status_interval,
    summary = "Check status and send alerts",
    by_get = "Check status and send alerts (with GET, as BorgWarehouse's crontab example calls it)",
    bw2 = ("/api/cronjob/checkStatus", "checkStatus"),
    v1 = ("/api/v1/cron/status", "runStatusCheck", "runStatusCheckByGet"),
);
