use super::retention::{DAILY, DAY, FULL, WEEKLY};
use super::*;

const NOW: i64 = 1_700_000_000;

fn store() -> (tempfile::TempDir, HistoryStore) {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::backend::temporary_sled();
    let store = HistoryStore::open(&db, &dir.path().join("runs")).unwrap();
    (dir, store)
}

fn times(points: &[Point]) -> Vec<i64> {
    points.iter().map(|p| p.at).collect()
}

#[test]
fn points_are_kept_per_repository_and_answered_by_range() {
    let (_dir, h) = store();
    for (i, at) in [NOW - 7200, NOW - 3600, NOW].into_iter().enumerate() {
        let host = HostPoint { at, storage_used: 30 + i as u64, repositories: 2, late: i as u64 };
        h.record(at, &[(1, 10 + i as u64, at - 60), (2, 20, 0)], Some(host)).unwrap();
    }
    let one = h.repository(1, 0, i64::MAX).unwrap();
    assert_eq!(one.len(), 3);
    assert_eq!(one[2], Point { at: NOW, storage_used: 12, last_save: NOW - 60 });
    assert_eq!(times(&h.repository(1, NOW - 3600, NOW - 1).unwrap()), [NOW - 3600]);
    assert_eq!(h.repository(2, 0, i64::MAX).unwrap()[0].storage_used, 20);
    assert!(h.repository(3, 0, i64::MAX).unwrap().is_empty());
    assert!(h.repository(1, NOW, NOW - 1).unwrap().is_empty(), "from after to");
    let host = h.host(NOW - 3600, NOW).unwrap();
    assert_eq!(host.iter().map(|p| (p.storage_used, p.late)).collect::<Vec<_>>(), [(31, 1), (32, 2)]);

    // The same second twice (two checks at once): one point, the later figures.
    h.record(NOW, &[(1, 99, NOW)], None).unwrap();
    assert_eq!(h.repository(1, NOW, NOW).unwrap(), [Point { at: NOW, storage_used: 99, last_save: NOW }]);

    h.remove_repository(1).unwrap();
    assert!(h.repository(1, 0, i64::MAX).unwrap().is_empty());
    assert_eq!(h.repository(2, 0, i64::MAX).unwrap().len(), 3, "another repository's points stay");
}

/// 150 sessions of one repository in a few minutes that change nothing keep one point a
/// minute, each the newest of its minute; sessions that changed storage used keep theirs;
/// another repository's points are not touched.
#[test]
fn sessions_that_change_nothing_keep_one_point_per_repository_per_minute() {
    let (_dir, h) = store();
    let start = NOW - NOW.rem_euclid(60);
    h.record(start + 5, &[(2, 7, start)], None).unwrap();
    for i in 0..150 {
        let at = start + i * 2;
        h.record(at, &[(1, 100, start)], None).unwrap();
    }
    let points = h.repository(1, 0, i64::MAX).unwrap();
    assert_eq!(times(&points), [start + 58, start + 118, start + 178, start + 238, start + 298], "{points:?}");
    assert_eq!(h.repository(2, 0, i64::MAX).unwrap().len(), 1);
    // Three backups in one minute, each writing: three points.
    let later = start + 600;
    for (i, used) in [110u64, 120, 130].into_iter().enumerate() {
        h.record(later + i as i64 * 3, &[(1, used, later)], None).unwrap();
    }
    assert_eq!(h.repository(1, later, i64::MAX).unwrap().len(), 3);
}

#[test]
fn a_long_range_answers_the_newest_points() {
    let (_dir, h) = store();
    for i in 0..(MAX_POINTS as i64 + 10) {
        h.record(NOW - i, &[(7, i as u64, 0)], None).unwrap();
    }
    let points = h.repository(7, 0, NOW).unwrap();
    assert_eq!(points.len(), MAX_POINTS);
    assert_eq!(points.last().unwrap().at, NOW);
    assert!(points.windows(2).all(|w| w[0].at < w[1].at), "oldest first");
}

/// Hourly points over 6 years, folded hour by hour as the server would: what stays is what the
/// rule keeps, at every tier's boundary.
#[test]
fn folding_keeps_48_hours_then_days_then_weeks() {
    let (_dir, h) = store();
    let start = NOW - 6 * 366 * DAY;
    // Written in one go (a restore), then folded once, as a first fold after a restore does.
    let hours: Vec<i64> = (0..).map(|i| start + i * 3600).take_while(|&t| t <= NOW).collect();
    for chunk in hours.chunks(5000) {
        let mut batch = crate::backend::Batch::default();
        for &at in chunk {
            batch.insert(repo_key(3, at), [0u8; 16]);
            batch.insert(repo_key(4, at), [0u8; 16]);
        }
        h.repos.apply(batch).unwrap();
    }
    let report = h.fold_if_due(NOW).unwrap().expect("a first fold is due");
    assert!(report.removed > 2 * 50_000, "{report:?}");
    let kept = times(&h.repository(3, 0, i64::MAX).unwrap());
    assert_eq!(kept, times(&h.repository(4, 0, i64::MAX).unwrap()));
    let expected: Vec<i64> =
        hours.iter().copied().zip(retention::kept(&hours, NOW)).filter(|(_, k)| *k).map(|(t, _)| t).collect();
    assert_eq!(kept, expected);
    assert_eq!(kept.iter().filter(|&&t| NOW - t < FULL).count(), 48);
    assert!(kept.iter().all(|&t| NOW - t < WEEKLY));
    assert!(h.fold_if_due(NOW + 60).unwrap().is_none(), "not due again within the hour");

    // Then hour by hour for 9 days more: each fold reads only what changed tier, and the result
    // is the rule's, including the days that crossed 48 h and the weeks that crossed 400 days.
    let mut all = hours.clone();
    let mut now = NOW;
    let mut read = 0;
    for _ in 0..9 * 24 {
        now += 3600;
        h.record(now, &[(3, 0, 0)], None).unwrap();
        all.push(now);
        read += h.fold_if_due(now).unwrap().expect("due every hour").read;
    }
    let expected: Vec<i64> =
        all.iter().copied().zip(retention::kept(&all, now)).filter(|(_, k)| *k).map(|(t, _)| t).collect();
    assert_eq!(times(&h.repository(3, 0, i64::MAX).unwrap()), expected);
    // Per repository and fold: a point past 5 years, a week of daily points, a day of hourly ones.
    assert!(read < 9 * 24 * 2 * 40, "hourly folds read {read} points");
    // The other repository, not written since, folds by age all the same.
    let four = times(&h.repository(4, 0, i64::MAX).unwrap());
    assert!(four.iter().all(|&t| now - t < WEEKLY) && four.iter().filter(|&&t| now - t < FULL).count() == 0);
    // One a day from 400 days ago to its last point, 9 days ago.
    assert!((390..=392).contains(&four.iter().filter(|&&t| (FULL..DAILY).contains(&(now - t))).count()));
}

#[test]
fn the_host_history_folds_too() {
    let (_dir, h) = store();
    for i in 0..(10 * 24) {
        let at = NOW - i * 3600;
        h.record(at, &[], Some(HostPoint { at, storage_used: i as u64, repositories: 1, late: 0 })).unwrap();
    }
    h.fold(0, NOW).unwrap();
    let host = h.host(0, NOW).unwrap();
    // 48 hourly points, then one a day for the 8 older days (and the older part of a 9th).
    assert_eq!(host.iter().filter(|p| NOW - p.at < FULL).count(), 48);
    assert!((8..=9).contains(&host.iter().filter(|p| NOW - p.at >= FULL).count()), "{}", host.len());
}

#[test]
fn export_and_restore_carry_every_point_of_known_repositories() {
    let (_dir, h) = store();
    h.record(
        NOW - 60,
        &[(1, 5, NOW - 100), (2, 6, 0)],
        Some(HostPoint { at: NOW - 60, storage_used: 11, repositories: 2, late: 1 }),
    )
    .unwrap();
    h.record(NOW, &[(1, 7, NOW - 10)], None).unwrap();
    let snapshot = h.export().unwrap();
    assert_eq!(
        snapshot.repositories,
        [
            RepoHistory { id: 1, points: vec![[NOW - 60, 5, NOW - 100], [NOW, 7, NOW - 10]] },
            RepoHistory { id: 2, points: vec![[NOW - 60, 6, 0]] }
        ]
    );
    let (_dir2, other) = store();
    assert!(other.is_empty());
    let written = other.restore(&snapshot, &[1].into_iter().collect()).unwrap();
    assert_eq!(written, 2, "repository 2 is not in the restored store");
    assert_eq!(other.repository(1, 0, i64::MAX).unwrap(), h.repository(1, 0, i64::MAX).unwrap());
    assert!(other.repository(2, 0, i64::MAX).unwrap().is_empty());
    assert_eq!(other.host(0, i64::MAX).unwrap(), h.host(0, i64::MAX).unwrap());
}

/// Check runs are stored time first, a file each: they fold whole, each repository reads its
/// points back from them, and a deleted repository leaves them.
#[test]
fn check_runs_fold_whole_and_a_deleted_repository_leaves_them() {
    let (_dir, h) = store();
    let hours: Vec<i64> = (0..10 * 24).map(|i| NOW - i * 3600).rev().collect();
    for &at in &hours {
        // Ids 1 to 300, given out of order.
        let points: Vec<(u64, u64, i64)> = (1..=300).rev().map(|id| (id, id * 10 + (at as u64 % 7), at - 5)).collect();
        h.record(at, &points, Some(HostPoint { at, storage_used: 1, repositories: 300, late: 0 })).unwrap();
    }
    assert_eq!(h.runs.len().unwrap(), hours.len());
    h.fold(0, NOW).unwrap();
    let expected: Vec<i64> =
        hours.iter().copied().zip(retention::kept(&hours, NOW)).filter(|(_, k)| *k).map(|(t, _)| t).collect();
    for id in [1, 255, 256, 300] {
        assert_eq!(times(&h.repository(id, 0, i64::MAX).unwrap()), expected, "repository {id}");
    }
    assert_eq!(h.host(0, i64::MAX).unwrap().iter().map(|p| p.at).collect::<Vec<_>>(), expected);
    assert_eq!(h.runs.len().unwrap(), expected.len(), "a dropped run's file goes with it");
    assert_eq!(
        h.repository(256, NOW, NOW).unwrap(),
        [Point { at: NOW, storage_used: 2560 + NOW as u64 % 7, last_save: NOW - 5 }]
    );
    assert_eq!(times(&h.newest(300, 3).unwrap()), expected[expected.len() - 3..]);

    // A run file a crash left without its host point goes at the next fold.
    h.runs.write(NOW - 3 * 86_400 + 17, &[(1, 1, 1)]).unwrap();
    h.fold(NOW - 3600, NOW).unwrap();
    assert_eq!(h.runs.len().unwrap(), expected.len(), "the orphan run file stays");

    h.remove_repository(256).unwrap();
    assert!(h.repository(256, 0, i64::MAX).unwrap().is_empty());
    assert_eq!(h.repository(257, 0, i64::MAX).unwrap().len(), expected.len(), "its chunk neighbours stay");
    assert!(h.export().unwrap().repositories.iter().all(|r| r.id != 256));
}

/// A delete leaves the run files as they are (rewriting them all would cost gigabytes at
/// 100,000 repositories): the repository's records stand unread, and its mark goes with the
/// last run from before the deletion.
#[test]
fn a_deleted_repository_is_unread_until_its_runs_age_out() {
    let (_dir, h) = store();
    let run = |at: i64, points: &[(u64, u64, i64)]| {
        h.record(at, points, Some(HostPoint { at, storage_used: 1, repositories: points.len() as u64, late: 0 }))
            .unwrap()
    };
    // Six years back (past the 5 years kept) and three years back (kept, weekly).
    let (oldest, old) = (NOW - 6 * 365 * 86_400, NOW - 3 * 365 * 86_400);
    run(oldest, &[(1, 10, oldest), (2, 20, oldest)]);
    run(old, &[(1, 11, old), (2, 21, old)]);
    h.remove_repository(1).unwrap();
    assert_eq!(h.runs.records(old).unwrap().len(), 2, "the run file is not rewritten");
    assert!(h.repository(1, 0, i64::MAX).unwrap().is_empty() && h.newest(1, 5).unwrap().is_empty());
    assert!(h.export().unwrap().repositories.iter().all(|r| r.id != 1));
    assert_eq!(h.forgotten.len(), 1);
    run(NOW, &[(2, 22, NOW)]);
    h.fold(0, NOW).unwrap();
    assert!(h.runs.records(oldest).unwrap().is_empty(), "six years: folded away");
    assert_eq!(h.forgotten.len(), 1, "a run from before the deletion (three years back) is still kept");
    // Once that one goes too (a restore-free way: its file removed as a fold would), the mark goes.
    h.host.remove(time_key(old)).unwrap();
    h.runs.remove(old).unwrap();
    h.fold(0, NOW).unwrap();
    assert!(h.forgotten.is_empty(), "no run from before the deletion is left");
    assert_eq!(h.repository(2, 0, i64::MAX).unwrap().len(), 1, "another repository's points stay");
}

#[test]
fn sums_over_some_repositories_add_only_theirs_by_lookup_and_by_whole_run() {
    let (_dir, h) = store();
    for (i, at) in [NOW - 3600, NOW].into_iter().enumerate() {
        let mut points: Vec<(u64, u64, i64)> = (1..=200u64).map(|id| (id, 1000 + id, at - 10)).collect();
        points[4] = (5, 5 + i as u64, at - 7200); // 5 backed up two hours before the run
        h.record(at, &points, Some(HostPoint { at, storage_used: 1, repositories: 200, late: 0 })).unwrap();
    }
    // Two of them (looked up one by one): 5 is late by its alert delay of an hour, 7 is not.
    let two = h.sums(&[(5, 3600), (7, 3600)], 0, i64::MAX).unwrap();
    assert_eq!(
        two,
        [
            HostPoint { at: NOW - 3600, storage_used: 5 + 1007, repositories: 2, late: 1 },
            HostPoint { at: NOW, storage_used: 6 + 1007, repositories: 2, late: 1 },
        ]
    );
    // Many (read with the whole run): the same sums as adding them by hand; 300 is unknown.
    let many: Vec<(u64, u64)> = (100..=300u64).map(|id| (id, 0)).collect();
    let sums = h.sums(&many, NOW, NOW).unwrap();
    let by_hand: u64 = (100..=200u64).map(|id| 1000 + id).sum();
    assert_eq!(sums, [HostPoint { at: NOW, storage_used: by_hand, repositories: 101, late: 0 }]);
    assert!(h.sums(&[], 0, i64::MAX).unwrap().iter().all(|p| p.repositories == 0));
}
