//! A repository as a route's path names it (an id on the 2.x paths, a name on the v1 paths),
//! with the contract's 404 for that path.

use bw_api::{ApiError, ApiResult, AppState};
use bw_host::pool::is_repo_name;
use bw_store::repo_store::{Repo, RepoKey};
use bw_store::store_error::StoreError;

/// A repository as a path names it, and the contract's 404 for that path: the store reads and
/// changes it by this key, and answers "not found" (or "archived") itself.
pub(crate) struct PathRepo {
    /// `None`: the path names no repository a store could hold (`0631`, `+631`, `ABCDEF01`).
    key: Option<RepoKey>,
    missing: String,
}

impl PathRepo {
    /// A 2.x path id, a plain decimal: `0631`, `+631` or `6e2` name no repository. The 404 names
    /// the id as given.
    pub fn id(id: &str) -> PathRepo {
        let plain = !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && (id == "0" || !id.starts_with('0'));
        let key = plain.then(|| id.parse().ok()).flatten().map(RepoKey::Id);
        PathRepo { key, missing: format!("No repository with id #{id}") }
    }

    /// A v1 path name: 8 lowercase hex characters.
    pub fn name(name: &str) -> PathRepo {
        Self::name_or(name, format!("No repository with name {name}"))
    }

    /// A v1 path name whose route says "not found" in its own words (BorgWarehouse 3.x's).
    pub fn name_or(name: &str, missing: String) -> PathRepo {
        PathRepo { key: is_repo_name(name).then(|| RepoKey::Name(name.to_owned())), missing }
    }

    /// The key, or the 404 of a path that cannot name a repository.
    pub fn key(&self) -> ApiResult<&RepoKey> {
        self.key.as_ref().ok_or_else(|| ApiError::NotFound(self.missing.clone()))
    }

    /// The repository, or the path's 404.
    pub fn get(&self, state: &AppState) -> ApiResult<Repo> {
        state.repos.find(self.key()?)?.ok_or_else(|| ApiError::NotFound(self.missing.clone()))
    }

    /// The store's answer to a change, in the path's words when the repository is not there.
    pub fn answer(&self, e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound => ApiError::NotFound(self.missing.clone()),
            other => other.into(),
        }
    }
}

/// Why a change was refused: by the request's validation (already an answer), or by the store.
pub(crate) enum Refused {
    Body(ApiError),
    Store(StoreError),
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Self {
        Refused::Store(e)
    }
}

impl Refused {
    /// The answer, a store refusal in the words `store` gives it.
    pub fn answer(self, store: impl FnOnce(StoreError) -> ApiError) -> ApiError {
        match self {
            Refused::Body(e) => e,
            Refused::Store(e) => store(e),
        }
    }
}
