//! The storage check: each repository's `storageUsed` in KiB, as `du -s -L` counts it. Runs on
//! `POST /api/cronjob/getStorageUsed`, `/api/v1/cron/storage`, and on its own every
//! `BW_STORAGE_INTERVAL`.

use bw_api::checks::{read_or_log, Check};
use bw_api::health::StorageChange;
use bw_api::tags::CronTag as Tag;
use bw_api::{ApiResult, AppState};
use bw_host::folder_scan::RepoScanner;

const CHECK: Check = Check {
    task: "cron-storage",
    label: "storage",
    busy: "The storage used service is already running",
    done: "Storage cron has been executed.",
};

/// What one run did, for logs and tests.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StorageReport {
    pub scanned: usize,
    pub failed: usize,
}

/// One storage run. A second run while one is under way gets 409.
pub async fn run(state: &AppState) -> ApiResult<StorageReport> {
    CHECK.run(state, |_| check(state)).await
}

async fn check(state: &AppState) -> ApiResult<StorageReport> {
    let results = state.scan_all(|s: &dyn RepoScanner, p| s.disk_usage_kib(p)).await;
    let (read, failed) = read_or_log(&CHECK, results);
    let report = StorageReport { scanned: read.len(), failed };
    let found = read.into_iter().map(|(id, kib)| (id, (id, kib.unwrap_or(0)))).collect();
    // Write only the field this check owns, on the current record.
    let mut changes = Vec::new();
    state
        .repos
        .update_scans(found, |scan, _alert, (id, kib)| {
            if kib != scan.storage_used {
                changes.push(StorageChange { id, before: scan.storage_used, after: kib });
            }
            scan.storage_used = kib;
            false
        })
        .await?;
    state.repos.flush().await?;
    state.figures_changed(changes, bw_api::history::HistoryOf::Run).await?;
    bw_store::memory::release_free_memory_now_and_soon();
    tracing::info!(scanned = report.scanned, failed = report.failed, "storage check done");
    Ok(report)
}

bw_api::check_plugin!(
    StorageApi,
    CHECK,
    run,
    interval = |s| s.config.checks.storage_interval,
    summary = "Retrieve storage of repositories",
    by_get = "Retrieve storage of repositories (with GET, as BorgWarehouse's crontab example calls it)",
    bw2 = ("/api/cronjob/getStorageUsed", "getStorageUsed"),
    v1 = ("/api/v1/cron/storage", "runStorageCheck", "runStorageCheckByGet"),
);
