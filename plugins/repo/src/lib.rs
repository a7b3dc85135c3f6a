//! The repository routes: BorgWarehouse 2.x paths by id and v1 (3.x) paths by name, over the
//! store, `authorized_keys` and the pool.
//!
//! - [`schema`]: the bodies as the document shows them;
//! - [`validate`]: the contract's Validation section;
//! - [`routes`]: list, get, create, edit; [`delete`]: the delete routes (cargo feature);
//! - [`maintenance`]: BorgWarehouse 3.x's archive, compact and break-lock;
//! - [`document`]: what the document says that attributes cannot.

#[cfg(feature = "delete-repo")]
mod delete;
mod document;
mod maintenance;
mod refresh;
mod routes;
mod schema;
mod server_info;
mod storage_targets;
mod validate;

use bw_core::AppState;
use poem_openapi::Tags;

pub use routes::RepoApi;
pub use schema::{Created, CreatedV1, RepoCreate, RepoCreateV1, RepoEdit, RepoEditV1, RepoOne, RepositoryList};

#[derive(Tags)]
enum Tag {
    /// BorgWarehouse 2.x paths (`/api/repo...`): repositories by id. Each repository is one
    /// `authorized_keys` line and one pool folder.
    #[oai(rename = "Repositories (2.x paths)")]
    Repositories,
    /// v1 paths of BorgWarehouse 3.x (`/api/v1/repositories...`): repositories by name.
    #[oai(rename = "Repositories (v1, 3.x paths)")]
    RepositoriesV1,
}

/// The routes every build of this plugin has.
type Always = (
    RepoApi,
    maintenance::MaintenanceApi,
    server_info::ServerInfoApi,
    refresh::RefreshApi,
    storage_targets::StorageTargetsApi,
);
const ALWAYS: Always = (
    RepoApi,
    maintenance::MaintenanceApi,
    server_info::ServerInfoApi,
    refresh::RefreshApi,
    storage_targets::StorageTargetsApi,
);

#[cfg(feature = "delete-repo")]
type Apis = (Always, delete::RepoDeleteApi);
#[cfg(feature = "delete-repo")]
const APIS: Apis = (ALWAYS, delete::RepoDeleteApi);
#[cfg(not(feature = "delete-repo"))]
type Apis = Always;
#[cfg(not(feature = "delete-repo"))]
const APIS: Apis = ALWAYS;

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

bw_core::endpoint_plugin!("repo", Apis, APIS, on_start = reconcile, document = document::finish);
