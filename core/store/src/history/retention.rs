//! Which points a repository's (or the host's) history keeps, by age: every point for 48
//! hours, then the last point of each day for 400 days, then the last point of each week for 5
//! years, then none (the contract's "History and health").
//!
//! The rule is a pure function of the points and the time, and applying it again later keeps
//! exactly what applying it once later would have kept: a day's last point stays its last as
//! more of that day ages. So the store may fold whenever it likes, over any stretch that holds
//! whole days and weeks.

/// Every point younger than this is kept.
pub const FULL: i64 = 48 * 3600;
/// Then one a day, up to this age.
pub const DAILY: i64 = 400 * DAY;
/// Then one a week, up to this age (5 years of 365.25 days).
pub const WEEKLY: i64 = 1826 * DAY;

pub const DAY: i64 = 86_400;
pub const WEEK: i64 = 7 * DAY;
/// Weeks run Monday to Sunday, UTC: 1970-01-05 was a Monday.
const FIRST_MONDAY: i64 = 4 * DAY;

/// The group a point of age tier `tier` falls in: its day or week, or none (kept alone, or
/// dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// Younger than [`FULL`]: kept.
    Kept,
    /// The last point of this day (UTC day number) is kept.
    Day(i64),
    /// The last point of this week (Monday-based week number) is kept.
    Week(i64),
    /// Older than [`WEEKLY`].
    Dropped,
}

/// Where a point taken at `at` stands at `now`. A day moves to the weekly tier whole (when its
/// end is [`DAILY`] old), so a day's last point is also the point its week keeps of it, and
/// folding again later keeps exactly what folding once later would.
pub fn bucket(at: i64, now: i64) -> Bucket {
    let age = now - at;
    if age < FULL {
        Bucket::Kept
    } else if now - (day_start(at) + DAY) < DAILY {
        Bucket::Day(at.div_euclid(DAY))
    } else if age < WEEKLY {
        Bucket::Week((at - FIRST_MONDAY).div_euclid(WEEK))
    } else {
        Bucket::Dropped
    }
}

/// The start of the day holding `at`.
pub fn day_start(at: i64) -> i64 {
    at.div_euclid(DAY) * DAY
}

/// The start of the week holding `at`.
pub fn week_start(at: i64) -> i64 {
    (at - FIRST_MONDAY).div_euclid(WEEK) * WEEK + FIRST_MONDAY
}

/// For times sorted oldest first, whether each is kept at `now`. Correct for any run of points
/// that holds every point of each day and week it touches.
pub fn kept(times: &[i64], now: i64) -> Vec<bool> {
    let buckets: Vec<Bucket> = times.iter().map(|&at| bucket(at, now)).collect();
    buckets
        .iter()
        .enumerate()
        .map(|(i, b)| match b {
            Bucket::Kept => true,
            Bucket::Dropped => false,
            // The last of its group: the next point (if any) is in another group.
            grouped => buckets.get(i + 1) != Some(grouped),
        })
        .collect()
}

/// The stretches of time (`from` included, `to` not) a fold made at `now` must look at, when
/// the previous one was made at `before`: everything past the weekly age; the days that
/// became wholly older than [`DAILY`], from the start of their week; and the points that became
/// older than [`FULL`], from the start of their day. Oldest first, not overlapping; each holds
/// every point of the days and weeks whose tier changed.
pub fn fold_ranges(before: i64, now: i64) -> Vec<(i64, i64)> {
    let mut ranges = vec![(i64::MIN, now - WEEKLY + 1)];
    let weekly = (week_start(before - DAILY), day_start(now - DAILY));
    let daily = (day_start(before - FULL), now - FULL + 1);
    for (from, to) in [weekly, daily] {
        if from >= to {
            continue;
        }
        match ranges.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(to),
            _ => ranges.push((from, to)),
        }
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000; // a Tuesday, 22:13:20 UTC

    #[test]
    fn ages_at_the_boundaries() {
        assert_eq!(bucket(NOW, NOW), Bucket::Kept);
        assert_eq!(bucket(NOW - FULL + 1, NOW), Bucket::Kept);
        assert_eq!(bucket(NOW - FULL, NOW), Bucket::Day((NOW - FULL) / DAY));
        // A day goes weekly whole, once its end is 400 days old.
        let last_daily_day = day_start(NOW - DAILY);
        assert_eq!(bucket(last_daily_day, NOW), Bucket::Day(last_daily_day / DAY));
        assert_eq!(bucket(NOW - DAILY, NOW), Bucket::Day(last_daily_day / DAY));
        assert!(matches!(bucket(last_daily_day - 1, NOW), Bucket::Week(_)));
        assert!(matches!(bucket(NOW - WEEKLY + 1, NOW), Bucket::Week(_)));
        assert_eq!(bucket(NOW - WEEKLY, NOW), Bucket::Dropped);
        // Weeks start on Monday 00:00 UTC: 2023-11-13 was a Monday.
        assert_eq!(week_start(NOW), 1_699_833_600);
        assert_eq!(week_start(1_699_833_600), 1_699_833_600);
        assert_eq!(week_start(1_699_833_599), 1_699_833_600 - WEEK);
        assert_eq!(day_start(NOW), 1_699_920_000);
    }

    #[test]
    fn one_point_an_hour_for_six_years_folds_to_the_contract() {
        let times: Vec<i64> = (0..6 * 366 * 24).map(|h| NOW - h * 3600).rev().collect();
        let kept_times: Vec<i64> = times.iter().zip(kept(&times, NOW)).filter(|(_, k)| *k).map(|(t, _)| *t).collect();
        let full = kept_times.iter().filter(|&&t| NOW - t < FULL).count();
        let daily = kept_times.iter().filter(|&&t| (FULL..DAILY).contains(&(NOW - t))).count();
        let weekly = kept_times.iter().filter(|&&t| (DAILY..WEEKLY).contains(&(NOW - t))).count();
        assert_eq!(full, 48);
        // 398 whole days between 48 h and 400 days, and the last point of the day cut by the
        // 48 h boundary (its older part) and of the one cut by the 400-day boundary.
        assert!((398..=400).contains(&daily), "{daily}");
        assert!((201..=262).contains(&weekly), "{weekly}");
        assert!(kept_times.iter().all(|&t| NOW - t < WEEKLY));
        // Each kept daily point is the last of its day among the daily ones.
        for t in kept_times.iter().filter(|&&t| (FULL..DAILY).contains(&(NOW - t))) {
            let next = t + 3600;
            assert!(next / DAY != t / DAY || NOW - next < FULL, "{t} is not its day's last");
        }
    }

    #[test]
    fn folding_twice_keeps_what_folding_once_would() {
        let times: Vec<i64> = (0..500 * 24).map(|h| NOW - h * 3600 - 17).rev().collect();
        let later = NOW + 3 * DAY + 5 * 3600;
        let once: Vec<i64> = times.iter().zip(kept(&times, later)).filter(|(_, k)| *k).map(|(t, _)| *t).collect();
        let first: Vec<i64> = times.iter().zip(kept(&times, NOW)).filter(|(_, k)| *k).map(|(t, _)| *t).collect();
        let twice: Vec<i64> = first.iter().zip(kept(&first, later)).filter(|(_, k)| *k).map(|(t, _)| *t).collect();
        assert_eq!(once, twice);
    }

    #[test]
    fn fold_ranges_cover_whole_days_and_weeks() {
        // A day later: a day became wholly 400 days old, and a day's points 48 hours old.
        let ranges = fold_ranges(NOW - DAY, NOW);
        assert_eq!(
            ranges,
            [
                (i64::MIN, NOW - WEEKLY + 1),
                (week_start(NOW - DAY - DAILY), day_start(NOW - DAILY)),
                (day_start(NOW - DAY - FULL), NOW - FULL + 1)
            ]
        );
        // An hour later, within the day: no day changed tier.
        assert_eq!(
            fold_ranges(NOW - 3600, NOW),
            [(i64::MIN, NOW - WEEKLY + 1), (day_start(NOW - 3600 - FULL), NOW - FULL + 1)]
        );
        // After a long stop, the two stretches that changed tier meet.
        let ranges = fold_ranges(NOW - 600 * DAY, NOW);
        assert_eq!(ranges, [(i64::MIN, NOW - WEEKLY + 1), (week_start(NOW - 600 * DAY - DAILY), NOW - FULL + 1)]);
        // The first fold ever (before = 0) looks at everything.
        assert_eq!(fold_ranges(0, NOW), [(i64::MIN, NOW - FULL + 1)]);
    }
}
