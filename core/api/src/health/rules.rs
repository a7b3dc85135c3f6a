//! The health rules themselves, pure: what a change of storage used means against the quota,
//! the last figure and the repository's growth, and the events they raise. No state: the
//! state holds the events waiting ([`crate::state`]), and [`super`] applies the rules to it.
//! The events themselves are alert vocabulary ([`crate::alert`]).

use bw_store::history::Point;

pub use crate::alert::{HealthEvent, HealthKind};

/// A repository's storage used before and after a check or session, KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageChange {
    pub id: u64,
    pub before: u64,
    pub after: u64,
}

/// Events waiting for the alert plugin past this many are dropped (and logged): a host without
/// that plugin keeps no unbounded queue.
pub(super) const MAX_WAITING: usize = 10_000;
/// How many of a repository's newest points its median growth is read from.
pub(super) const GROWTH_WINDOW: usize = 60;
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
