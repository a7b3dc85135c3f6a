//! The in-memory index: per repository what lookups need (name, key digest, archived), the
//! checks' figures, and the few fields a metrics scrape shows (alias, quota, append-only), about
//! 155 bytes, so 100,000 repositories take about 15 MiB. Records themselves are read from the
//! store when asked for; the list answer is cached gzipped, once per path family
//! (`list_answer.rs`).
//!
//! Why the scrape's fields live here: a scrape (every 15 s with Prometheus) that read all
//! records from sled left 10-17 MiB of heap behind at 100,000 repositories (sled's cache pages,
//! loaded during the read, pin the pages of everything freed around them); these fields cost
//! about 2.5 MiB (the idle server's growth, measured).

use std::collections::{BTreeMap, HashMap};

use super::aliases::{AliasArena, AliasSpan};
use super::record::Repo;
use super::record::{status_at, Scan};
use bw_host::pool::NameCode;
use bw_host::ssh_key::{digest_of_stored, KeyDigest};

/// What the index keeps of one repository.
#[derive(Debug, Clone, Copy)]
struct Entry {
    name: NameCode,
    archived: bool,
    /// The first key's mode.
    append_only: bool,
    /// Whether every key is append-only: only then can no client delete (a full key beside
    /// an append-only one can compact away what the append-only one marked deleted).
    every_key_append_only: bool,
    /// The first key; the others of a repository with several are in [`Index::more_keys`].
    key: Option<KeyDigest>,
    /// The checks' figures: these, not the stored record's, are the current ones.
    scan: Scan,
    /// Seconds without a backup before the repository is late (the status check decides on
    /// the index alone).
    alert: u64,
    /// The quota in GB.
    storage_size: u64,
    alias: AliasSpan,
    /// The tenant, as its code in [`TenantCodes`].
    tenant: TenantCode,
}

/// A tenant's name as a small number: an entry stays `Copy` and small, and a host has few
/// tenants. 0 is the host's own (no tenant).
pub(super) type TenantCode = u32;

/// The tenants' names by code; a name keeps its code for the life of the index.
#[derive(Debug, Default)]
pub(super) struct TenantCodes(Vec<Box<str>>);

impl TenantCodes {
    fn code(&mut self, tenant: Option<&str>) -> TenantCode {
        let Some(name) = tenant else { return 0 };
        let at = match self.0.iter().position(|n| &**n == name) {
            Some(at) => at,
            None => {
                self.0.push(name.into());
                self.0.len() - 1
            }
        };
        at as TenantCode + 1
    }

    fn name(&self, code: TenantCode) -> Option<&str> {
        code.checked_sub(1).and_then(|i| self.0.get(i as usize)).map(|n| &**n)
    }
}

/// One repository as a metrics scrape shows it, read from the index (no store read).
#[derive(Debug, Clone, Copy)]
pub struct RepoSummary<'a> {
    pub id: u64,
    /// The name, held as a number; displays as the name.
    pub name: NameCode,
    pub alias: &'a str,
    /// Unix seconds; 0 before the first backup.
    pub last_save: i64,
    /// KiB, as `du -s` counts them.
    pub storage_used: u64,
    /// GB.
    pub storage_size: u64,
    pub alert: u64,
    /// `status` as the API answers it at the `now` given.
    pub status: bool,
    /// The first key's mode (`appendOnlyMode`).
    pub append_only: bool,
    /// Whether every key of the repository is append-only.
    pub every_key_append_only: bool,
    pub archived: bool,
    /// How many keys the repository has.
    pub keys: usize,
    /// The tenant it belongs to; `None`: the host's own.
    pub tenant: Option<&'a str>,
}

impl RepoSummary<'_> {
    /// Late, the one way every count of late repositories counts it (the status check's log,
    /// the host's history, `/metrics`): monitored (`alert` set), not archived, and without a
    /// backup within its alert delay.
    pub fn late(&self) -> bool {
        !self.status && self.alert != 0 && !self.archived
    }
}

/// A repository a check reported, as the in-memory index has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flagged {
    pub id: u64,
    pub repository_name: String,
    pub alias: String,
    /// Unix seconds; 0 before the first backup.
    pub last_save: i64,
}

#[derive(Default)]
pub(super) struct Index {
    /// Bumped on every change, so answers built from the store know when they are stale.
    pub generation: u64,
    entries: BTreeMap<u64, Entry>,
    by_name: HashMap<NameCode, u64>,
    by_key: HashMap<KeyDigest, u64>,
    /// The keys after the first, of the repositories that have more than one (few do: kept
    /// apart so that an entry stays small).
    more_keys: HashMap<u64, Box<[KeyDigest]>>,
    aliases: AliasArena,
    tenants: TenantCodes,
}

/// What the index keeps of one repository, made before the index exists (start-up): its
/// entry and its keys after the first.
pub(super) struct Loaded(u64, Entry, Box<[KeyDigest]>);

impl Loaded {
    /// `aliases` receives the repository's alias: at start-up a buffer that becomes the
    /// index's, afterwards the index's own.
    pub fn of(repo: &Repo, aliases: &mut AliasArena, tenants: &mut TenantCodes) -> Option<Loaded> {
        let Some(name) = NameCode::of(&repo.repository_name) else {
            // Unreachable through the API and the import, which check names.
            tracing::error!(id = repo.id, repository = %repo.repository_name, "a stored repository has a name that is not 8 hex characters; left out");
            return None;
        };
        let key = digest_of_stored(repo.ssh_public_key());
        let more: Box<[KeyDigest]> =
            repo.keys.iter().skip(1).filter_map(|k| digest_of_stored(&k.ssh_public_key)).collect();
        let entry = Entry {
            name,
            archived: repo.archived,
            append_only: repo.append_only_mode(),
            every_key_append_only: repo.keys.iter().all(|k| k.mode.is_append_only()),
            key,
            scan: repo.scan(),
            alert: repo.alert,
            storage_size: repo.storage_size,
            alias: aliases.add(&repo.alias),
            tenant: tenants.code(repo.tenant.as_deref()),
        };
        Some(Loaded(repo.id, entry, more))
    }
}

impl Index {
    /// The index of every stored repository, built at once: the id map's nodes come out full
    /// (inserting in id order one by one leaves them half empty: twice the memory).
    pub fn from_loaded(mut loaded: Vec<Loaded>, aliases: AliasArena, tenants: TenantCodes) -> Index {
        loaded.sort_unstable_by_key(|l| l.0);
        let mut by_name = HashMap::with_capacity(loaded.len());
        let mut by_key = HashMap::with_capacity(loaded.len());
        let mut more_keys = HashMap::new();
        for Loaded(id, e, more) in &mut loaded {
            by_name.insert(e.name, *id);
            for k in e.key.iter().chain(more.iter()) {
                by_key.insert(*k, *id);
            }
            if !more.is_empty() {
                more_keys.insert(*id, std::mem::take(more));
            }
        }
        let entries: BTreeMap<u64, Entry> = loaded.into_iter().map(|Loaded(id, e, _)| (id, e)).collect();
        Index { generation: 1, entries, by_name, by_key, more_keys, aliases, tenants }
    }

    /// Puts what the index keeps of `repo`, its check figures included.
    pub fn put(&mut self, repo: &Repo) {
        self.generation += 1;
        self.unlink(repo.id);
        let Some(Loaded(id, entry, more)) = Loaded::of(repo, &mut self.aliases, &mut self.tenants) else {
            // Kept out of the index rather than aliased to another name.
            self.drop_entry(repo.id);
            return;
        };
        self.by_name.insert(entry.name, id);
        for k in entry.key.iter().chain(more.iter()) {
            self.by_key.insert(*k, id);
        }
        if !more.is_empty() {
            self.more_keys.insert(id, more);
        }
        if let Some(old) = self.entries.insert(id, entry) {
            self.aliases.release(old.alias);
            self.compact_aliases_if_worth_it();
        }
    }

    /// Removes `id`'s entry from `entries` and its alias from the buffer.
    fn drop_entry(&mut self, id: u64) {
        if let Some(old) = self.entries.remove(&id) {
            self.aliases.release(old.alias);
            self.compact_aliases_if_worth_it();
        }
    }

    fn compact_aliases_if_worth_it(&mut self) {
        if self.aliases.needs_compaction() {
            self.aliases.compact(self.entries.values_mut().map(|e| &mut e.alias));
        }
    }

    pub fn scan_of(&self, id: u64) -> Option<Scan> {
        self.entries.get(&id).map(|e| e.scan)
    }

    /// A repository's check figures and its `alert`.
    pub fn scan_and_alert(&self, id: u64) -> Option<(Scan, u64)> {
        self.entries.get(&id).map(|e| (e.scan, e.alert))
    }

    /// Sets a repository's check figures; `false` when it is gone.
    pub fn set_scan(&mut self, id: u64, scan: Scan) -> bool {
        match self.entries.get_mut(&id) {
            Some(e) if e.scan != scan => {
                e.scan = scan;
                self.generation += 1;
                true
            }
            Some(_) => true,
            None => false,
        }
    }

    /// The check figures of the repositories `wanted` says yes to, in id order.
    pub fn scans(&self, wanted: impl Fn(u64) -> bool) -> Vec<(u64, Scan)> {
        self.entries.iter().filter(|(id, _)| wanted(**id)).map(|(id, e)| (*id, e.scan)).collect()
    }

    /// Takes `id`'s entry out of the lookups (not out of `entries`); `false` when there is none.
    fn unlink(&mut self, id: u64) -> bool {
        let Some(old) = self.entries.get(&id) else {
            return false;
        };
        let (name, key) = (old.name, old.key);
        if self.by_name.get(&name) == Some(&id) {
            self.by_name.remove(&name);
        }
        let more = self.more_keys.remove(&id).unwrap_or_default();
        for k in key.iter().chain(more.iter()) {
            if self.by_key.get(k) == Some(&id) {
                self.by_key.remove(k);
            }
        }
        true
    }

    pub fn remove(&mut self, id: u64) -> bool {
        self.generation += 1;
        let had = self.unlink(id);
        self.drop_entry(id);
        had
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn id_of_name(&self, name: &str) -> Option<u64> {
        self.by_name.get(&NameCode::of(name)?).copied()
    }

    pub fn id_of_key(&self, key: &KeyDigest) -> Option<u64> {
        self.by_key.get(key).copied()
    }

    pub fn name_of(&self, id: u64) -> Option<String> {
        self.entries.get(&id).map(|e| e.name.to_string())
    }

    /// `(id, name)` of every repository the checks read, in id order: all but the archived.
    pub fn scan_targets(&self) -> Vec<(u64, String)> {
        self.entries.iter().filter(|(_, e)| !e.archived).map(|(id, e)| (*id, e.name.to_string())).collect()
    }

    /// Every repository as a scrape shows it, in id order, with `status` for `now`.
    pub fn summaries(&self, now: i64) -> impl Iterator<Item = RepoSummary<'_>> {
        self.entries.iter().map(move |(id, e)| self.summary_of(*id, e, now))
    }

    /// One repository as a scrape shows it.
    pub fn summary(&self, id: u64, now: i64) -> Option<RepoSummary<'_>> {
        self.entries.get(&id).map(|e| self.summary_of(id, e, now))
    }

    fn summary_of<'a>(&'a self, id: u64, e: &'a Entry, now: i64) -> RepoSummary<'a> {
        RepoSummary {
            id,
            name: e.name,
            alias: self.aliases.get(e.alias),
            last_save: e.scan.last_save,
            storage_used: e.scan.storage_used,
            storage_size: e.storage_size,
            alert: e.alert,
            status: status_at(e.scan.imported_status, e.scan.last_save, e.alert, now),
            append_only: e.append_only,
            every_key_append_only: e.every_key_append_only,
            archived: e.archived,
            keys: usize::from(e.key.is_some()) + self.more_keys.get(&id).map_or(0, |m| m.len()),
            tenant: self.tenants.name(e.tenant),
        }
    }

    /// Every key and the repository that holds it.
    pub fn keys(&self) -> impl Iterator<Item = (&KeyDigest, u64)> {
        self.by_key.iter().map(|(k, id)| (k, *id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::conformance::sample_repos as repos;

    fn aliases(index: &Index) -> Vec<(u64, String)> {
        index.summaries(0).map(|r| (r.id, r.alias.to_string())).collect()
    }

    #[test]
    fn summaries_follow_puts_and_removes_through_alias_compaction() {
        let mut index = Index::default();
        for r in repos(3_000) {
            index.put(&r);
        }
        // Every alias edited many times over, and a third of the repositories removed: the
        // alias buffer is compacted along the way, and each summary still has its own alias.
        for round in 0..8 {
            for mut r in repos(3_000) {
                r.alias = format!("round {round} of host {} with a longer alias", r.id);
                r.storage_size = 100 + round;
                index.put(&r);
            }
        }
        for id in (0..3_000).step_by(3) {
            assert!(index.remove(id));
        }
        let expected: Vec<(u64, String)> = (0..3_000u64)
            .filter(|id| id % 3 != 0)
            .map(|id| (id, format!("round 7 of host {id} with a longer alias")))
            .collect();
        assert_eq!(aliases(&index), expected);
        assert!(index.summaries(0).all(|r| r.storage_size == 107));
        let live: usize = expected.iter().map(|(_, a)| a.len()).sum();
        assert!(
            index.aliases.buffer_len() < 3 * live,
            "compacted: {} bytes for {live} live",
            index.aliases.buffer_len()
        );
    }

    #[test]
    fn a_summary_says_what_the_record_says_at_the_time_given() {
        let mut index = Index::default();
        let mut r = repos(1).next().unwrap();
        r.keys[0].mode = crate::repo_store::KeyMode::AppendOnly;
        r.archived = true;
        index.put(&r);
        let at = |now| index.summaries(now).next().unwrap();
        let s = at(r.last_save + 90_000);
        assert_eq!((s.name.0, s.alias, s.storage_used, s.storage_size), (0, "host-0", 1234, 100));
        assert!(s.append_only && s.archived);
        assert!(s.status, "within the alert delay");
        assert!(!at(r.last_save + 90_001).status, "past it");
        assert_eq!(at(r.last_save + 90_001).status, r.clone().at(r.last_save + 90_001).status);
    }
}
