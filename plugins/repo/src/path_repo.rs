//! A repository as a route's path names it (an id on the 2.x paths, a name on the v1 paths),
//! with the contract's 404 for that path.

use bw_api::auth::Principal;
use bw_api::{ApiError, ApiResult, AppState};
use bw_host::pool::is_repo_name;
use bw_store::repo_store::{Repo, RepoKey};
use bw_store::scope::Scope;
use bw_store::store_error::StoreError;

/// A repository as a path names it, for a caller, and the contract's 404 for that path: the
/// store reads and changes it by this key, and answers "not found" (or "archived") itself. A
/// repository out of the caller's reach (another tenant's, or not among a scoped token's) is
/// answered with the very same 404: made from the caller, a path cannot forget to check.
pub(crate) struct PathRepo {
    /// `None`: the path names no repository a store could hold (`0631`, `+631`, `ABCDEF01`).
    key: Option<RepoKey>,
    missing: String,
    scope: Scope,
}

impl PathRepo {
    /// A 2.x path id, a plain decimal: `0631`, `+631` or `6e2` name no repository. The 404 names
    /// the id as given.
    pub fn id(id: &str, caller: &Principal) -> PathRepo {
        let plain = !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && (id == "0" || !id.starts_with('0'));
        let key = plain.then(|| id.parse().ok()).flatten().map(RepoKey::Id);
        PathRepo { key, missing: format!("No repository with id #{id}"), scope: caller.scope() }
    }

    /// A v1 path name: 8 lowercase hex characters.
    pub fn name(name: &str, caller: &Principal) -> PathRepo {
        Self::name_or(name, format!("No repository with name {name}"), caller)
    }

    /// A v1 path name whose route says "not found" in its own words (BorgWarehouse 3.x's).
    pub fn name_or(name: &str, missing: String, caller: &Principal) -> PathRepo {
        PathRepo { key: is_repo_name(name).then(|| RepoKey::Name(name.to_owned())), missing, scope: caller.scope() }
    }

    /// The repository as the path named it (an id or a name), for an audit entry's target (the
    /// store puts the name in when the path gave an id).
    pub fn name_or_id(&self) -> &str {
        match &self.key {
            Some(RepoKey::Name(name)) => name,
            _ => "",
        }
    }

    /// The key of a repository within the caller's reach, or the path's 404: for a path that
    /// cannot name a repository, and, for a scoped caller, for one that is missing or out of
    /// reach alike (both decided on the index, in the same steps).
    pub fn key(&self, state: &AppState) -> ApiResult<&RepoKey> {
        let key = self.key.as_ref().ok_or_else(|| ApiError::NotFound(self.missing.clone()))?;
        if !self.scope.is_whole_host() && !state.repos.within(key, &self.scope) {
            return Err(ApiError::NotFound(self.missing.clone()));
        }
        Ok(key)
    }

    /// The repository, or the path's 404.
    pub fn get(&self, state: &AppState) -> ApiResult<Repo> {
        state.repos.find(self.key(state)?)?.ok_or_else(|| ApiError::NotFound(self.missing.clone()))
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
