//! Taking sessions in. The session recorder drops a record into the spool when a client's
//! `borg serve` ends; every `BW_SESSION_INTERVAL` this task takes the waiting records in, in
//! four steps: read the spool, apply the figures (each named repository's folder read once:
//! last backup, disk usage), keep the sessions (and remove their records), notify (recoveries,
//! `backup.completed`). Records wait in the spool while the server is stopped; the periodic
//! checks stay the safety net for anything a record does not say.

use bw_api::alert::{AlertKind, LateRepo};
use bw_api::health::StorageChange;
use bw_api::history::HistoryOf;
use bw_api::{ApiError, ApiResult, AppState};
use bw_host::folder_scan::{scan_all, RepoScanner, ScanTarget};
use bw_host::session_spool::{waiting, SessionRecord, Waiting};
use bw_store::repo_store::Flagged;
use bw_store::session_store::Session;
use bw_store::store_error::StoreError;

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

/// A record of a repository that exists: its id, what it says, and its file in the spool.
type Known = (u64, SessionRecord, Waiting);

/// Takes in every record waiting in the spool.
pub async fn take_in(state: &AppState) -> ApiResult<TakenIn> {
    let mut report = TakenIn::default();
    let known = read_spool(state, &mut report).await?;
    if known.is_empty() {
        return Ok(report);
    }
    let now = state.clock.now();
    let figures = read_folders(state, &known).await;
    let touched: Vec<u64> = figures.iter().map(|(id, _)| *id).collect();
    let (recovered, changes) = apply_figures(state, figures, now).await?;
    let mut names: Vec<String> = known.iter().map(|(_, r, _)| r.repository.clone()).collect();
    names.sort_unstable();
    names.dedup();
    let events = keep_sessions(state, known, now, &mut report).await?;
    state.repos.flush().await?;
    // A history point for each repository whose folder was read: the figures after its backup.
    state.figures_changed(changes, HistoryOf::Repositories(&touched)).await?;
    for name in names {
        state.events.publish(bw_api::events::Event::new("repository", Some(name), now));
    }
    report.recovered = recovered.len();
    notify(state, recovered, events, now).await;
    tracing::info!(
        sessions = report.sessions,
        unknown = report.unknown,
        recovered = report.recovered,
        "sessions taken in"
    );
    Ok(report)
}

/// Step 1: the records waiting, of repositories that exist. A file that is no record is set
/// aside; a record of a repository deleted since is removed.
async fn read_spool(state: &AppState, report: &mut TakenIn) -> ApiResult<Vec<Known>> {
    let spool = state.config.session_spool();
    let found = tokio::task::spawn_blocking(move || waiting(&spool)).await.map_err(ApiError::internal)?;
    let found = found.map_err(|e| StoreError::io(state.config.session_spool(), e))?;
    let mut known = Vec::new();
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
    Ok(known)
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

/// Each repository's folder read once, however many sessions it had, by the checks' readers:
/// off the runtime's threads, and a read that hangs (a dead mount) is given up after
/// `BW_SCAN_TIMEOUT`, its repository keeping its figures.
async fn read_folders(state: &AppState, known: &[Known]) -> Vec<(u64, Figures)> {
    let mut targets: Vec<ScanTarget> =
        known.iter().map(|(id, r, _)| ScanTarget { id: *id, repository_name: r.repository.clone() }).collect();
    targets.sort_unstable_by_key(|t| t.id);
    targets.dedup_by_key(|t| t.id);
    let (scanner, timeout) = (state.scanner.clone(), state.config.checks.scan_timeout);
    let read = scan_all(targets, state.repos.pool(), scanner, timeout, |s, p| Ok(read_folder(s, p))).await;
    read.into_iter()
        .filter_map(|(target, result)| match result {
            Ok(f) => Some((target.id, f)),
            Err(e) => {
                tracing::warn!(repository = %target.repository_name, error = %e, "session: folder not read");
                None
            }
        })
        .collect()
}

/// Step 2: the figures written as the checks write them; returns the repositories that were
/// late, alerted about, and are on time again, and the changes of storage used.
async fn apply_figures(
    state: &AppState,
    figures: Vec<(u64, Figures)>,
    now: i64,
) -> ApiResult<(Vec<Flagged>, Vec<StorageChange>)> {
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
                    changes.push(StorageChange { id, before: scan.storage_used, after: kib });
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
    Ok((recovered, changes))
}

/// Step 3: each key's last use, each session kept, each record removed; returns the
/// `backup.completed` events to post (when asked for).
async fn keep_sessions(
    state: &AppState,
    known: Vec<Known>,
    now: i64,
    report: &mut TakenIn,
) -> ApiResult<Vec<serde_json::Value>> {
    // The key id comes from the line this server wrote, never from the client.
    let uses: Vec<(u64, String, i64)> = known.iter().map(|(id, r, _)| (*id, r.key.clone(), r.ended_at)).collect();
    state.repos.record_key_use(&uses).await?;
    let (mut events, wants_events) = (Vec::new(), state.wants_events());
    for (id, r, w) in known {
        if wants_events {
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
    Ok(events)
}

/// Step 4, once the figures are in: the recovery alert, then the events, posted off the
/// spool's path (a slow receiver holds up no read).
async fn notify(state: &AppState, recovered: Vec<Flagged>, events: Vec<serde_json::Value>, now: i64) {
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
        state.send_alert(AlertKind::Recovered, &repos, now).await;
    }
    state.post_events(events);
}

pub(crate) fn interval(state: &AppState) -> std::time::Duration {
    // The start settled `Auto`: on when the lines carry the recorder.
    match state.config.checks.sessions {
        bw_api::config::Sessions::On => state.config.checks.session_interval,
        bw_api::config::Sessions::Off | bw_api::config::Sessions::Auto => std::time::Duration::ZERO,
    }
}

pub(crate) fn scheduled(state: AppState) -> bw_api::registry::TaskFuture {
    Box::pin(async move { take_in(&state).await.map(|_| ()) })
}
