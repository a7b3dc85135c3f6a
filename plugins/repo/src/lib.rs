//! The repository routes, seed paths (`/api/repo...`) and v1 paths (`/api/v1/repositories...`),
//! over the store, `authorized_keys` and the pool.

mod validate;

use bw_core::auth::{Create, Guard, Read, Update};
use bw_core::body::{JsonRequest, Message, PreJson};
use bw_core::pool::is_repo_name;
use bw_core::repo_store::Repo;
use bw_core::store_error::StoreError;
use bw_core::{ApiError, ApiResult, AppState};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};

use validate::CreateFlavor;

#[derive(Tags)]
enum Tag {
    /// Repositories: one `authorized_keys` line and one pool folder each.
    Repositories,
}

#[derive(Object)]
pub struct RepoList {
    /// Every repository, ordered by id.
    #[oai(rename = "repoList")]
    pub repo_list: Vec<Repo>,
}

#[derive(Object)]
pub struct RepoOne {
    pub repo: Repo,
}

#[derive(Object)]
pub struct Created {
    pub id: u64,
    #[oai(rename = "repositoryName")]
    pub repository_name: String,
}

/// Body of the seed create route: every key required.
#[derive(Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct RepoCreate {
    /// Non-empty, at most 100 characters, no control characters.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub alias: String,
    /// One OpenSSH public key: ssh-ed25519, sk-ssh-ed25519@openssh.com, ssh-rsa (2048 bits or
    /// more), ecdsa-sha2-nistp256/384/521, sk-ecdsa-sha2-nistp256@openssh.com.
    pub ssh_public_key: String,
    /// Quota in GB.
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
    pub storage_size: u64,
    #[oai(validator(max_length = 500))]
    pub comment: String,
    /// One of 0, 3600, 21600, 43200, 90000, 172800, 259200, 345600, 432000, 518400, 604800,
    /// 864000, 1209600, 2592000 (seconds; 0 turns alerts off).
    pub alert: u64,
    pub lan_command: bool,
    pub append_only_mode: bool,
}

/// Body of the v1 create route: `alias`, `sshPublicKey`, `storageSize` required.
#[derive(Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct RepoCreateV1 {
    #[oai(validator(min_length = 1, max_length = 100))]
    pub alias: String,
    pub ssh_public_key: String,
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
    pub storage_size: u64,
    /// Default "".
    #[oai(validator(max_length = 500))]
    pub comment: Option<String>,
    /// Default 0 (alerts off).
    pub alert: Option<u64>,
    /// Default false.
    pub lan_command: Option<bool>,
    /// Default false.
    pub append_only_mode: Option<bool>,
}

/// Body of the edit routes: at least one key; absent keys keep their value.
#[derive(Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct RepoEdit {
    #[oai(validator(min_length = 1, max_length = 100))]
    pub alias: Option<String>,
    pub ssh_public_key: Option<String>,
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
    pub storage_size: Option<u64>,
    #[oai(validator(max_length = 500))]
    pub comment: Option<String>,
    pub alert: Option<u64>,
    pub lan_command: Option<bool>,
    pub append_only_mode: Option<bool>,
}

/// A seed path id: the repository with that id, or the contract's 404 naming the id as given.
/// An id is a plain decimal: `0631`, `+631` or `6e2` name no repository.
fn by_id(state: &AppState, id: &str) -> ApiResult<Repo> {
    parse_id(id)
        .and_then(|n| state.repos.get(n))
        .ok_or_else(|| ApiError::NotFound(format!("No repository with id #{id}")))
}

fn parse_id(id: &str) -> Option<u64> {
    let plain = !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && (id == "0" || !id.starts_with('0'));
    plain.then(|| id.parse().ok()).flatten()
}

/// A v1 path name: 8 hex characters, or the contract's 404.
fn by_name(state: &AppState, name: &str) -> ApiResult<Repo> {
    Some(name)
        .filter(|n| is_repo_name(n))
        .and_then(|n| state.repos.get_by_name(n))
        .ok_or_else(|| ApiError::NotFound(format!("No repository with name {name}")))
}

/// The store's own "not found" (a repository deleted between lookup and write) in the route's
/// words.
fn not_found_as(err: StoreError, message: impl FnOnce() -> String) -> ApiError {
    match err {
        StoreError::NotFound => ApiError::NotFound(message()),
        other => other.into(),
    }
}

async fn create(state: &AppState, new: bw_core::repo_store::NewRepo) -> ApiResult<Json<Created>> {
    let repo = state.repos.create(new).await?;
    tracing::info!(id = repo.id, repository = %repo.repository_name, "repository created");
    Ok(Json(Created { id: repo.id, repository_name: repo.repository_name }))
}

async fn edit(
    state: &AppState,
    repo: Repo,
    body: JsonRequest<RepoEdit>,
    missing: impl FnOnce() -> String,
) -> ApiResult<Json<Message>> {
    let patch = validate::edit(&body)?;
    state.repos.update(repo.id, patch).await.map_err(|e| not_found_as(e, missing))?;
    tracing::info!(id = repo.id, repository = %repo.repository_name, "repository edited");
    Ok(Message::success())
}

pub struct RepoApi;

#[OpenApi]
impl RepoApi {
    /// Retrieve a list of repositories
    #[oai(path = "/api/repo", method = "get", tag = "Tag::Repositories", operation_id = "listRepos")]
    async fn list(&self, state: Data<&AppState>, _caller: Guard<Read>) -> ApiResult<PreJson<RepoList>> {
        Ok(PreJson::new(state.repos.list_json(state.clock.now())))
    }

    /// Retrieve a list of repositories (v1 path)
    #[oai(path = "/api/v1/repositories", method = "get", tag = "Tag::Repositories", operation_id = "listReposV1")]
    async fn list_v1(&self, state: Data<&AppState>, caller: Guard<Read>) -> ApiResult<PreJson<RepoList>> {
        self.list(state, caller).await
    }

    /// Retrieve details of a specific repository by ID
    #[oai(path = "/api/repo/id/:id", method = "get", tag = "Tag::Repositories", operation_id = "getRepo")]
    async fn get(&self, state: Data<&AppState>, _caller: Guard<Read>, id: Path<String>) -> ApiResult<Json<RepoOne>> {
        Ok(Json(RepoOne { repo: by_id(&state, &id)?.at(state.clock.now()) }))
    }

    /// Retrieve details of a specific repository by name (v1 path)
    #[oai(
        path = "/api/v1/repositories/:repositoryName",
        method = "get",
        tag = "Tag::Repositories",
        operation_id = "getRepoV1"
    )]
    async fn get_v1(
        &self,
        state: Data<&AppState>,
        _caller: Guard<Read>,
        #[oai(name = "repositoryName")] name: Path<String>,
    ) -> ApiResult<Json<RepoOne>> {
        Ok(Json(RepoOne { repo: by_name(&state, &name)?.at(state.clock.now()) }))
    }

    /// Create a new repository
    #[oai(path = "/api/repo/add", method = "post", tag = "Tag::Repositories", operation_id = "addRepo")]
    async fn add(
        &self,
        state: Data<&AppState>,
        _caller: Guard<Create>,
        body: JsonRequest<RepoCreate>,
    ) -> ApiResult<Json<Created>> {
        create(&state, validate::create(&body, CreateFlavor::Seed)?).await
    }

    /// Create a new repository (v1 path)
    #[oai(path = "/api/v1/repositories", method = "post", tag = "Tag::Repositories", operation_id = "addRepoV1")]
    async fn add_v1(
        &self,
        state: Data<&AppState>,
        _caller: Guard<Create>,
        body: JsonRequest<RepoCreateV1>,
    ) -> ApiResult<Json<Created>> {
        create(&state, validate::create(&body, CreateFlavor::V1)?).await
    }

    /// Update a specific repository by ID
    #[oai(path = "/api/repo/id/:id/edit", method = "patch", tag = "Tag::Repositories", operation_id = "editRepo")]
    async fn edit(
        &self,
        state: Data<&AppState>,
        _caller: Guard<Update>,
        id: Path<String>,
        body: JsonRequest<RepoEdit>,
    ) -> ApiResult<Json<Message>> {
        let repo = by_id(&state, &id)?;
        edit(&state, repo, body, || format!("No repository with id #{}", id.0)).await
    }

    /// Update a specific repository by name (v1 path)
    #[oai(
        path = "/api/v1/repositories/:repositoryName",
        method = "patch",
        tag = "Tag::Repositories",
        operation_id = "editRepoV1"
    )]
    async fn edit_v1(
        &self,
        state: Data<&AppState>,
        _caller: Guard<Update>,
        #[oai(name = "repositoryName")] name: Path<String>,
        body: JsonRequest<RepoEdit>,
    ) -> ApiResult<Json<Message>> {
        let repo = by_name(&state, &name)?;
        edit(&state, repo, body, || format!("No repository with name {}", name.0)).await
    }
}

#[cfg(feature = "delete-repo")]
pub use delete::RepoDeleteApi;

#[cfg(feature = "delete-repo")]
mod delete {
    use super::*;
    use bw_core::auth::Delete;

    const DISABLED: &str = "Deletion is disabled on this server";

    pub struct RepoDeleteApi;

    async fn delete_repo(state: &AppState, repo: Repo, missing: impl FnOnce() -> String) -> ApiResult<Json<Message>> {
        state.repos.delete(repo.id).await.map_err(|e| not_found_as(e, missing))?;
        tracing::info!(id = repo.id, repository = %repo.repository_name, "repository deleted");
        Ok(Message::success())
    }

    #[OpenApi]
    impl RepoDeleteApi {
        /// Delete a specific repository by ID
        #[oai(
            path = "/api/repo/id/:id/delete",
            method = "delete",
            tag = "Tag::Repositories",
            operation_id = "deleteRepo"
        )]
        async fn delete(
            &self,
            state: Data<&AppState>,
            _caller: Guard<Delete>,
            id: Path<String>,
        ) -> ApiResult<Json<Message>> {
            if state.config.repos.disable_delete {
                return Err(ApiError::Forbidden(DISABLED.into()));
            }
            let repo = by_id(&state, &id)?;
            delete_repo(&state, repo, || format!("No repository with id #{}", id.0)).await
        }

        /// Delete a specific repository by name (v1 path)
        #[oai(
            path = "/api/v1/repositories/:repositoryName",
            method = "delete",
            tag = "Tag::Repositories",
            operation_id = "deleteRepoV1"
        )]
        async fn delete_v1(
            &self,
            state: Data<&AppState>,
            _caller: Guard<Delete>,
            #[oai(name = "repositoryName")] name: Path<String>,
        ) -> ApiResult<Json<Message>> {
            if state.config.repos.disable_delete {
                return Err(ApiError::Forbidden(DISABLED.into()));
            }
            let repo = by_name(&state, &name)?;
            delete_repo(&state, repo, || format!("No repository with name {}", name.0)).await
        }
    }
}

#[cfg(feature = "delete-repo")]
type Apis = (RepoApi, RepoDeleteApi);
#[cfg(not(feature = "delete-repo"))]
type Apis = RepoApi;

#[cfg(feature = "delete-repo")]
const APIS: Apis = (RepoApi, RepoDeleteApi);
#[cfg(not(feature = "delete-repo"))]
const APIS: Apis = RepoApi;

/// Start-up: the store is the truth for our `authorized_keys` lines.
fn reconcile(state: &AppState) -> Result<(), bw_core::registry::StartHookError> {
    let report = state.repos.reconcile().map_err(|e| format!("reconciling authorized_keys: {e}"))?;
    tracing::info!(
        repositories = state.repos.len(),
        fixed = report.added.len() + report.rewritten.len() + report.removed.len(),
        path = %state.repos.authorized_keys().path().display(),
        "authorized_keys reconciled with the store"
    );
    Ok(())
}

bw_core::endpoint_plugin!("repo", Apis, APIS, Some(reconcile));
