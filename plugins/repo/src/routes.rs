//! The repository routes: BorgWarehouse 2.x paths by id (`/api/repo...`) and v1 paths by name
//! (`/api/v1/repositories...`), over the store, `authorized_keys` and the pool.

use bw_api::auth::{Create, Guard, Read, Update};
use bw_api::body::{JsonRequest, Message, TaggedJson};
use bw_api::list_answer::{ListAnswer, ListKind, PathFamily};
use bw_api::query::whole_number;
use bw_api::refusals::{Answer, CONFLICT, DISABLED, INVALID_BODY, NONE, NOT_FOUND, UNEXPECTED_DATA};
use bw_api::{ApiError, ApiResult, AppState};
use poem::web::Data;
use poem::Request;
// Named `Header` and `Path`: poem-openapi finds parameters by these type names.
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;

use crate::path_repo::{PathRepo, Refused};
use crate::repository::Repository;
use crate::schema::{Created, CreatedV1, RepoCreate, RepoCreateV1, RepoEdit, RepoEditV1, RepoOne, RepositoryList};
use crate::tag::Tag;
use crate::validate;

/// The whole list of a path family. Built off the request threads: a rebuild at 100,000
/// repositories reads every record.
async fn list_answer(state: &AppState, kind: ListKind) -> ApiResult<ListAnswer> {
    let (state, now) = (state.clone(), state.clock.now());
    let built = tokio::task::spawn_blocking(move || {
        let write = |out: &mut dyn std::io::Write, repo| Repository::write_json(out, repo, kind, &state);
        state.list_answer(now, kind, &write)
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "building the list answer failed");
        ApiError::Internal
    })?;
    Ok(built?)
}

/// Creates a repository; a tenant-bound caller's is its tenant's (another tenant named in the
/// body is refused as beyond its permissions).
pub(crate) async fn create<R: bw_api::auth::Requirement>(
    state: &AppState,
    mut new: bw_store::repo_store::NewRepo,
    caller: &Guard<R>,
) -> ApiResult<Json<Created>> {
    if let Some(own) = caller.scope().tenant {
        if new.tenant.as_ref().is_some_and(|asked| *asked != own) {
            return Err(ApiError::InsufficientPermissions);
        }
        new.tenant = Some(own);
    }
    let changes = serde_json::json!({
        "alias": new.alias, "storageSize": new.storage_size, "alert": new.alert,
        "appendOnlyMode": new.append_only_mode, "tenant": new.tenant,
    });
    let audit = caller.audit(state.clock.now(), "repository.create", "", changes);
    let repo = state.repos.create(new, Some(audit)).await?;
    tracing::info!(id = repo.id, repository = %repo.repository_name, "repository created");
    Ok(Json(Created { id: repo.id, repository_name: repo.repository_name }))
}

pub(crate) async fn edit<D: validate::EditBody, R: bw_api::auth::Requirement>(
    state: &AppState,
    path: PathRepo,
    body: JsonRequest<D>,
    caller: &Guard<R>,
) -> ApiResult<Json<Message>> {
    let audit = caller.audit(state.clock.now(), "repository.edit", path.name_or_id(), body.sent_fields());
    // The store answers 404, then 403 for an archived repository, then the body's validation,
    // as BorgWarehouse 3.x does.
    let edited =
        state.repos.update_with(path.key(state)?, |_| validate::edit(&body).map_err(Refused::Body), Some(audit)).await;
    let repo = edited.map_err(|e| e.answer(|e| path.answer(e)))?;
    tracing::info!(id = repo.id, repository = %repo.repository_name, "repository edited");
    Ok(Message::success())
}

/// The list as a scoped caller sees it (`None` for a caller who sees the whole host, who gets
/// the cached list).
fn scoped_list(
    state: &AppState,
    scope: &bw_store::scope::Scope,
    kind: ListKind,
    page: Option<(usize, usize)>,
) -> ApiResult<Option<TaggedJson<RepositoryList>>> {
    if scope.is_whole_host() {
        return Ok(None);
    }
    let write = |out: &mut dyn std::io::Write, repo| Repository::write_json(out, repo, kind, state);
    let bytes = bw_api::list_answer::scoped(&state.repos, state.clock.now(), scope, page, &write)?;
    Ok(Some(TaggedJson::untagged(bytes)))
}

/// The largest page of the v1 list.
const MAX_PAGE: usize = 10_000;

pub struct RepoApi;

#[OpenApi]
impl RepoApi {
    /// Retrieve a list of repositories
    #[oai(path = "/api/repo", method = "get", tag = "Tag::Repositories", operation_id = "listRepos")]
    async fn list(
        &self,
        state: Data<&AppState>,
        caller: Guard<Read>,
        req: &Request,
        /// The `ETag` of a list already held: 304 while it is still the answer.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> Answer<TaggedJson<RepositoryList>, NONE> {
        let kind = ListKind::BorgWarehouse2;
        if let Some(list) = scoped_list(&state, &caller.scope(), kind, None)? {
            return Ok(list);
        }
        let list = list_answer(&state, kind).await?;
        Ok(TaggedJson::answer(list, if_none_match.as_deref(), req.header("Accept-Encoding")))
    }

    /// Retrieve a list of repositories
    #[oai(
        path = "/api/v1/repositories",
        method = "get",
        tag = "Tag::RepositoriesV1",
        operation_id = "listRepositories"
    )]
    // poem-openapi reads each header and query parameter from an argument of its own.
    #[allow(clippy::too_many_arguments)]
    async fn list_v1(
        &self,
        state: Data<&AppState>,
        caller: Guard<Read>,
        req: &Request,
        /// The `ETag` of a list already held: 304 while it is still the answer (whole lists).
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
        /// A page of at most this many repositories (1 to 10000); the answer adds `total`.
        limit: Query<Option<String>>,
        /// Repositories to skip, in id order, before the page (default 0).
        offset: Query<Option<String>>,
        /// `keys` to have each repository's `keys` in the list (left out by default, as 3.x
        /// clients do not read them; the single repository and its keys route always have them).
        include: Query<Option<String>>,
    ) -> Answer<TaggedJson<RepositoryList>, INVALID_BODY> {
        let kind = match include.as_deref() {
            None => ListKind::V1,
            Some("keys") => ListKind::V1WithKeys,
            Some(_) => return Err(ApiError::BadRequest("include must be keys".into()).into()),
        };
        let whole = limit.is_none() && offset.is_none();
        let page = || -> ApiResult<(usize, usize)> {
            let limit = whole_number(limit.as_deref(), "limit", 1, MAX_PAGE)?.unwrap_or(MAX_PAGE);
            Ok((whole_number(offset.as_deref(), "offset", 0, usize::MAX)?.unwrap_or(0), limit))
        };
        if let Some(list) = scoped_list(&state, &caller.scope(), kind, if whole { None } else { Some(page()?) })? {
            return Ok(list);
        }
        if whole {
            let list = list_answer(&state, kind).await?;
            return Ok(TaggedJson::answer(list, if_none_match.as_deref(), req.header("Accept-Encoding")));
        }
        let limit = whole_number(limit.as_deref(), "limit", 1, MAX_PAGE)?.unwrap_or(MAX_PAGE);
        let offset = whole_number(offset.as_deref(), "offset", 0, usize::MAX)?.unwrap_or(0);
        let write = |out: &mut dyn std::io::Write, repo| Repository::write_json(out, repo, kind, &state);
        Ok(TaggedJson::untagged(bw_api::list_answer::page(&state.repos, state.clock.now(), offset, limit, &write)?))
    }

    /// Retrieve details of a specific repository by ID
    #[oai(path = "/api/repo/id/:id", method = "get", tag = "Tag::Repositories", operation_id = "getRepoById")]
    async fn get(
        &self,
        state: Data<&AppState>,
        caller: Guard<Read>,
        id: Path<String>,
    ) -> Answer<Json<RepoOne>, NOT_FOUND> {
        let repo = PathRepo::id(&id, &caller.principal).get(&state)?.at(state.clock.now());
        Ok(Json(RepoOne { repo: Repository::shown(repo, PathFamily::BorgWarehouse2, &state) }))
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
        caller: Guard<Read>,
        #[oai(name = "repositoryName")] name: Path<String>,
    ) -> Answer<Json<RepoOne>, NOT_FOUND> {
        let repo = PathRepo::name(&name, &caller.principal).get(&state)?.at(state.clock.now());
        Ok(Json(RepoOne { repo: Repository::shown(repo, PathFamily::V1, &state) }))
    }

    /// Create a new repository (every field required)
    #[oai(path = "/api/repo/add", method = "post", tag = "Tag::Repositories", operation_id = "addRepo")]
    async fn add(
        &self,
        state: Data<&AppState>,
        caller: Guard<Create>,
        body: JsonRequest<RepoCreate>,
    ) -> Answer<Json<Created>, { INVALID_BODY | CONFLICT | UNEXPECTED_DATA }> {
        Ok(create(&state, validate::create(&body)?, &caller).await?)
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
        caller: Guard<Create>,
        body: JsonRequest<RepoCreateV1>,
    ) -> Answer<Json<CreatedV1>, { INVALID_BODY | CONFLICT | UNEXPECTED_DATA }> {
        let new = validate::create_v1(&body, &state.config.repos.storage_targets)?;
        let Json(created) = create(&state, new, &caller).await?;
        let urls = &state.urls;
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
        caller: Guard<Update>,
        id: Path<String>,
        body: JsonRequest<RepoEdit>,
    ) -> Answer<Json<Message>, { INVALID_BODY | DISABLED | NOT_FOUND | CONFLICT | UNEXPECTED_DATA }> {
        Ok(edit(&state, PathRepo::id(&id, &caller.principal), body, &caller).await?)
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
        caller: Guard<Update>,
        #[oai(name = "repositoryName")] name: Path<String>,
        body: JsonRequest<RepoEditV1>,
    ) -> Answer<Json<Message>, { INVALID_BODY | DISABLED | NOT_FOUND | CONFLICT | UNEXPECTED_DATA }> {
        Ok(edit(&state, PathRepo::name(&name, &caller.principal), body, &caller).await?)
    }
}
