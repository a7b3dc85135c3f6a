//! Repositories: their table behind the store seam ([`crate::backend`]), the truth; an
//! in-memory index that serves reads; and the `authorized_keys` lines and pool folders that
//! follow from them.
//!
//! - [`record`]: the record and its lines; [`access_key`]: its keys;
//! - [`stored`]: the record's compact form in the store;
//! - [`index`]: the in-memory index, with [`aliases`] (every alias in one buffer);
//! - [`check_figures`]: the checks' figures, saved in pages beside the store;
//! - [`mutations`]: create, edit, delete and the checks' writes, each with its undo;
//!   [`key_mutations`]: a repository's keys;
//! - [`import`]: BorgWarehouse's `repo.json` and first-start adoption of existing lines.
//!
//! Every mutation holds one lock, writes the store (flushed before it answers) and hands its
//! change to the key sink ([`crate::key_sink`], beside the store: what sshd reads follows it),
//! which writes one key file or a bounded part of `authorized_keys`. A crash between the two is repaired by [`RepoStore::reconcile`] at the next start; a failed
//! key write rolls the store change back.

pub mod access_key;
mod aliases;
mod audit;
mod change_count;
mod change_lock;
pub use change_count::REPAIR_EVERY;
mod check_figures;
mod following;
pub mod import;
mod index;
mod key_mutations;
mod mutations;
mod record;
pub mod restore;
mod stored;

use std::sync::RwLock;

use crate::store_error::{StoreError, StoreResult};
use bw_host::authorized_keys::{AuthorizedKeys, RepoLine, SyncReport};
use bw_host::pool::Pool;
use stored::{decode_record, encode_record};

use crate::key_sink::KeySink;
pub use access_key::{AccessKey, KeyMode, KeyPatch, NewKey};
use index::Index;
pub use index::{Flagged, RepoSummary};
pub use record::{is_on_time, NewRepo, Repo, RepoKey, RepoPatch, Scan};

/// The tables of repository records, and of what the repositories share (the id counter, marks).
const REPOS_TABLE: &str = "repos";
const META_TABLE: &str = "meta";
const NEXT_ID: &[u8] = b"next_repo_id";
/// Set once the store has been reconciled with `authorized_keys` for the first time.
const INITIALIZED: &[u8] = b"initialized";
/// The token of the last clean stop in command mode (see [`RepoStore::mark_clean_stop`]).
const KEY_DIR_CLEAN: &[u8] = b"key_dir_clean_stop";
/// SHA-256 of the line shape ([`AuthorizedKeys::shape`]) the key lines were last brought in
/// line with: a start whose configuration or version writes other lines rewrites them all.
const LINE_SHAPE: &[u8] = b"line_shape";

fn id_key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

pub struct RepoStore {
    db: crate::backend::SharedBackend,
    repos: std::sync::Arc<dyn crate::backend::Table>,
    meta: std::sync::Arc<dyn crate::backend::Table>,
    index: RwLock<Index>,
    write: tokio::sync::Mutex<()>,
    /// The tenants' quotas, checked under `write` (see `crate::tenant_store`).
    tenants: std::sync::Arc<dyn crate::backend::Table>,
    /// The audit entry of the change under way (set under `write`), written with its record;
    /// and the key it was written at, taken back if the change is undone.
    audit: audit::PendingAudit,
    keys: AuthorizedKeys,
    sink: KeySink,
    pool: Pool,
    /// `DATA_DIR/checks/`, or its entries in a shared database, see [`check_figures`].
    checks: check_figures::CheckFigures,
    /// The count of changes ([`change_lock`]) the index shows.
    changes_seen: std::sync::atomic::AtomicU64,
    /// Dates new keys.
    clock: crate::clock::Clock,
    /// The token of the clean stop before this opening, if there was one.
    clean_stop: Option<u64>,
    /// Set while a mutation has changed the store and not yet its key lines (a mutation cut
    /// off midway leaves it set: no clean stop is marked then).
    unsettled: std::sync::atomic::AtomicBool,
}

impl RepoStore {
    /// Opens the repositories of `db`, with their check figures (files of `data_dir`, or with
    /// a database several servers share entries there: [`check_figures`]) where those are
    /// newer than the record.
    pub fn open(
        db: &crate::backend::SharedBackend,
        keys: AuthorizedKeys,
        sink: KeySink,
        pool: Pool,
        data_dir: &std::path::Path,
        clock: crate::clock::Clock,
    ) -> StoreResult<Self> {
        let repos = db.table(REPOS_TABLE)?;
        let meta = db.table(META_TABLE)?;
        // Whoever opens the store next may change it: a clean stop counts once.
        let clean_stop = meta.get(KEY_DIR_CLEAN)?.and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes));
        meta.remove(KEY_DIR_CLEAN)?;
        // Read before the records: they show at least the changes counted.
        let changes_seen = change_count::changes_of(meta.get(change_count::CHANGES)?.as_deref()).0;
        let mut legacy = crate::backend::Batch::default();
        let mut legacy_count = 0usize;
        let mut written_at: std::collections::HashMap<u64, u64> = std::collections::HashMap::new();
        let mut loaded = Vec::new();
        let mut aliases = aliases::AliasArena::default();
        let mut tenants = index::TenantCodes::default();
        for item in repos.iter() {
            let (k, v) = item?;
            let (mut repo, seq) = stored::decode_with_seq(|| format!("repository {}", hex_key(&k)), &v)?;
            if stored::is_legacy(&v) {
                // Keys of the versions before keys had records of their own: dated now.
                for key in repo.keys.iter_mut().filter(|k| k.created_at == 0) {
                    key.created_at = clock.now();
                }
                legacy.insert(k, encode_record(&repo, 0)?);
                legacy_count += 1;
            }
            written_at.insert(repo.id, seq);
            loaded.extend(index::Loaded::of(&repo, &mut aliases, &mut tenants));
        }
        let mut index = Index::from_loaded(loaded, aliases, tenants);
        let (checks, saved) = check_figures::CheckFigures::open(db, data_dir)?;
        // The checks' figures saved after a record was last written are the newer ones.
        for (saved_at, scans) in saved {
            for (id, scan) in scans {
                if written_at.get(&id).is_some_and(|w| *w < saved_at) {
                    index.set_scan(id, scan);
                }
            }
        }
        drop(written_at);
        if legacy_count > 0 {
            // Records of an earlier version (JSON) are rewritten once in the compact form.
            repos.apply(legacy)?;
            db.flush()?;
            tracing::info!(
                records = legacy_count,
                "store: repository records of an earlier version rewritten (keys of their own)"
            );
        }
        Ok(Self {
            db: db.clone(),
            repos,
            meta,
            index: RwLock::new(index),
            write: tokio::sync::Mutex::new(()),
            tenants: db.table(crate::tenant_store::TABLE)?,
            audit: audit::PendingAudit::open(db)?,
            keys,
            sink,
            pool,
            checks,
            changes_seen: changes_seen.into(),
            clock,
            clean_stop,
            unsettled: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Reads the index again from the records, after another server sharing this store's
    /// database changed them (`Backend::on_changes_elsewhere`). Taken under the write lock, so
    /// no change of this server's is half in it; the check figures this server holds are kept
    /// where they are, and answers cached on the old index go stale (a new generation).
    /// Blocking: call it from a thread of its own, never from an async task.
    pub fn reload(&self) -> StoreResult<()> {
        let _writing = self.write.blocking_lock();
        // Read before the records: they show at least the changes counted.
        let count = self.changes_count()?;
        self.reload_holding_lock(count)
    }

    /// [`RepoStore::reload`], with the write lock held, the records showing at least `count`
    /// changes ([`change_lock`]).
    fn reload_holding_lock(&self, count: u64) -> StoreResult<()> {
        let mut loaded = Vec::new();
        let mut aliases = aliases::AliasArena::default();
        let mut tenants = index::TenantCodes::default();
        for item in self.repos.iter() {
            let (k, v) = item?;
            let (repo, _) = stored::decode_with_seq(|| format!("repository {}", hex_key(&k)), &v)?;
            loaded.extend(index::Loaded::of(&repo, &mut aliases, &mut tenants));
        }
        let mut fresh = Index::from_loaded(loaded, aliases, tenants);
        let mut index = self.index_mut();
        for (id, _) in fresh.scan_targets() {
            if let Some(scan) = index.scan_of(id) {
                fresh.set_scan(id, scan);
            }
        }
        fresh.generation = index.generation + 1;
        *index = fresh;
        self.changes_seen.store(count, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// Reads the check figures again, after a server on a database this one shares saved
    /// them: the pages `heard` names (all of them when a change names none), each where it was
    /// saved later than this server last read or wrote it. A page replaces this server's
    /// figures of its repositories (it is the saving server's whole index of them, saved under
    /// its write lock). Blocking, as [`RepoStore::reload`].
    pub fn reload_figures(&self, heard: &[crate::backend::Change]) -> StoreResult<()> {
        let mut pages = check_figures::Pages::default();
        for change in heard.iter().filter(|c| c.table == "*" || c.table == check_figures::TABLE) {
            match &change.key {
                Some(key) if change.table != "*" => pages.add(check_figures::Pages::named([key.as_slice()])),
                _ => pages = check_figures::Pages::ALL,
            }
        }
        if pages.is_empty() {
            return Ok(());
        }
        let _writing = self.write.blocking_lock();
        let saved = self.checks.read_newer(pages)?;
        if saved.is_empty() {
            return Ok(());
        }
        let mut index = self.index_mut();
        for (id, scan) in saved.into_iter().flat_map(|(_, scans)| scans) {
            index.set_scan(id, scan);
        }
        index.generation += 1;
        Ok(())
    }

    pub fn authorized_keys(&self) -> &AuthorizedKeys {
        &self.keys
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    fn index_mut(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The id and name of every repository the checks read, ordered by id: all but the
    /// archived, whose figures stay as they were.
    pub fn scan_targets(&self) -> Vec<(u64, String)> {
        self.read().scan_targets()
    }

    /// A stored record with the current check figures.
    fn current(&self, repo: Repo) -> Repo {
        match self.read().scan_of(repo.id) {
            Some(scan) => repo.with_scan(scan),
            None => repo,
        }
    }

    /// Every repository as a metrics scrape shows it, in id order, with `status` for `now`,
    /// read from the index alone (no store read). `each` runs under the index's read lock, so
    /// it must only copy: changes wait for the walk (7 ms at 100,000 repositories, measured).
    pub fn summaries(&self, now: i64, mut each: impl FnMut(RepoSummary<'_>)) {
        for summary in self.read().summaries(now) {
            each(summary);
        }
    }

    /// Makes answers built from the repositories stale: something they show that the index does
    /// not hold (a verify result) changed.
    pub fn answers_changed(&self) {
        self.index_mut().generation += 1;
    }

    /// Moves at every change of what the repositories show: an answer built at one generation
    /// says what the index says while the generation is the same (the API's cached lists).
    pub fn generation(&self) -> u64 {
        self.read().generation
    }

    /// One repository as [`RepoStore::summaries`] shows it, handed to `each` under the index's
    /// read lock (copy what you need).
    pub fn summary<T>(&self, id: u64, now: i64, each: impl FnOnce(RepoSummary<'_>) -> T) -> Option<T> {
        self.read().summary(id, now).map(each)
    }

    /// Every stored record, in id order, read from the store as the iterator advances, with the
    /// current check figures. Holds no lock between items: a reader that takes its time delays
    /// no change.
    pub fn records(&self) -> impl Iterator<Item = StoreResult<Repo>> + '_ {
        self.repos.iter().map(|item| {
            let (k, v) = item?;
            decode_record(|| format!("repository {}", hex_key(&k)), &v).map(|r| self.current(r))
        })
    }

    /// A number from sled's persistent monotonic counter, for the record or page of check figures about
    /// to be written.
    pub(super) fn next_seq(&self) -> StoreResult<u64> {
        self.db.generate_id()
    }

    /// Saves the check figures of the pages `pages` (those of the repositories a check or a
    /// session changed).
    pub(super) fn save_scans(&self, pages: check_figures::Pages) -> StoreResult<()> {
        // Those of the pages saved only: a backup taken in saves one page of 64.
        let scans = self.read().scans(|id| pages.has(id));
        let seq = self.next_seq()?;
        self.checks.save(seq, &scans, pages)
    }

    /// Every repository, ordered by id.
    pub fn list(&self) -> StoreResult<Vec<Repo>> {
        self.records().collect()
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The record with this id, read from the store.
    pub fn get(&self, id: u64) -> StoreResult<Option<Repo>> {
        match self.repos.get(id_key(id))? {
            None => Ok(None),
            Some(v) => {
                decode_record(|| format!("repository {}", hex_key(&id_key(id))), &v).map(|r| Some(self.current(r)))
            }
        }
    }

    /// The id of the repository named `name`, from the index (no record read).
    pub fn id_of_name(&self, name: &str) -> Option<u64> {
        self.read().id_of_name(name)
    }

    /// Whether the repository `key` names exists and `scope` reaches it, from the index alone:
    /// a missing repository and one out of reach take the same steps, so a scoped caller cannot
    /// time the difference.
    pub fn within(&self, key: &RepoKey, scope: &crate::scope::Scope) -> bool {
        let index = self.read();
        let id = match key {
            RepoKey::Id(id) => Some(*id),
            RepoKey::Name(name) => index.id_of_name(name),
        };
        let summary = id.and_then(|id| index.summary(id, 0));
        summary.is_some_and(|s| scope.admits(s.tenant, &s.name.to_string()))
    }

    /// The repository `key` names.
    pub fn find(&self, key: &RepoKey) -> StoreResult<Option<Repo>> {
        match key {
            RepoKey::Id(id) => self.get(*id),
            RepoKey::Name(name) => self.get_by_name(name),
        }
    }

    pub fn get_by_name(&self, name: &str) -> StoreResult<Option<Repo>> {
        let id = self.read().id_of_name(name);
        match id {
            Some(id) => self.get(id),
            None => Ok(None),
        }
    }

    /// Every repository's lines, read from the store.
    fn lines(&self) -> StoreResult<Vec<RepoLine>> {
        let mut lines = Vec::with_capacity(self.len());
        for r in self.records() {
            lines.extend(r?.lines());
        }
        Ok(lines)
    }

    /// At a graceful stop in command mode: marks the key folder and the store with one token,
    /// so the next start can trust the folder without reading it (see [`RepoStore::reconcile`]).
    /// Not marked when a mutation was cut off between the store and its key lines.
    pub async fn mark_clean_stop(&self) -> StoreResult<()> {
        let KeySink::Command(dir) = &self.sink else { return Ok(()) };
        // With servers sharing the database, the others go on changing the key folder: no
        // stop of one says the folder is as its store left it.
        if self.db.shared_by_servers() {
            return Ok(());
        }
        let _guard = self.write.lock().await;
        if self.unsettled.load(std::sync::atomic::Ordering::Acquire) {
            tracing::warn!(
                "a change was cut off before its key file was written; the next start reads the key folder again"
            );
            return Ok(());
        }
        let token: u64 = rand::random();
        self.meta.insert(KEY_DIR_CLEAN, token.to_be_bytes())?;
        self.db.flush_async().await?;
        dir.write_clean_stop(token).map_err(|e| StoreError::io(dir.root(), e))
    }

    /// What an error of the key sink names: the file or the key folder.
    fn sink_path(&self) -> std::path::PathBuf {
        match &self.sink {
            KeySink::File { .. } => self.keys.path().to_path_buf(),
            KeySink::Command(dir) => dir.root().to_path_buf(),
        }
    }

    /// Keys on lines this server did not write.
    fn foreign_keys(&self) -> StoreResult<bw_host::authorized_keys::ForeignKeys> {
        self.keys.foreign_keys().map_err(|e| StoreError::io(self.keys.path(), e))
    }

    /// Brings the key lines (`authorized_keys`, or the key folder in command mode) back in line
    /// with the store, logging each line it fixed.
    pub fn reconcile(&self) -> StoreResult<SyncReport> {
        let held = self.hold_for_reconcile()?;
        self.pool.ensure().map_err(|e| StoreError::io(self.pool.root(), e))?;
        self.adopt_existing_lines()?;
        // A key folder marked at a clean stop that matches the store's token said exactly what
        // the store says: reading its 100,000 files again would only cost start-up time.
        let marked = match self.sink.key_dir() {
            Some(dir) if dir.root().is_dir() => dir.take_clean_stop().map_err(|e| StoreError::io(dir.root(), e))?,
            _ => None,
        };
        // ... but only when this run writes the lines as the last one did: a changed home,
        // pool, recorder (sessions on or off, its program) or line form makes every line differ.
        let shape: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(self.keys.shape().as_bytes()).into();
        let last_shape = self.meta.get(LINE_SHAPE)?;
        // A store reconciled before that kept no shape was written by a release before 0.2.0:
        // its lines are in the old form, and rewriting them is the upgrade, not a repair.
        let shape_changed = match last_shape.as_deref() {
            Some(last) => last != shape,
            None => self.meta.get(INITIALIZED)?.is_some(),
        };
        let trusted = self.sink.is_command()
            && marked.is_some()
            && marked == self.clean_stop
            && last_shape.as_deref() == Some(&shape[..]);
        if self.sink.is_command() && marked.is_some() && marked == self.clean_stop && !trusted {
            tracing::info!("key folder: the lines' form changed since the last clean stop (home, pool, sessions or the program); every key file is read again");
        }
        let report = if trusted {
            tracing::info!("key folder: unchanged since the last clean stop; not read again");
            self.sink.sync_trusting_key_dir(&self.keys)
        } else {
            self.sink.sync(&self.keys, &self.lines()?)
        }
        .map_err(|e| StoreError::io(self.sink_path(), e))?;
        self.meta.insert(INITIALIZED, [1u8])?;
        self.meta.insert(LINE_SHAPE, &shape[..])?;
        self.db.flush()?;
        self.reconciled(held)?;
        for name in &report.added {
            tracing::warn!(repository = %name, "authorized_keys: line was missing; added");
        }
        if shape_changed && !report.rewritten.is_empty() {
            // Not a repair: this run writes its lines in another form (a new version, home or
            // recorder), so every line was expected to change.
            tracing::info!(
                lines = report.rewritten.len(),
                "key lines rewritten in this run's form (an upgrade, or a changed home, pool or sessions setting)"
            );
        } else {
            for name in &report.rewritten {
                tracing::warn!(repository = %name, "authorized_keys: line differed from the store; rewritten");
            }
        }
        for name in &report.removed {
            tracing::warn!(repository = %name, "authorized_keys: line for no stored repository (or a duplicate); removed");
        }
        // sshd takes the first line with a matching key: a hand-written line with a
        // repository's key can shadow (or widen) that repository's restrictions.
        let foreign = self.foreign_keys()?;
        let foreign: std::collections::HashSet<_> = foreign.iter().map(|k| k.digest()).collect();
        let shadowed: Vec<String> = {
            let index = self.read();
            index
                .keys()
                .filter(|(digest, _)| foreign.contains(*digest))
                .filter_map(|(_, id)| index.name_of(id))
                .collect()
        };
        for name in shadowed {
            tracing::warn!(repository = %name, "authorized_keys: this repository's key also stands on a line this server did not write; sshd uses whichever comes first");
        }
        Ok(report)
    }
}

fn hex_key(k: &[u8]) -> String {
    k.iter().map(|b| format!("{b:02x}")).collect()
}
