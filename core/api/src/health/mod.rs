//! Health alerts (contract: "History and health"), decided where storage figures change: after
//! the storage check and after sessions, each hands the changes it made to
//! [`AppState::figures_changed`](crate::figures). The events wait in the state until the alert plugin
//! (`plugins/alerts`) takes them ([`AppState::take_health_events`]) and sends them through the
//! late alert's channels, so that the checks need not know the channels.
//!
//! - quota: storage used crosses a level (80% and 95% by default) of the quota, rising; once per
//!   crossing (a repository that falls back below a level is alerted again when it crosses it
//!   again).
//! - shrink: storage used fell by more than half between two points, on a repository with a key
//!   that is not append-only.
//! - growth: one change grew storage used by more than 5 times the repository's median growth.

pub mod rules;

pub use rules::*;

use bw_store::history::Point;
use bw_store::store_error::{StoreError, StoreResult};

use crate::state::AppState;

impl AppState {
    /// Decides the health alerts `changes` raise and queues them for the alert plugin.
    pub(crate) async fn judge_health(&self, changes: Vec<StorageChange>) -> StoreResult<()> {
        let rules = &self.config.health;
        if changes.is_empty() || !rules.any() {
            return Ok(());
        }
        let state = self.clone();
        let events = tokio::task::spawn_blocking(move || state.judge_blocking(&changes))
            .await
            .map_err(|e| StoreError::Stopped { what: "the health rules", cause: e.to_string() })??;
        if events.is_empty() {
            return Ok(());
        }
        let mut waiting = self.health_events.lock().unwrap_or_else(|p| p.into_inner());
        let room = MAX_WAITING.saturating_sub(waiting.len());
        if events.len() > room {
            tracing::warn!(
                dropped = events.len() - room,
                "health alerts dropped: nothing sends them (the alerts plugin)"
            );
        }
        waiting.extend(events.into_iter().take(room));
        Ok(())
    }

    /// Queues one event (a failed verify) for the alert plugin.
    pub fn queue_health_event(&self, event: HealthEvent) {
        let mut waiting = self.health_events.lock().unwrap_or_else(|p| p.into_inner());
        if waiting.len() < MAX_WAITING {
            waiting.push(event);
        } else {
            tracing::warn!(repository = %event.repository_name, "health alert dropped: nothing sends them (the alerts plugin)");
        }
    }

    /// The health events waiting to be sent, oldest first; they are the caller's from now on.
    pub fn take_health_events(&self) -> Vec<HealthEvent> {
        std::mem::take(&mut *self.health_events.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn judge_blocking(&self, changes: &[StorageChange]) -> StoreResult<Vec<HealthEvent>> {
        let rules = &self.config.health;
        let now = self.clock.now();
        let mut events = Vec::new();
        for change in changes {
            let Some((name, alias, last_save, size, append_only)) = self.repos.summary(change.id, now, |s| {
                (s.name.to_string(), s.alias.to_string(), s.last_save, s.storage_size, s.every_key_append_only)
            }) else {
                continue;
            };
            let event = |kind, message| HealthEvent {
                kind,
                repository_name: name.clone(),
                alias: alias.clone(),
                last_save,
                message,
            };
            // Quota: once per crossing, rising.
            let level = quota_level(change.after, size, &rules.quota_percent);
            let marked = self.quota_marks.level(change.id);
            if level > marked {
                let percent = change.after as f64 * 1024.0 * 100.0 / (size as f64 * 1e9);
                events.push(event(
                    HealthKind::Quota,
                    format!(
                        "{percent:.0}% of its {size} GB quota used ({}, past {level}%). At 100% borg refuses new \
                         backups: prune old archives (`borg prune`, then `borg compact`), or raise the quota \
                         (`storageSize`).",
                        size_text(change.after)
                    ),
                ));
            }
            if level != marked {
                self.quota_marks.set(change.id, level)?;
            }
            // Shrink: not on a repository whose every key is append-only, whose clients cannot
            // delete. One full key beside append-only ones can: its `compact` makes final what
            // an append-only key marked deleted.
            if !append_only && shrank(change.before, change.after, rules.shrink_percent) {
                let fell = (change.before - change.after) as f64 * 100.0 / change.before as f64;
                events.push(event(
                    HealthKind::Shrink,
                    format!(
                        "storage used fell by {fell:.0}%, from {} to {}. If nobody pruned it on purpose, list its \
                         archives (`borg list`) now: a prune gone wrong, or someone using the client's key to delete \
                         archives, looks like this. Only a repository whose every key is append-only is safe from \
                         the latter: a full key's `compact` makes final what any key deleted.",
                        size_text(change.before),
                        size_text(change.after)
                    ),
                ));
            }
            // Growth: against the rises before this one. Not from nothing: a first figure (a
            // new repository, a first check after a start) is no backup's growth.
            if rules.growth_factor > 0 && change.before > 0 && change.after > change.before {
                let grew = change.after - change.before;
                let points = self.history.newest(change.id, GROWTH_WINDOW)?;
                let before: Vec<Point> = points.into_iter().filter(|p| p.at < now).collect();
                if let Some(median) = median_growth(&before).filter(|m| *m > 0) {
                    if grew > median.saturating_mul(rules.growth_factor as u64) {
                        events.push(event(
                            HealthKind::Growth,
                            format!(
                                "one backup grew storage used by {}, {:.1} times its median growth of {}. Look at \
                                 what the client backed up: a new large folder, a database dump, or data that does \
                                 not deduplicate (already compressed or encrypted).",
                                size_text(grew),
                                grew as f64 / median as f64,
                                size_text(median)
                            ),
                        ));
                    }
                }
            }
        }
        Ok(events)
    }
}
