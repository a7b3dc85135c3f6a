//! The repository list as the API answers it, at the edge: `{"repoList":[...]}` in a path
//! family's shape, built in one pass over the store's records, held gzipped ([`held`]), with its
//! entity tag, and built again only when the store's generation moves or a status turns with
//! time. The store keeps records and says when they changed ([`RepoStore::generation`]); what
//! a client receives, and how it is cached and compressed, is decided here.

mod held;

use std::path::Path;
use std::sync::Mutex;

use bw_store::repo_store::{Repo, RepoStore};
use bw_store::store_error::{StoreError, StoreResult};

use held::{write_list, ListCache};
pub use held::{ListAnswer, ListReader, WriteRepo};

/// BorgWarehouse's two families of repository paths, whose answers differ: the 2.x paths
/// (`/api/repo…`, repositories by id; the contract's "seed" paths) and the v1 paths of 3.x
/// (`/api/v1/repositories…`, by name), which add `icon`, `storageTarget` and the URLs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathFamily {
    BorgWarehouse2,
    V1,
}

/// Which whole list an answer is, each cached on its own: a path family's, and the v1 list
/// with every repository's `keys` (`?include=keys`; left out by default, which keeps the list
/// as light as 3.x clients expect).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListKind {
    BorgWarehouse2,
    V1,
    V1WithKeys,
}

impl ListKind {
    /// How many kinds there are (the caches' count).
    pub(crate) const COUNT: usize = 3;

    pub fn family(self) -> PathFamily {
        match self {
            ListKind::BorgWarehouse2 => PathFamily::BorgWarehouse2,
            ListKind::V1 | ListKind::V1WithKeys => PathFamily::V1,
        }
    }

    /// Whether each repository carries its `keys`.
    pub fn with_keys(self) -> bool {
        self == ListKind::V1WithKeys
    }

    /// The mark in the list's entity tag ("s" for the 2.x paths is kept: pollers hold tags
    /// across upgrades).
    pub(crate) fn tag_mark(self) -> &'static str {
        match self {
            ListKind::BorgWarehouse2 => "s",
            ListKind::V1 => "v1",
            ListKind::V1WithKeys => "v1k",
        }
    }
}

/// The cached list answer of each [`ListKind`].
pub struct ListAnswers {
    /// The answer of each kind, by its index.
    slots: [Mutex<Option<ListCache>>; ListKind::COUNT],
}

impl Default for ListAnswers {
    fn default() -> Self {
        ListAnswers { slots: std::array::from_fn(|_| Mutex::new(None)) }
    }
}

impl ListAnswers {
    /// The list answer of `kind` over `repos`, with `status` computed for `now`, each
    /// repository written by `write_repo` (the same for every call of a kind), gzipped with its
    /// entity tag; built again only after a change or when a status turns false with the
    /// passing of time. Builds of one kind wait for each other: pollers arriving together share
    /// one build. A large answer is spilled to an unlinked file in `spill_dir`.
    pub fn answer(
        &self,
        repos: &RepoStore,
        now: i64,
        kind: ListKind,
        write_repo: WriteRepo,
        spill_dir: &Path,
    ) -> StoreResult<ListAnswer> {
        let mut slot = self.slots[kind as usize].lock().unwrap_or_else(|p| p.into_inner());
        let generation = repos.generation();
        if let Some(answer) = ListCache::fresh(&slot, generation, now) {
            return Ok(answer);
        }
        // Records are read from the store as the answer is written. A change made meanwhile
        // moves the generation, so this answer is built again at the next request.
        let mut failed = None;
        let records = repos.records().map_while(|r| r.map_err(|e| failed = Some(e)).ok());
        let built = ListCache::build(records, repos.len(), generation, now, kind.tag_mark(), write_repo, spill_dir)
            .map_err(|e| StoreError::io(spill_dir, e))?;
        if let Some(e) = failed {
            return Err(e);
        }
        let answer = built.answer();
        *slot = Some(built);
        // A build reads every record once; give its working memory back.
        bw_store::memory::release_free_memory_now_and_soon();
        Ok(answer)
    }
}

/// A page of the v1 list, `{"repoList":[...],"total":N}`: `limit` repositories from the
/// `offset`-th in id order, with `status` computed for `now`, each written by `write_repo`.
/// Not cached: pages are small.
pub fn page(
    repos: &RepoStore,
    now: i64,
    offset: usize,
    limit: usize,
    write_repo: WriteRepo,
) -> StoreResult<bytes::Bytes> {
    let total = repos.len();
    let page: Vec<Repo> = repos.records().skip(offset).take(limit).collect::<StoreResult<_>>()?;
    let mut out = Vec::with_capacity(64 + page.len() * 480);
    write_list(&mut out, page.into_iter(), now, Some(total), write_repo)
        .map_err(|e| StoreError::corrupt("a list page", e))?;
    Ok(bytes::Bytes::from(out))
}

/// The list (or a page of it) as a scoped caller sees it: only the repositories within
/// `scope`, read record by record and never cached (a tenant's list is short; the cached whole
/// list is the host's). `page`: offset and limit, and the answer then says the scoped total.
pub fn scoped(
    repos: &RepoStore,
    now: i64,
    scope: &bw_store::scope::Scope,
    page: Option<(usize, usize)>,
    write_repo: WriteRepo,
) -> StoreResult<bytes::Bytes> {
    let mut within = Vec::new();
    for repo in repos.records() {
        let repo = repo?;
        if scope.admits(repo.tenant.as_deref(), &repo.repository_name) {
            within.push(repo);
        }
    }
    let total = within.len();
    let (offset, limit) = page.unwrap_or((0, usize::MAX));
    let shown = within.into_iter().skip(offset).take(limit);
    let mut out = Vec::with_capacity(64 + total.min(limit) * 480);
    write_list(&mut out, shown, now, page.map(|_| total), write_repo).map_err(|e| StoreError::corrupt("a list", e))?;
    Ok(bytes::Bytes::from(out))
}
