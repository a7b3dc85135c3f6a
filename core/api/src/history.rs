//! Writing the history: after each check run, one point per repository and the host's sums;
//! after sessions, one point per repository they touched. The points are written off the
//! async threads in one batch, and the fold by age runs after, in the background, so that a
//! check's time does not grow with it.

use std::sync::atomic::Ordering;

use bw_store::history::HostPoint;
use bw_store::store_error::{StoreError, StoreResult};

use crate::state::AppState;

/// Which repositories a history write covers.
pub enum HistoryOf<'a> {
    /// A check run: every repository, and the host's sums.
    Run,
    /// Sessions: these repositories (their current figures).
    Repositories(&'a [u64]),
}

impl AppState {
    /// Writes the points of `which` at the current time, from the current figures.
    pub(crate) async fn record_history(&self, which: HistoryOf<'_>) -> StoreResult<()> {
        let now = self.clock.now();
        let (points, host) = match which {
            HistoryOf::Run => {
                let mut points = Vec::with_capacity(self.repos.len());
                let mut host = HostPoint { at: now, storage_used: 0, repositories: 0, late: 0 };
                self.repos.summaries(now, |s| {
                    points.push((s.id, s.storage_used, s.last_save));
                    host.storage_used += s.storage_used;
                    host.repositories += 1;
                    host.late += u64::from(s.late());
                });
                (points, Some(host))
            }
            // A few repositories: looked up one by one, not a walk of every repository (a
            // read of the spool comes every 2 s).
            HistoryOf::Repositories(ids) => {
                let points = ids
                    .iter()
                    .filter_map(|&id| self.repos.summary(id, now, |s| (s.id, s.storage_used, s.last_save)))
                    .collect();
                (points, None)
            }
        };
        let state = self.clone();
        tokio::task::spawn_blocking(move || state.history.record(now, &points, host))
            .await
            .map_err(|e| StoreError::Stopped { what: "the history write", cause: e.to_string() })??;
        self.fold_history_soon(now);
        Ok(())
    }

    /// Starts a fold by age in the background when one is due and none runs.
    fn fold_history_soon(&self, now: i64) {
        if self.history_folding.swap(true, Ordering::AcqRel) {
            return;
        }
        let state = self.clone();
        tokio::task::spawn_blocking(move || {
            match state.history.fold_if_due(now) {
                Ok(Some(report)) => {
                    tracing::debug!(read = report.read, removed = report.removed, "history folded by age")
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "the history fold failed; the next check tries again"),
            }
            state.history_folding.store(false, Ordering::Release);
        });
    }
}
