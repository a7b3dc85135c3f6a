//! `POST /api/v1/repositories/refresh`: the status and storage checks, now. The checks are task
//! plugins of their own; this route runs whichever of them the build has, through the registry
//! (plugins never import each other).

use bw_api::auth::{Guard, Update, WholeHost};
use bw_api::body::Message;
use bw_api::refusals::{Answer, CONFLICT};
use bw_api::{ApiError, AppState};
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;

use crate::tag::Tag;

/// The checks a refresh runs, in this order: last backups first, so a repository's status and
/// its disk use come from one moment.
const CHECKS: &[&str] = &["cron-status", "cron-storage"];

pub struct RefreshApi;

#[OpenApi]
impl RefreshApi {
    /// Run the status and storage checks now
    #[oai(
        path = "/api/v1/repositories/refresh",
        method = "post",
        tag = "Tag::RepositoriesV1",
        operation_id = "refreshRepositories"
    )]
    async fn refresh(
        &self,
        state: Data<&AppState>,
        _caller: Guard<WholeHost<Update>>,
    ) -> Answer<Json<Message>, CONFLICT> {
        let tasks = bw_api::registry::task_plugins().map_err(|e| {
            tracing::error!(error = %e, "task registry");
            ApiError::Internal
        })?;
        for name in CHECKS {
            if let Some(task) = tasks.iter().find(|t| t.name == *name) {
                (task.run)(state.clone()).await?;
            }
        }
        tracing::info!("repositories refreshed");
        Ok(Json(Message { message: "Repositories refreshed".into() }))
    }
}
