//! The repository routes: BorgWarehouse 2.x paths by id (`/api/repo...`) and v1 paths by name
//! (`/api/v1/repositories...`), over the store, `authorized_keys` and the pool.

use bw_core::auth::{Create, Guard, Read, Update};
use bw_core::body::{JsonRequest, Message, TaggedJson};
use bw_core::pool::is_repo_name;
use bw_core::refusals::{Answer, CONFLICT, DISABLED, INVALID_BODY, NONE, NOT_FOUND, UNEXPECTED_DATA};
use bw_core::repo_store::{ListAnswer, PathFamily, Repo};
use bw_core::store_error::StoreError;
use bw_core::{ApiError, ApiResult, AppState};
use poem::web::Data;
use poem::Request;
// Named `Header` and `Path`: poem-openapi finds parameters by these type names.
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;

use crate::schema::{Created, CreatedV1, RepoCreate, RepoCreateV1, RepoEdit, RepoEditV1, RepoOne, RepositoryList};
use crate::validate;
use crate::Tag;

/// A seed path id: the repository with that id, or the contract's 404 naming the id as given.
/// An id is a plain decimal: `0631`, `+631` or `6e2` name no repository.
pub(crate) fn by_id(state: &AppState, id: &str) -> ApiResult<Repo> {
    let found = match parse_id(id) {
        Some(n) => state.repos.get(n)?,
        None => None,
    };
    found.ok_or_else(|| ApiError::NotFound(format!("No repository with id #{id}")))
}

fn parse_id(id: &str) -> Option<u64> {
    let plain = !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && (id == "0" || !id.starts_with('0'));
    plain.then(|| id.parse().ok()).flatten()
}

/// A v1 path name: 8 hex characters, or the contract's 404.
pub(crate) fn by_name(state: &AppState, name: &str) -> ApiResult<Repo> {
    find_by_name(state, name, || format!("No repository with name {name}"))
}

/// The repository named `name` (8 hex characters), or 404 with `message`: the 3.x routes say it
/// in BorgWarehouse 3.x's words.
pub(crate) fn find_by_name(state: &AppState, name: &str, message: impl FnOnce() -> String) -> ApiResult<Repo> {
    let found = if is_repo_name(name) { state.repos.get_by_name(name)? } else { None };
    found.ok_or_else(|| ApiError::NotFound(message()))
}

/// The store's own "not found" (a repository deleted between lookup and write) in the route's
/// words.
pub(crate) fn not_found_as(err: StoreError, message: impl FnOnce() -> String) -> ApiError {
    match err {
        StoreError::NotFound => ApiError::NotFound(message()),
        other => other.into(),
    }
}

/// The whole list of a path family. Built off the request threads: a rebuild at 100,000
/// repositories reads every record.
async fn list_answer(state: &AppState, family: PathFamily) -> ApiResult<ListAnswer> {
    let (state, now) = (state.clone(), state.clock.now());
    let built = tokio::task::spawn_blocking(move || state.repos.list_json(now, family)).await.map_err(|e| {
        tracing::error!(error = %e, "building the list answer failed");
        ApiError::Internal
    })?;
    Ok(built?)
}

pub(crate) async fn create(state: &AppState, new: bw_core::repo_store::NewRepo) -> ApiResult<Json<Created>> {
    let repo = state.repos.create(new).await?;
    tracing::info!(id = repo.id, repository = %repo.repository_name, "repository created");
    Ok(Json(Created { id: repo.id, repository_name: repo.repository_name }))
}

/// BorgWarehouse 3.x's answer to an edit of an archived repository.
pub(crate) const ARCHIVED: &str = "Repository is archived (read-only). Unarchive it first.";

pub(crate) async fn edit<D>(
    state: &AppState,
    repo: Repo,
    body: JsonRequest<D>,
    family: PathFamily,
    missing: impl FnOnce() -> String,
) -> ApiResult<Json<Message>> {
    // After the 404, before validation, as BorgWarehouse 3.x answers.
    if repo.archived {
        return Err(ApiError::Forbidden(ARCHIVED.into()));
    }
    let patch = validate::edit(&body, family)?;
    state.repos.update(repo.id, patch).await.map_err(|e| not_found_as(e, missing))?;
    tracing::info!(id = repo.id, repository = %repo.repository_name, "repository edited");
    Ok(Message::success())
}

/// The largest page of the v1 list.
const MAX_PAGE: usize = 10_000;

/// A paging parameter: a plain decimal from `min` to `max`, or the contract's 400 naming it.
fn page_number(value: Option<&str>, name: &str, min: usize, max: usize) -> ApiResult<Option<usize>> {
    let Some(text) = value else { return Ok(None) };
    let plain = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    // A whole number too large for this machine is still a whole number: with no upper
    // bound (an offset) it is past the end, as the document's schema allows any integer.
    let parsed = plain.then(|| text.parse::<usize>().ok().or((max == usize::MAX).then_some(usize::MAX))).flatten();
    match parsed {
        Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ if max == usize::MAX => Err(ApiError::BadRequest(format!("{name} must be a whole number from {min}"))),
        _ => Err(ApiError::BadRequest(format!("{name} must be a whole number from {min} to {max}"))),
    }
}

pub struct RepoApi;

#[OpenApi]
impl RepoApi {
    /// Retrieve a list of repositories
    #[oai(path = "/api/repo", method = "get", tag = "Tag::Repositories", operation_id = "listRepos")]
    async fn list(
        &self,
        state: Data<&AppState>,
        _caller: Guard<Read>,
        req: &Request,
        /// The `ETag` of a list already held: 304 while it is still the answer.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> Answer<TaggedJson<RepositoryList>, NONE> {
        let list = list_answer(&state, PathFamily::BorgWarehouse2).await?;
        Ok(TaggedJson::answer(list, if_none_match.as_deref(), req.header("Accept-Encoding")))
    }

    /// Retrieve a list of repositories
    #[oai(
        path = "/api/v1/repositories",
        method = "get",
        tag = "Tag::RepositoriesV1",
        operation_id = "listRepositories"
    )]
    async fn list_v1(
        &self,
        state: Data<&AppState>,
        _caller: Guard<Read>,
        req: &Request,
        /// The `ETag` of a list already held: 304 while it is still the answer (whole lists).
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
        /// A page of at most this many repositories (1 to 10000); the answer adds `total`.
        limit: Query<Option<String>>,
        /// Repositories to skip, in id order, before the page (default 0).
        offset: Query<Option<String>>,
    ) -> Answer<TaggedJson<RepositoryList>, INVALID_BODY> {
        if limit.is_none() && offset.is_none() {
            let list = list_answer(&state, PathFamily::V1).await?;
            return Ok(TaggedJson::answer(list, if_none_match.as_deref(), req.header("Accept-Encoding")));
        }
        let limit = page_number(limit.as_deref(), "limit", 1, MAX_PAGE)?.unwrap_or(MAX_PAGE);
        let offset = page_number(offset.as_deref(), "offset", 0, usize::MAX)?.unwrap_or(0);
        Ok(TaggedJson::untagged(state.repos.list_page_json(state.clock.now(), offset, limit)?))
    }

    /// Retrieve details of a specific repository by ID
    #[oai(path = "/api/repo/id/:id", method = "get", tag = "Tag::Repositories", operation_id = "getRepoById")]
    async fn get(
        &self,
        state: Data<&AppState>,
        _caller: Guard<Read>,
        id: Path<String>,
    ) -> Answer<Json<RepoOne>, NOT_FOUND> {
        Ok(Json(RepoOne { repo: by_id(&state, &id)?.at(state.clock.now()).shown_on(PathFamily::BorgWarehouse2) }))
    }

    /// Retrieve details of a specific repository by name
    #[oai(
        path = "/api/v1/repositories/:repositoryName",
        method = "get",
        tag = "Tag::RepositoriesV1",
        operation_id = "getRepositoryByName"
    )]
    async fn get_v1(
        &self,
        state: Data<&AppState>,
        _caller: Guard<Read>,
        #[oai(name = "repositoryName")] name: Path<String>,
    ) -> Answer<Json<RepoOne>, NOT_FOUND> {
        Ok(Json(RepoOne { repo: by_name(&state, &name)?.at(state.clock.now()).with_urls(state.repos.urls()) }))
    }

    /// Create a new repository (every field required)
    #[oai(path = "/api/repo/add", method = "post", tag = "Tag::Repositories", operation_id = "addRepo")]
    async fn add(
        &self,
        state: Data<&AppState>,
        _caller: Guard<Create>,
        body: JsonRequest<RepoCreate>,
    ) -> Answer<Json<Created>, { INVALID_BODY | CONFLICT | UNEXPECTED_DATA }> {
        Ok(create(&state, validate::create(&body, PathFamily::BorgWarehouse2, &state.config.repos.storage_targets)?)
            .await?)
    }

    /// Create a new repository (alias, key and quota required)
    #[oai(
        path = "/api/v1/repositories",
        method = "post",
        tag = "Tag::RepositoriesV1",
        operation_id = "createRepository"
    )]
    async fn add_v1(
        &self,
        state: Data<&AppState>,
        _caller: Guard<Create>,
        body: JsonRequest<RepoCreateV1>,
    ) -> Answer<Json<CreatedV1>, { INVALID_BODY | CONFLICT | UNEXPECTED_DATA }> {
        let Json(created) =
            create(&state, validate::create(&body, PathFamily::V1, &state.config.repos.storage_targets)?).await?;
        let urls = state.repos.urls();
        Ok(Json(CreatedV1 {
            id: created.id,
            ssh_url: urls.ssh_url(&created.repository_name),
            lan_ssh_url: urls.lan_ssh_url(&created.repository_name),
            repository_name: created.repository_name,
        }))
    }

    /// Update a specific repository by ID
    #[oai(path = "/api/repo/id/:id/edit", method = "patch", tag = "Tag::Repositories", operation_id = "editRepoById")]
    async fn edit(
        &self,
        state: Data<&AppState>,
        _caller: Guard<Update>,
        id: Path<String>,
        body: JsonRequest<RepoEdit>,
    ) -> Answer<Json<Message>, { INVALID_BODY | DISABLED | NOT_FOUND | CONFLICT | UNEXPECTED_DATA }> {
        let repo = by_id(&state, &id)?;
        Ok(edit(&state, repo, body, PathFamily::BorgWarehouse2, || format!("No repository with id #{}", id.0)).await?)
    }

    /// Update a specific repository by name
    #[oai(
        path = "/api/v1/repositories/:repositoryName",
        method = "patch",
        tag = "Tag::RepositoriesV1",
        operation_id = "updateRepositoryByName"
    )]
    async fn edit_v1(
        &self,
        state: Data<&AppState>,
        _caller: Guard<Update>,
        #[oai(name = "repositoryName")] name: Path<String>,
        body: JsonRequest<RepoEditV1>,
    ) -> Answer<Json<Message>, { INVALID_BODY | DISABLED | NOT_FOUND | CONFLICT | UNEXPECTED_DATA }> {
        let repo = by_name(&state, &name)?;
        Ok(edit(&state, repo, body, PathFamily::V1, || format!("No repository with name {}", name.0)).await?)
    }
}
