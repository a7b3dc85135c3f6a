//! `GET /api/v1/storage-targets` and `/status`: the mounted folders where repositories may be
//! placed instead of the pool (`STORAGE_TARGETS`), and how full each is.

use bw_api::auth::{Guard, Read, WholeHost};
use bw_api::refusals::{Answer, NONE};
use bw_api::AppState;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use crate::tag::Tag;

/// A configured storage target.
#[derive(Object, Debug, Clone, PartialEq)]
#[oai(rename = "StorageTarget", rename_all = "camelCase")]
pub struct TargetView {
    /// The folder, as configured; what `storageTarget` names on create.
    pub path: String,
    pub name: String,
}

#[derive(Object, Debug, Clone, PartialEq)]
#[oai(rename = "StorageTargetList", rename_all = "camelCase")]
pub struct TargetList {
    pub storage_targets: Vec<TargetView>,
}

/// One target's state, from `statvfs`.
#[derive(Object, Debug, Clone, PartialEq)]
#[oai(rename = "StorageTargetStatus", rename_all = "camelCase")]
pub struct TargetStatusView {
    pub path: String,
    pub name: String,
    /// False when the folder is missing, or is not on a mounted filesystem (a disk that is not
    /// mounted leaves an empty folder on `/`); nothing is then written into it.
    pub available: bool,
    /// 0 when not available.
    pub total_bytes: u64,
    pub used_bytes: u64,
    /// Bytes this server's user may still write.
    pub free_bytes: u64,
}

#[derive(Object, Debug, Clone, PartialEq)]
#[oai(rename = "StorageTargetStatuses", rename_all = "camelCase")]
pub struct TargetStatuses {
    pub statuses: Vec<TargetStatusView>,
}

pub struct StorageTargetsApi;

#[OpenApi]
impl StorageTargetsApi {
    /// List the storage targets a repository may be created on
    #[oai(
        path = "/api/v1/storage-targets",
        method = "get",
        tag = "Tag::RepositoriesV1",
        operation_id = "listStorageTargets"
    )]
    async fn list(&self, state: Data<&AppState>, _caller: Guard<Read>) -> Answer<Json<TargetList>, NONE> {
        let storage_targets = state
            .config
            .repos
            .storage_targets
            .iter()
            .map(|t| TargetView { path: t.path.clone(), name: t.name.clone() })
            .collect();
        Ok(Json(TargetList { storage_targets }))
    }

    /// Report each storage target's availability and space
    #[oai(
        path = "/api/v1/storage-targets/status",
        method = "get",
        tag = "Tag::RepositoriesV1",
        operation_id = "getStorageTargetStatus"
    )]
    async fn status(
        &self,
        state: Data<&AppState>,
        _caller: Guard<WholeHost<Read>>,
    ) -> Answer<Json<TargetStatuses>, NONE> {
        let targets = state.config.repos.storage_targets.clone();
        // statvfs on a hung network mount blocks: off the request threads.
        let statuses = tokio::task::spawn_blocking(move || {
            targets
                .iter()
                .map(|t| {
                    let s = t.status();
                    if let Some(problem) = &s.problem {
                        tracing::warn!(target = %t.path, problem = %problem, "storage target not available");
                    }
                    TargetStatusView {
                        path: t.path.clone(),
                        name: t.name.clone(),
                        available: s.available,
                        total_bytes: s.total_bytes,
                        used_bytes: s.used_bytes,
                        free_bytes: s.free_bytes,
                    }
                })
                .collect()
        })
        .await
        .map_err(bw_api::ApiError::internal)?;
        Ok(Json(TargetStatuses { statuses }))
    }
}
