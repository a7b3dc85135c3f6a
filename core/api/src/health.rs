//! Health alerts (contract: "History and health"), decided where storage figures change: after
//! the storage check and after sessions, each hands the changes it made to
//! [`AppState::judge_health`]. The events wait in the state until the alert plugin
//! (`cron-status`) takes them ([`AppState::take_health_events`]) and sends them through the
//! late alert's channels, so that the checks need not know the channels.
//!
//! - quota: storage used crosses a level (80% and 95% by default) of the quota, rising; once per
//!   crossing (a repository that falls back below a level is alerted again when it crosses it
//!   again).
//! - shrink: storage used fell by more than half between two points, on a repository that is
//!   not append-only.
//! - growth: one change grew storage used by more than 5 times the repository's median growth.

use bw_store::history::Point;
use bw_store::store_error::{StoreError, StoreResult};

use crate::state::AppState;

/// A repository's storage used before and after a check or session, KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageChange {
    pub id: u64,
    pub before: u64,
    pub after: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthKind {
    Quota,
    Shrink,
    Growth,
    /// A verify (`borg check --repository-only`) found the repository damaged.
    VerifyFailed,
}

/// One health alert about one repository.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthEvent {
    pub kind: HealthKind,
    pub repository_name: String,
    pub alias: String,
    pub last_save: i64,
    /// What happened, by how much, and what to look at.
    pub message: String,
}

/// Events waiting for the alert plugin past this many are dropped (and logged): a host without
/// that plugin keeps no unbounded queue.
const MAX_WAITING: usize = 10_000;
/// How many of a repository's newest points its median growth is read from.
const GROWTH_WINDOW: usize = 60;
/// Growths (rises between two points) needed before a median means anything.
const MIN_GROWTHS: usize = 5;
/// Below this, a shrink is noise (a repository just made, or all but empty).
const SHRINK_FLOOR_KIB: u64 = 1024;

/// The quota in KiB: `storageSize` is in GB, as borg's `--storage-quota NG` reads it (10^9).
fn quota_kib(size_gb: u64) -> u64 {
    size_gb.saturating_mul(1_000_000_000) / 1024
}

/// The highest of `levels` (sorted, percentages) that `used` of a `size_gb` quota has reached;
/// 0 when none.
pub fn quota_level(used_kib: u64, size_gb: u64, levels: &[u8]) -> u8 {
    let quota = quota_kib(size_gb);
    if quota == 0 {
        return 0;
    }
    levels.iter().copied().filter(|&l| used_kib as u128 * 100 >= quota as u128 * l as u128).max().unwrap_or(0)
}

/// Whether `after` is more than `percent`% below `before`.
pub fn shrank(before: u64, after: u64, percent: u8) -> bool {
    percent > 0
        && before >= SHRINK_FLOOR_KIB
        && (before - after.min(before)) as u128 * 100 > before as u128 * percent as u128
}

/// The median of the rises between consecutive points, when there are enough of them.
pub fn median_growth(points: &[Point]) -> Option<u64> {
    let mut rises: Vec<u64> = points
        .windows(2)
        .filter(|w| w[1].storage_used > w[0].storage_used)
        .map(|w| w[1].storage_used - w[0].storage_used)
        .collect();
    if rises.len() < MIN_GROWTHS {
        return None;
    }
    rises.sort_unstable();
    Some(rises[rises.len() / 2])
}

/// KiB as people read them.
pub fn size_text(kib: u64) -> String {
    let bytes = kib as f64 * 1024.0;
    match bytes {
        b if b >= 1e12 => format!("{:.1} TB", b / 1e12),
        b if b >= 1e9 => format!("{:.1} GB", b / 1e9),
        b if b >= 1e6 => format!("{:.1} MB", b / 1e6),
        b => format!("{:.0} kB", b / 1e3),
    }
}

impl AppState {
    /// Decides the health alerts `changes` raise and queues them for the alert plugin.
    pub async fn judge_health(&self, changes: Vec<StorageChange>) -> StoreResult<()> {
        let rules = &self.config.alerts.health;
        if changes.is_empty() || !rules.any() {
            return Ok(());
        }
        let state = self.clone();
        let events = tokio::task::spawn_blocking(move || state.judge_blocking(&changes))
            .await
            .map_err(|e| StoreError::Refused(format!("the health rules stopped: {e}")))??;
        if events.is_empty() {
            return Ok(());
        }
        let mut waiting = self.health_events.lock().unwrap_or_else(|p| p.into_inner());
        let room = MAX_WAITING.saturating_sub(waiting.len());
        if events.len() > room {
            tracing::warn!(dropped = events.len() - room, "health alerts dropped: nothing sends them (cron-status)");
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
            tracing::warn!(repository = %event.repository_name, "health alert dropped: nothing sends them (cron-status)");
        }
    }

    /// The health events waiting to be sent, oldest first; they are the caller's from now on.
    pub fn take_health_events(&self) -> Vec<HealthEvent> {
        std::mem::take(&mut *self.health_events.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn judge_blocking(&self, changes: &[StorageChange]) -> StoreResult<Vec<HealthEvent>> {
        let rules = &self.config.alerts.health;
        let now = self.clock.now();
        let mut events = Vec::new();
        for change in changes {
            let Some((name, alias, last_save, size, append_only)) = self.repos.summary(change.id, now, |s| {
                (s.name.to_string(), s.alias.to_string(), s.last_save, s.storage_size, s.append_only)
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
            // Shrink: not on an append-only repository, whose clients cannot delete.
            if !append_only && shrank(change.before, change.after, rules.shrink_percent) {
                let fell = (change.before - change.after) as f64 * 100.0 / change.before as f64;
                events.push(event(
                    HealthKind::Shrink,
                    format!(
                        "storage used fell by {fell:.0}%, from {} to {}. If nobody pruned it on purpose, list its \
                         archives (`borg list`) now: a prune gone wrong, or someone using the client's key to delete \
                         archives, looks like this (an append-only key stops the latter).",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_levels_are_percentages_of_the_quota_in_gb() {
        let levels = [80, 95];
        // 10 GB = 9,765,625 KiB.
        assert_eq!(quota_level(7_812_499, 10, &levels), 0);
        assert_eq!(quota_level(7_812_500, 10, &levels), 80);
        assert_eq!(quota_level(9_277_343, 10, &levels), 80);
        assert_eq!(quota_level(9_277_344, 10, &levels), 95);
        assert_eq!(quota_level(20_000_000, 10, &levels), 95);
        assert_eq!(quota_level(u64::MAX, 0, &levels), 0, "no quota, no level");
        assert_eq!(quota_level(9_000_000, 10, &[]), 0, "off");
    }

    #[test]
    fn a_shrink_is_more_than_the_percentage_of_a_repository_that_held_something() {
        assert!(!shrank(10_000, 5_000, 50), "exactly half");
        assert!(shrank(10_000, 4_999, 50));
        assert!(shrank(10_000, 0, 50));
        assert!(!shrank(10_000, 20_000, 50));
        assert!(!shrank(1_000, 0, 50), "below the floor");
        assert!(!shrank(10_000, 0, 0), "off");
    }

    #[test]
    fn the_median_growth_needs_enough_rises() {
        let points = |used: &[u64]| -> Vec<Point> {
            used.iter().enumerate().map(|(i, &u)| Point { at: i as i64, storage_used: u, last_save: 0 }).collect()
        };
        assert_eq!(median_growth(&points(&[0, 10, 20, 30, 40])), None, "four rises");
        // Rises 10, 30, 10, 20, 50 (the fall in between is not one): median 20.
        assert_eq!(median_growth(&points(&[0, 10, 40, 35, 45, 65, 115])), Some(20));
        assert_eq!(size_text(1), "1 kB");
        assert_eq!(size_text(9_765_625), "10.0 GB");
    }
}
