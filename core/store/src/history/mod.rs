//! Each repository's history, and the host's: one point per repository per check run and per
//! session (`storageUsed`, `lastSave`), and one host point per check run (the sums), kept by
//! age as [`retention`] says and deleted with the repository.
//!
//! A check run's points are one value, time first ([`run_points`]: 100,000 points as one entry
//! each took 5.9 s a run at 100,000 repositories, and in sled chunks they held 170 MiB of heap
//! after 320 answers, measured), read back with a few `pread`s per run time; a session's few
//! points are one sled entry each, repository first. Nothing is held in memory beyond what a query or a
//! fold reads. The fold runs at most once an hour ([`FOLD_EVERY`]) and reads only the stretches
//! whose points changed tier since the last fold: a dropped run goes whole.

pub mod retention;
mod run_points;

use crate::store_error::{StoreError, StoreResult};

/// How often the points are folded by age; between folds, a few more points than the rule
/// keeps may stand.
pub const FOLD_EVERY: i64 = 3600;
/// The most points one answer carries; a range with more answers the newest ones.
pub const MAX_POINTS: usize = 5_000;

/// A repository at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Point {
    /// Unix seconds.
    pub at: i64,
    /// KiB, as `storageUsed`.
    pub storage_used: u64,
    /// Unix seconds; 0 before the first backup.
    pub last_save: i64,
}

/// The host at one check run: the sums over its repositories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HostPoint {
    pub at: i64,
    /// KiB, summed.
    pub storage_used: u64,
    pub repositories: u64,
    /// Repositories late at that moment.
    pub late: u64,
}

/// The points of a snapshot: `[at, storageUsed, lastSave]` per repository id, and
/// `[at, storageUsed, repositories, late]` for the host (arrays, not objects: a host of 100,000
/// repositories has millions of points).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HistorySnapshot {
    pub repositories: Vec<RepoHistory>,
    pub host: Vec<[i64; 4]>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoHistory {
    pub id: u64,
    pub points: Vec<[i64; 3]>,
}

pub struct HistoryStore {
    /// Check runs' points, a value per run ([`run_points`]).
    runs: run_points::RunPoints,
    /// Sessions' points, repository first: id (8) + time (8) -> storage used (8) + last save (8).
    repos: std::sync::Arc<dyn crate::backend::Table>,
    /// The host's sums per check run, time (8) -> storage used, repositories, late (8 each):
    /// also the list of run times a repository's history reads `runs` at.
    host: std::sync::Arc<dyn crate::backend::Table>,
    /// `folded`: when the last fold ran.
    meta: std::sync::Arc<dyn crate::backend::Table>,
    /// Deleted repositories whose records may still stand in run files: id (8) -> the newest
    /// run time at the deletion (8). Ids are never given again, so the records are unreachable;
    /// rewriting every run file (a few MiB each at 100,000 repositories, hundreds of them)
    /// on each delete would turn a 1-2 ms change into gigabytes of writes. The records go
    /// with their runs as these age out, and the mark with the last of those runs.
    forgotten: std::sync::Arc<dyn crate::backend::Table>,
}

/// Times as keys: big-endian with the sign bit flipped, so they sort as numbers.
fn time_key(at: i64) -> [u8; 8] {
    ((at as u64) ^ (1 << 63)).to_be_bytes()
}

fn time_of(bytes: &[u8]) -> Option<i64> {
    Some((u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?) ^ (1 << 63)) as i64)
}

fn repo_key(id: u64, at: i64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&id.to_be_bytes());
    k[8..].copy_from_slice(&time_key(at));
    k
}

fn words<const N: usize>(bytes: &[u8]) -> Option<[u64; N]> {
    let mut out = [0u64; N];
    for (i, w) in out.iter_mut().enumerate() {
        *w = u64::from_be_bytes(bytes.get(i * 8..i * 8 + 8)?.try_into().ok()?);
    }
    Some(out)
}

fn point_value(storage_used: u64, last_save: i64) -> [u8; 16] {
    let mut v = [0u8; 16];
    v[..8].copy_from_slice(&storage_used.to_be_bytes());
    v[8..].copy_from_slice(&last_save.to_be_bytes());
    v
}

fn corrupt(what: &str) -> StoreError {
    StoreError::corrupt(format!("history {what}"), "malformed entry")
}

impl HistoryStore {
    /// The store's trees in `db`, and the check runs' points in `runs_dir` (a store several
    /// servers share: in its table `history_runs`, see [`crate::bulk`]).
    pub fn open(db: &crate::backend::SharedBackend, runs_dir: &std::path::Path) -> StoreResult<Self> {
        Ok(HistoryStore {
            runs: run_points::RunPoints::new(crate::bulk::Bulk::beside(db, runs_dir, "history_runs")?),
            repos: db.table("history_repositories")?,
            host: db.table("history_host")?,
            meta: db.table("history_meta")?,
            forgotten: db.table("history_forgotten")?,
        })
    }

    /// Writes a check run's points (`host` given: every repository, time first, in chunks) or
    /// a session's (`host` absent: one entry per point, replacing the repository's session
    /// points of the same minute that have the same storage used). Folding is left to
    /// [`HistoryStore::fold_if_due`], off the check's path.
    pub fn record(&self, at: i64, points: &[(u64, u64, i64)], host: Option<HostPoint>) -> StoreResult<()> {
        let Some(h) = host else {
            // A session that left storage used as it was within the same minute replaces that
            // minute's point instead of adding one: a client that connects 150 times in a few
            // minutes (a script, a retry loop, failing logins) is one point a minute. A session
            // that changed the figure keeps its own point: the growth rule reads each backup.
            let minute = at - at.rem_euclid(60);
            let mut batch = crate::backend::Batch::default();
            for &(id, storage_used, last_save) in points {
                for earlier in self.repos.range(repo_key(id, minute)..repo_key(id, at)) {
                    let (key, value) = earlier?;
                    if words::<2>(&value).is_some_and(|[used, _]| used == storage_used) {
                        batch.remove(key);
                    }
                }
                batch.insert(repo_key(id, at), point_value(storage_used, last_save));
            }
            self.repos.apply(batch)?;
            return Ok(());
        };
        let mut sorted = points.to_vec();
        sorted.sort_unstable_by_key(|p| p.0);
        sorted.dedup_by_key(|p| p.0);
        self.write_run(at, &sorted)?;
        self.host.insert(time_key(h.at), host_value(&h))?;
        Ok(())
    }

    /// Writes a run's points (sorted by id) at `at`, replacing what stood there.
    fn write_run(&self, at: i64, sorted: &[(u64, u64, i64)]) -> StoreResult<()> {
        self.runs.write(at, sorted)
    }

    /// The repository's points from `from` to `to` (inclusive), oldest first; the newest
    /// [`MAX_POINTS`] when there are more. One read per check run in the range (a few hundred
    /// at most, for 5 years) and one range of its session points.
    pub fn repository(&self, id: u64, from: i64, to: i64) -> StoreResult<Vec<Point>> {
        if from > to {
            return Ok(Vec::new());
        }
        let runs = self.host.range(time_key(from)..=time_key(to)).keys().rev();
        let sessions = self.repos.range(repo_key(id, from)..=repo_key(id, to)).rev();
        self.merged(id, runs, sessions, MAX_POINTS)
    }

    /// The repository's newest `n` points, oldest first.
    pub fn newest(&self, id: u64, n: usize) -> StoreResult<Vec<Point>> {
        self.merged(id, self.host.iter().keys().rev(), self.repos.scan_prefix(id.to_be_bytes()).rev(), n)
    }

    /// The newest `n` of the repository's points at the run times `runs` (newest first) and of
    /// its session points `sessions` (newest first), oldest first; a run and a session at the
    /// same second are one point, the session's.
    fn merged(
        &self,
        id: u64,
        runs: impl Iterator<Item = crate::store_error::StoreResult<crate::backend::Bytes>>,
        sessions: impl Iterator<Item = crate::store_error::StoreResult<(crate::backend::Bytes, crate::backend::Bytes)>>,
        n: usize,
    ) -> StoreResult<Vec<Point>> {
        if self.forgotten.contains_key(id.to_be_bytes())? {
            return Ok(Vec::new());
        }
        let mut points = Vec::new();
        for entry in sessions.take(n) {
            let (k, v) = entry?;
            let at = time_of(&k[8..]).ok_or_else(|| corrupt("key"))?;
            let [storage_used, last_save] = words::<2>(&v).ok_or_else(|| corrupt("point"))?;
            points.push(Point { at, storage_used, last_save: last_save as i64 });
        }
        let mut from_runs = 0;
        for t in runs {
            if from_runs == n {
                break;
            }
            let at = time_of(&t?).ok_or_else(|| corrupt("key"))?;
            if let Some((storage_used, last_save)) = self.runs.find(at, id)? {
                points.push(Point { at, storage_used, last_save });
                from_runs += 1;
            }
        }
        // Stable: at one second, the session's point (pushed first) stays.
        points.sort_by_key(|p| p.at);
        points.dedup_by_key(|p| p.at);
        let skip = points.len().saturating_sub(n);
        Ok(points.split_off(skip))
    }

    /// The host's points from `from` to `to` (inclusive), oldest first, as
    /// [`HistoryStore::repository`].
    pub fn host(&self, from: i64, to: i64) -> StoreResult<Vec<HostPoint>> {
        if from > to {
            return Ok(Vec::new());
        }
        let mut points = Vec::new();
        for entry in self.host.range(time_key(from)..=time_key(to)).rev().take(MAX_POINTS) {
            let (k, v) = entry?;
            points.push(host_point(&k, &v)?);
        }
        points.reverse();
        Ok(points)
    }

    /// The host's points from `from` to `to` as [`HistoryStore::host`], summed over the
    /// repositories `repos` only (`(id, alert delay in seconds)`, as they are now): what a
    /// caller bound to a tenant or to names sees of the host. At each check run: their storage
    /// used, how many had a point, and how many were late then by their alert delay of today.
    pub fn sums(&self, repos: &[(u64, u64)], from: i64, to: i64) -> StoreResult<Vec<HostPoint>> {
        if from > to {
            return Ok(Vec::new());
        }
        let wanted: std::collections::HashMap<u64, u64> = repos.iter().copied().collect();
        let mut points = Vec::new();
        for entry in self.host.range(time_key(from)..=time_key(to)).keys().rev().take(MAX_POINTS) {
            let at = time_of(&entry?).ok_or_else(|| corrupt("key"))?;
            let mut point = HostPoint { at, storage_used: 0, repositories: 0, late: 0 };
            let mut add = |alert: u64, used: u64, last_save: i64| {
                point.storage_used = point.storage_used.saturating_add(used);
                point.repositories += 1;
                if alert > 0 && at.saturating_sub(last_save) > alert as i64 {
                    point.late += 1;
                }
            };
            // Each lookup reads about log2(count) records; the whole run reads every record in
            // one go, about eight times cheaper per record: look up a few of a large run, read
            // the whole run for many (a tenant's thousand of a 100,000-repository host).
            let count = self.runs.count(at)?;
            let per_lookup = 8 * u64::from(64 - count.leading_zeros()).max(1);
            if (repos.len() as u64).saturating_mul(per_lookup) < count {
                for &(id, alert) in repos {
                    if let Some((used, last_save)) = self.runs.find(at, id)? {
                        add(alert, used, last_save);
                    }
                }
            } else {
                for (id, used, last_save) in self.runs.records(at)? {
                    if let Some(&alert) = wanted.get(&id) {
                        add(alert, used, last_save);
                    }
                }
            }
            points.push(point);
        }
        points.reverse();
        Ok(points)
    }

    /// Forgets a deleted repository's history: its session points go, and its records in the
    /// runs stand unread until the runs age out ([`HistoryStore::forgotten`]).
    pub fn remove_repository(&self, id: u64) -> StoreResult<()> {
        let mut batch = crate::backend::Batch::default();
        for k in self.repos.scan_prefix(id.to_be_bytes()).keys() {
            batch.remove(k?);
        }
        self.repos.apply(batch)?;
        if let Some((newest_run, _)) = self.host.last()? {
            self.forgotten.insert(id.to_be_bytes(), newest_run)?;
        }
        Ok(())
    }

    /// Folds when the last fold is [`FOLD_EVERY`] old (or never ran). Blocking.
    pub fn fold_if_due(&self, now: i64) -> StoreResult<Option<FoldReport>> {
        let before = self.meta.get("folded")?.and_then(|v| time_of(&v)).unwrap_or(0);
        match now - before >= FOLD_EVERY {
            true => self.fold(before, now).map(Some),
            false => Ok(None),
        }
    }

    /// Keeps only what [`retention`] keeps at `now`, looking at the stretches whose points
    /// changed tier since `before`: check runs as a whole (every repository has a point in
    /// each), and each repository's session points.
    pub fn fold(&self, before: i64, now: i64) -> StoreResult<FoldReport> {
        let ranges = retention::fold_ranges(before, now);
        let mut report = FoldReport::default();
        // Session points, one repository at a time: the first key at or after `id`.
        let mut next = Some(0u64);
        while let Some(id) = next {
            let Some(first) = self.repos.range(id.to_be_bytes()..).keys().next() else { break };
            let first = first?;
            let id = u64::from_be_bytes(first[..8].try_into().map_err(|_| corrupt("key"))?);
            let mut batch = crate::backend::Batch::default();
            for &(from, to) in &ranges {
                let (keys, times) = self.times(&*self.repos, Some(id), from, to)?;
                report.read += keys.len();
                for (k, keep) in keys.into_iter().zip(retention::kept(&times, now)) {
                    if !keep {
                        batch.remove(k);
                        report.removed += 1;
                    }
                }
            }
            self.repos.apply(batch)?;
            next = id.checked_add(1);
        }
        // Check runs: the host point and every repository's record of a run go together.
        for &(from, to) in &ranges {
            let (keys, times) = self.times(&*self.host, None, from, to)?;
            report.read += keys.len();
            for ((k, at), keep) in keys.into_iter().zip(times.iter().copied()).zip(retention::kept(&times, now)) {
                if !keep {
                    // The host point first: a run file a crash leaves without one is never
                    // read, and goes below.
                    self.host.remove(k)?;
                    self.runs.remove(at)?;
                    report.removed += 1;
                }
            }
        }
        // Run files no host point names (a crash between the two removals above), older than
        // a run being written now could be.
        let mut oldest_run = None;
        for at in self.runs.times()? {
            if at < now - 60 && self.host.get(time_key(at))?.is_none() {
                self.runs.remove(at)?;
            } else {
                oldest_run = Some(oldest_run.map_or(at, |o: i64| o.min(at)));
            }
        }
        // A deleted repository's mark goes once no run from before its deletion is left.
        for entry in self.forgotten.iter() {
            let (id, newest_then) = entry?;
            let newest_then = time_of(&newest_then).ok_or_else(|| corrupt("forgotten"))?;
            if oldest_run.is_none_or(|oldest| oldest > newest_then) {
                self.forgotten.remove(id)?;
            }
        }
        self.meta.insert("folded", time_key(now))?;
        Ok(report)
    }

    /// The keys and times of `tree`'s points from `from` to before `to`, for one repository or
    /// for the host.
    fn times(
        &self,
        tree: &dyn crate::backend::Table,
        id: Option<u64>,
        from: i64,
        to: i64,
    ) -> StoreResult<(Vec<crate::backend::Bytes>, Vec<i64>)> {
        let key = |at| match id {
            Some(id) => repo_key(id, at).to_vec(),
            None => time_key(at).to_vec(),
        };
        let skip = if id.is_some() { 8 } else { 0 };
        let (mut keys, mut times) = (Vec::new(), Vec::new());
        for k in tree.range(key(from)..key(to)).keys() {
            let k = k?;
            times.push(time_of(&k[skip..]).ok_or_else(|| corrupt("key"))?);
            keys.push(k);
        }
        Ok((keys, times))
    }

    /// Every point, for a snapshot. Blocking.
    pub fn export(&self) -> StoreResult<HistorySnapshot> {
        let mut by_repo: std::collections::BTreeMap<u64, Vec<[i64; 3]>> = Default::default();
        let mut out = HistorySnapshot::default();
        for entry in self.host.iter() {
            let (k, v) = entry?;
            let h = host_point(&k, &v)?;
            out.host.push([h.at, h.storage_used as i64, h.repositories as i64, h.late as i64]);
            for (id, used, last) in self.runs.records(h.at)? {
                if !self.forgotten.contains_key(id.to_be_bytes())? {
                    by_repo.entry(id).or_default().push([h.at, used as i64, last]);
                }
            }
        }
        for entry in self.repos.iter() {
            let (k, v) = entry?;
            let id = u64::from_be_bytes(k[..8].try_into().map_err(|_| corrupt("key"))?);
            let at = time_of(&k[8..]).ok_or_else(|| corrupt("key"))?;
            let [storage_used, last_save] = words::<2>(&v).ok_or_else(|| corrupt("point"))?;
            by_repo.entry(id).or_default().push([at, storage_used as i64, last_save as i64]);
        }
        for (id, mut points) in by_repo {
            points.sort_by_key(|p| p[0]);
            points.dedup_by_key(|p| p[0]);
            out.repositories.push(RepoHistory { id, points });
        }
        Ok(out)
    }

    /// Writes a snapshot's points. Only the repositories in `known` are taken; the others'
    /// points would have no repository. A point at a host point's time is a check run's.
    pub fn restore(&self, snapshot: &HistorySnapshot, known: &std::collections::HashSet<u64>) -> StoreResult<usize> {
        let run_times: std::collections::HashSet<i64> = snapshot.host.iter().map(|h| h[0]).collect();
        let mut runs: std::collections::BTreeMap<i64, Vec<(u64, u64, i64)>> = Default::default();
        let mut written = 0;
        let mut batch = crate::backend::Batch::default();
        for r in snapshot.repositories.iter().filter(|r| known.contains(&r.id)) {
            for &[at, storage_used, last_save] in &r.points {
                let used = storage_used.max(0) as u64;
                match run_times.contains(&at) {
                    true => runs.entry(at).or_default().push((r.id, used, last_save)),
                    false => batch.insert(repo_key(r.id, at), point_value(used, last_save)),
                }
                written += 1;
            }
        }
        self.repos.apply(batch)?;
        for (at, mut points) in runs {
            points.sort_unstable_by_key(|p| p.0);
            self.write_run(at, &points)?;
        }
        let mut batch = crate::backend::Batch::default();
        for &[at, storage_used, repositories, late] in &snapshot.host {
            let h = HostPoint {
                at,
                storage_used: storage_used.max(0) as u64,
                repositories: repositories.max(0) as u64,
                late: late.max(0) as u64,
            };
            batch.insert(time_key(at), host_value(&h));
        }
        self.host.apply(batch)?;
        Ok(written)
    }

    /// True when no point is stored.
    pub fn is_empty(&self) -> bool {
        self.repos.is_empty() && self.host.is_empty()
    }

    /// Forgets every point (a restore replaces them).
    pub fn clear(&self) -> StoreResult<()> {
        self.runs.clear()?;
        self.repos.clear()?;
        self.host.clear()?;
        self.meta.clear()?;
        self.forgotten.clear()?;
        Ok(())
    }
}

fn host_value(h: &HostPoint) -> [u8; 24] {
    let mut v = [0u8; 24];
    v[..8].copy_from_slice(&h.storage_used.to_be_bytes());
    v[8..16].copy_from_slice(&h.repositories.to_be_bytes());
    v[16..].copy_from_slice(&h.late.to_be_bytes());
    v
}

fn host_point(k: &[u8], v: &[u8]) -> StoreResult<HostPoint> {
    let at = time_of(k).ok_or_else(|| corrupt("key"))?;
    let [storage_used, repositories, late] = words::<3>(v).ok_or_else(|| corrupt("host point"))?;
    Ok(HostPoint { at, storage_used, repositories, late })
}

/// What a fold did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FoldReport {
    /// Points read.
    pub read: usize,
    /// Points removed.
    pub removed: usize,
}

#[cfg(test)]
mod tests;
