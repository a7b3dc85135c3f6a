//! Each repository's history, and the host's: one point per repository per check run and per
//! session (`storageUsed`, `lastSave`), and one host point per check run (the sums), kept by
//! age as [`retention`] says and deleted with the repository.
//!
//! A point is one small sled entry keyed by repository id and time, so a repository's history
//! is one prefix range (a few hundred entries at most) and a check's 100,000 points are one
//! batch. Nothing is held in memory beyond what a query or a fold reads. The fold runs at most
//! once an hour ([`FOLD_EVERY`]) and reads only the stretches whose points changed tier since
//! the last fold.

pub mod retention;

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
    /// repository id (8) + time (8) -> storage used (8) + last save (8).
    repos: sled::Tree,
    /// time (8) -> storage used (8) + repositories (8) + late (8).
    host: sled::Tree,
    /// `folded`: when the last fold ran.
    meta: sled::Tree,
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

fn corrupt(what: &str) -> StoreError {
    StoreError::corrupt(format!("history {what}"), "malformed entry")
}

impl HistoryStore {
    pub fn open(db: &sled::Db) -> StoreResult<Self> {
        Ok(HistoryStore {
            repos: db.open_tree("history_repositories")?,
            host: db.open_tree("history_host")?,
            meta: db.open_tree("history_meta")?,
        })
    }

    /// Writes one check run's (or a session's) points in one batch, and the host's sums when
    /// `host` is given. Folding is left to [`HistoryStore::fold_if_due`], off the check's path.
    pub fn record(&self, at: i64, points: &[(u64, u64, i64)], host: Option<HostPoint>) -> StoreResult<()> {
        let mut batch = sled::Batch::default();
        for &(id, storage_used, last_save) in points {
            let mut v = [0u8; 16];
            v[..8].copy_from_slice(&storage_used.to_be_bytes());
            v[8..].copy_from_slice(&last_save.to_be_bytes());
            batch.insert(&repo_key(id, at), &v);
        }
        self.repos.apply_batch(batch)?;
        if let Some(h) = host {
            self.host.insert(time_key(h.at), host_value(&h).to_vec())?;
        }
        Ok(())
    }

    /// The repository's points from `from` to `to` (inclusive), oldest first; the newest
    /// [`MAX_POINTS`] when there are more.
    pub fn repository(&self, id: u64, from: i64, to: i64) -> StoreResult<Vec<Point>> {
        if from > to {
            return Ok(Vec::new());
        }
        let range = self.repos.range(repo_key(id, from)..=repo_key(id, to));
        let mut points = Vec::new();
        for entry in range.rev().take(MAX_POINTS) {
            let (k, v) = entry?;
            let at = time_of(&k[8..]).ok_or_else(|| corrupt("key"))?;
            let [storage_used, last_save] = words::<2>(&v).ok_or_else(|| corrupt("point"))?;
            points.push(Point { at, storage_used, last_save: last_save as i64 });
        }
        points.reverse();
        Ok(points)
    }

    /// The repository's newest `n` points, oldest first.
    pub fn newest(&self, id: u64, n: usize) -> StoreResult<Vec<Point>> {
        let mut points = Vec::with_capacity(n);
        for entry in self.repos.scan_prefix(id.to_be_bytes()).rev().take(n) {
            let (k, v) = entry?;
            let at = time_of(&k[8..]).ok_or_else(|| corrupt("key"))?;
            let [storage_used, last_save] = words::<2>(&v).ok_or_else(|| corrupt("point"))?;
            points.push(Point { at, storage_used, last_save: last_save as i64 });
        }
        points.reverse();
        Ok(points)
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

    /// Forgets a deleted repository's history.
    pub fn remove_repository(&self, id: u64) -> StoreResult<()> {
        let mut batch = sled::Batch::default();
        for k in self.repos.scan_prefix(id.to_be_bytes()).keys() {
            batch.remove(k?);
        }
        self.repos.apply_batch(batch)?;
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
    /// changed tier since `before`. Each repository's stretch is one range read.
    pub fn fold(&self, before: i64, now: i64) -> StoreResult<FoldReport> {
        let ranges = retention::fold_ranges(before, now);
        let mut report = FoldReport::default();
        // Repository ids, one at a time: the first key at or after `id + 1`.
        let mut next = Some(0u64);
        while let Some(id) = next {
            let Some(first) = self.repos.range(id.to_be_bytes()..).keys().next() else { break };
            let first = first?;
            let id = u64::from_be_bytes(first[..8].try_into().map_err(|_| corrupt("key"))?);
            let mut batch = sled::Batch::default();
            for &(from, to) in &ranges {
                let (keys, times) = self.times(&self.repos, Some(id), from, to)?;
                report.read += keys.len();
                for (k, keep) in keys.into_iter().zip(retention::kept(&times, now)) {
                    if !keep {
                        batch.remove(k);
                        report.removed += 1;
                    }
                }
            }
            self.repos.apply_batch(batch)?;
            next = id.checked_add(1);
        }
        let mut batch = sled::Batch::default();
        for &(from, to) in &ranges {
            let (keys, times) = self.times(&self.host, None, from, to)?;
            for (k, keep) in keys.into_iter().zip(retention::kept(&times, now)) {
                if !keep {
                    batch.remove(k);
                    report.removed += 1;
                }
            }
        }
        self.host.apply_batch(batch)?;
        self.meta.insert("folded", time_key(now).to_vec())?;
        Ok(report)
    }

    /// The keys and times of `tree`'s points from `from` to before `to`, for one repository or
    /// for the host.
    fn times(
        &self,
        tree: &sled::Tree,
        id: Option<u64>,
        from: i64,
        to: i64,
    ) -> StoreResult<(Vec<sled::IVec>, Vec<i64>)> {
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
        let mut out = HistorySnapshot::default();
        for entry in self.repos.iter() {
            let (k, v) = entry?;
            let id = u64::from_be_bytes(k[..8].try_into().map_err(|_| corrupt("key"))?);
            let at = time_of(&k[8..]).ok_or_else(|| corrupt("key"))?;
            let [storage_used, last_save] = words::<2>(&v).ok_or_else(|| corrupt("point"))?;
            let point = [at, storage_used as i64, last_save as i64];
            match out.repositories.last_mut() {
                Some(r) if r.id == id => r.points.push(point),
                _ => out.repositories.push(RepoHistory { id, points: vec![point] }),
            }
        }
        for entry in self.host.iter() {
            let (k, v) = entry?;
            let h = host_point(&k, &v)?;
            out.host.push([h.at, h.storage_used as i64, h.repositories as i64, h.late as i64]);
        }
        Ok(out)
    }

    /// Writes a snapshot's points. Only the repositories in `known` are taken; the others'
    /// points would have no repository.
    pub fn restore(&self, snapshot: &HistorySnapshot, known: &std::collections::HashSet<u64>) -> StoreResult<usize> {
        let mut written = 0;
        for r in snapshot.repositories.iter().filter(|r| known.contains(&r.id)) {
            let mut batch = sled::Batch::default();
            for &[at, storage_used, last_save] in &r.points {
                let mut v = [0u8; 16];
                v[..8].copy_from_slice(&(storage_used.max(0) as u64).to_be_bytes());
                v[8..].copy_from_slice(&last_save.to_be_bytes());
                batch.insert(&repo_key(r.id, at), &v);
                written += 1;
            }
            self.repos.apply_batch(batch)?;
        }
        let mut batch = sled::Batch::default();
        for &[at, storage_used, repositories, late] in &snapshot.host {
            let h = HostPoint {
                at,
                storage_used: storage_used.max(0) as u64,
                repositories: repositories.max(0) as u64,
                late: late.max(0) as u64,
            };
            batch.insert(&time_key(at), &host_value(&h));
        }
        self.host.apply_batch(batch)?;
        Ok(written)
    }

    /// True when no point is stored.
    pub fn is_empty(&self) -> bool {
        self.repos.is_empty() && self.host.is_empty()
    }

    /// Forgets every point (a restore replaces them).
    pub fn clear(&self) -> StoreResult<()> {
        self.repos.clear()?;
        self.host.clear()?;
        self.meta.clear()?;
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
