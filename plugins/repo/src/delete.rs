//! The delete routes, compiled only with the `delete-repo` feature; `DISABLE_DELETE_REPO`
//! turns them off at run time (403).

use bw_api::auth::{Delete, Guard};
use bw_api::body::Message;
use bw_api::refusals::{Answer, DISABLED, NOT_FOUND};
use bw_api::{ApiError, ApiResult, AppState};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;

use crate::path_repo::PathRepo;
use crate::tag::Tag;

const DISABLED_TEXT: &str = "Deletion is disabled on this server";

pub struct RepoDeleteApi;

async fn delete_repo(state: &AppState, path: PathRepo, caller: &Guard<Delete>) -> ApiResult<Json<Message>> {
    let audit = caller.audit(state.clock.now(), "repository.delete", path.name_or_id(), serde_json::Value::Null);
    let repo = state.repos.delete(path.key(state)?, Some(audit)).await.map_err(|e| path.answer(e))?;
    if let Err(e) = state.sessions.remove_repository(repo.id) {
        tracing::warn!(id = repo.id, error = %e, "the deleted repository's sessions stay in the store");
    }
    if let Err(e) = state.verifies.remove_repository(repo.id) {
        tracing::warn!(id = repo.id, error = %e, "the deleted repository's verify result stays in the store");
    }
    if let Err(e) = state.quota_marks.remove_repository(repo.id) {
        tracing::warn!(id = repo.id, error = %e, "the deleted repository's quota mark stays in the store");
    }
    if let Err(e) = state.history.remove_repository(repo.id) {
        tracing::warn!(id = repo.id, error = %e, "the deleted repository's history stays in the store");
    }
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
        operation_id = "deleteRepoById"
    )]
    async fn delete(
        &self,
        state: Data<&AppState>,
        caller: Guard<Delete>,
        id: Path<String>,
    ) -> Answer<Json<Message>, { DISABLED | NOT_FOUND }> {
        if state.config.repos.disable_delete {
            return Err(ApiError::Forbidden(DISABLED_TEXT.into()).into());
        }
        Ok(delete_repo(&state, PathRepo::id(&id, &caller.principal), &caller).await?)
    }

    /// Delete a specific repository by name
    #[oai(
        path = "/api/v1/repositories/:repositoryName",
        method = "delete",
        tag = "Tag::RepositoriesV1",
        operation_id = "deleteRepositoryByName"
    )]
    async fn delete_v1(
        &self,
        state: Data<&AppState>,
        caller: Guard<Delete>,
        #[oai(name = "repositoryName")] name: Path<String>,
    ) -> Answer<Json<Message>, { DISABLED | NOT_FOUND }> {
        if state.config.repos.disable_delete {
            return Err(ApiError::Forbidden(DISABLED_TEXT.into()).into());
        }
        Ok(delete_repo(&state, PathRepo::name(&name, &caller.principal), &caller).await?)
    }
}
