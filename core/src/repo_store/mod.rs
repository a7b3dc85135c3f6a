//! Repositories: the sled tree that is the truth, an in-memory index that serves reads, and the
//! `authorized_keys` lines and pool folders that follow from them.
//!
//! - [`record`]: the record, its API shape and its line;
//! - [`index`]: the in-memory index and the cached list answer;
//! - [`mutations`]: create, edit, delete and the checks' writes, each with its undo;
//! - [`import`]: BorgWarehouse's `repo.json` and first-start adoption of existing lines.
//!
//! Every mutation holds one lock, writes the store (flushed before it answers), then renders
//! `authorized_keys` from the store. A crash between the two is repaired by [`RepoStore::reconcile`]
//! at the next start; a failed file write rolls the store change back.

mod import;
mod index;
mod key_sink;
mod mutations;
mod record;

use std::sync::RwLock;

use crate::authorized_keys::{AuthorizedKeys, RepoLine, SyncReport};
use crate::pool::Pool;
use crate::store_error::{decode, StoreError, StoreResult};

pub use import::{BorgWarehouseRepo, ImportReport};
pub use index::ListAnswer;
use index::{Index, ListCache};
pub use key_sink::{KeyChange, KeySink};
pub use record::{NewRepo, Repo, RepoPatch};

const NEXT_ID: &[u8] = b"next_repo_id";
/// Set once the store has been reconciled with `authorized_keys` for the first time.
const INITIALIZED: &[u8] = b"initialized";

fn id_key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

pub struct RepoStore {
    db: sled::Db,
    repos: sled::Tree,
    meta: sled::Tree,
    index: RwLock<Index>,
    write: tokio::sync::Mutex<()>,
    keys: AuthorizedKeys,
    sink: KeySink,
    pool: Pool,
    /// The list answer of each path family: `[seed, v1]`.
    list_json: [std::sync::Mutex<Option<ListCache>>; 2],
    /// Makes entity tags unique across restarts (the index generation starts again at each).
    instance: u64,
    /// Counts list builds, so that no two builds share a tag.
    builds: std::sync::atomic::AtomicU64,
}

impl RepoStore {
    pub fn open(db: &sled::Db, keys: AuthorizedKeys, sink: KeySink, pool: Pool) -> StoreResult<Self> {
        let repos = db.open_tree("repos")?;
        let meta = db.open_tree("meta")?;
        let mut index = Index::default();
        for item in repos.iter() {
            let (k, v) = item?;
            let repo: Repo = decode(|| format!("repository {}", hex_key(&k)), &v)?;
            index.put(repo);
        }
        Ok(Self {
            db: db.clone(),
            repos,
            meta,
            index: RwLock::new(index),
            write: tokio::sync::Mutex::new(()),
            keys,
            sink,
            pool,
            list_json: [std::sync::Mutex::new(None), std::sync::Mutex::new(None)],
            instance: rand::random(),
            builds: std::sync::atomic::AtomicU64::new(0),
        })
    }

    pub fn authorized_keys(&self) -> &AuthorizedKeys {
        &self.keys
    }

    pub fn key_sink(&self) -> &KeySink {
        &self.sink
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
        self.read().by_id.values().filter(|r| !r.archived).map(|r| (r.id, r.repository_name.clone())).collect()
    }

    /// Every repository, ordered by id.
    pub fn list(&self) -> Vec<Repo> {
        self.read().by_id.values().cloned().collect()
    }

    /// The list answer, `{"repoList":[...]}` with `status` computed for `now`, as JSON bytes
    /// with their entity tag, in the shape of the BorgWarehouse 2.x paths (`seed`) or the v1
    /// paths; built again only after a change or when a status turns false with the passing of
    /// time.
    pub fn list_json(&self, now: i64, seed: bool) -> ListAnswer {
        let index = self.read();
        let mut slot = self.list_json[usize::from(!seed)].lock().unwrap_or_else(|p| p.into_inner());
        if let Some(answer) = ListCache::fresh(&slot, &index, now) {
            return answer;
        }
        let build = self.builds.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let etag = format!("\"{:016x}-{}-{:x}\"", self.instance, if seed { "s" } else { "v1" }, build);
        let built = ListCache::build(&index, now, seed, etag);
        let answer = built.answer();
        *slot = Some(built);
        answer
    }

    /// A page of the v1 list, `{"repoList":[...],"total":N}`: `limit` repositories from the
    /// `offset`-th in id order, with `status` computed for `now`. Not cached: pages are small.
    pub fn list_page_json(&self, now: i64, offset: usize, limit: usize) -> bytes::Bytes {
        let index = self.read();
        let total = index.by_id.len();
        let page = index.by_id.values().skip(offset).take(limit);
        let (out, _) = index::write_list(page, limit.min(total), now, false, Some(total));
        bytes::Bytes::from(out)
    }

    pub fn len(&self) -> usize {
        self.read().by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, id: u64) -> Option<Repo> {
        self.read().by_id.get(&id).cloned()
    }

    pub fn get_by_name(&self, name: &str) -> Option<Repo> {
        let index = self.read();
        index.by_name.get(name).and_then(|id| index.by_id.get(id)).cloned()
    }

    fn lines(&self) -> Vec<RepoLine> {
        self.read().by_id.values().map(Repo::line).collect()
    }

    /// What an error of the key sink names: the file or the key folder.
    fn sink_path(&self) -> std::path::PathBuf {
        match &self.sink {
            KeySink::File { .. } => self.keys.path().to_path_buf(),
            KeySink::Command(dir) => dir.root().to_path_buf(),
        }
    }

    /// Keys on lines this server did not write.
    fn foreign_keys(&self) -> StoreResult<crate::authorized_keys::ForeignKeys> {
        self.keys.foreign_keys().map_err(|e| StoreError::io(self.keys.path(), e))
    }

    /// Brings the key lines (`authorized_keys`, or the key folder in command mode) back in line
    /// with the store, logging each line it fixed.
    pub fn reconcile(&self) -> StoreResult<SyncReport> {
        self.pool.ensure().map_err(|e| StoreError::io(self.pool.root(), e))?;
        self.adopt_existing_lines()?;
        let report = self.sink.sync(&self.keys, &self.lines()).map_err(|e| StoreError::io(self.sink_path(), e))?;
        self.meta.insert(INITIALIZED, &[1u8])?;
        self.db.flush()?;
        for name in &report.added {
            tracing::warn!(repository = %name, "authorized_keys: line was missing; added");
        }
        for name in &report.rewritten {
            tracing::warn!(repository = %name, "authorized_keys: line differed from the store; rewritten");
        }
        for name in &report.removed {
            tracing::warn!(repository = %name, "authorized_keys: line for no stored repository (or a duplicate); removed");
        }
        // sshd takes the first line with a matching key: a hand-written line with a
        // repository's key can shadow (or widen) that repository's restrictions.
        let foreign = self.foreign_keys()?;
        let shadowed: Vec<String> = {
            let index = self.read();
            index
                .by_key
                .iter()
                .filter(|(identity, _)| foreign.contains(*identity))
                .filter_map(|(_, id)| index.by_id.get(id).map(|r| r.repository_name.clone()))
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
