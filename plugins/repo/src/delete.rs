//! The delete routes, compiled only with the `delete-repo` feature; `DISABLE_DELETE_REPO`
//! turns them off at run time (403).

use bw_core::auth::{Delete, Guard};
use bw_core::body::Message;
use bw_core::refusals::{Answer, DISABLED, NOT_FOUND};
use bw_core::repo_store::Repo;
use bw_core::{ApiError, ApiResult, AppState};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;

use crate::routes::{by_id, by_name, not_found_as};
use crate::Tag;

const DISABLED_TEXT: &str = "Deletion is disabled on this server";

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
        operation_id = "deleteRepoById"
    )]
    async fn delete(
        &self,
        state: Data<&AppState>,
        _caller: Guard<Delete>,
        id: Path<String>,
    ) -> Answer<Json<Message>, { DISABLED | NOT_FOUND }> {
        if state.config.repos.disable_delete {
            return Err(ApiError::Forbidden(DISABLED_TEXT.into()).into());
        }
        let repo = by_id(&state, &id)?;
        Ok(delete_repo(&state, repo, || format!("No repository with id #{}", id.0)).await?)
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
        _caller: Guard<Delete>,
        #[oai(name = "repositoryName")] name: Path<String>,
    ) -> Answer<Json<Message>, { DISABLED | NOT_FOUND }> {
        if state.config.repos.disable_delete {
            return Err(ApiError::Forbidden(DISABLED_TEXT.into()).into());
        }
        let repo = by_name(&state, &name)?;
        Ok(delete_repo(&state, repo, || format!("No repository with name {}", name.0)).await?)
    }
}
