//! The repository routes: BorgWarehouse 2.x paths by id and v1 (3.x) paths by name, over the
//! store, `authorized_keys` and the pool.
//!
//! - [`repository`]: a repository as the API shows it, made from the store's record;
//! - [`schema`]: the bodies, each described once, with [`fields`]: each field's rule;
//! - [`validate`]: the rules between fields and against the settings;
//! - [`routes`]: list, get, create, edit; [`delete`]: the delete routes (cargo feature);
//!   [`path_repo`]: the repository a path names, and its 404;
//! - [`maintenance`]: BorgWarehouse 3.x's archive, compact and break-lock;
//! - [`keys`]: a repository's keys (this server's);
//! - [`document`]: what the document says that attributes cannot;
//! - [`import_command`], [`key_lookup_command`]: the plugin's commands of
//!   the program.

#[cfg(feature = "delete-repo")]
mod delete;
mod document;
mod fields;
mod import_command;
mod key_lookup_command;
mod keys;
mod maintenance;
mod path_repo;
mod refresh;
mod repository;
mod routes;
mod schema;
mod server_info;
mod storage_targets;
mod tag;
mod validate;
pub mod verify;
mod verify_settings;

use bw_api::AppState;

pub use repository::Repository;
pub use routes::RepoApi;
pub use schema::{Created, CreatedV1, RepoCreate, RepoCreateV1, RepoEdit, RepoEditV1, RepoOne, RepositoryList};
pub use verify_settings::VerifySettings;

/// The routes every build of this plugin has.
type Always = (
    RepoApi,
    keys::KeysApi,
    maintenance::MaintenanceApi,
    server_info::ServerInfoApi,
    refresh::RefreshApi,
    storage_targets::StorageTargetsApi,
    verify::VerifyApi,
);
const ALWAYS: Always = (
    RepoApi,
    keys::KeysApi,
    maintenance::MaintenanceApi,
    server_info::ServerInfoApi,
    refresh::RefreshApi,
    storage_targets::StorageTargetsApi,
    verify::VerifyApi,
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
fn reconcile(state: &AppState) -> Result<(), bw_api::registry::StartHookError> {
    let report = state.repos.reconcile().map_err(|e| format!("reconciling authorized_keys: {e}"))?;
    tracing::info!(
        repositories = state.repos.len(),
        fixed = report.added.len() + report.rewritten.len() + report.removed.len(),
        path = %state.repos.authorized_keys().path().display(),
        "authorized_keys reconciled with the store"
    );
    Ok(())
}

bw_api::endpoint_plugin!("repo", Apis, APIS, on_start = reconcile, document = document::finish);

/// With several servers on one database, the lease holder looks every 2 s for a change a
/// stopped server cut off between the database and its key file, and repairs the key folder
/// ([`bw_store::repo_store::RepoStore::repair_cut_off_change`]). A store one server owns repairs
/// at its next start instead: off.
fn repair_interval(state: &AppState) -> std::time::Duration {
    match state.repos.shared_by_servers() {
        true => bw_store::repo_store::REPAIR_EVERY,
        false => std::time::Duration::ZERO,
    }
}

fn repair_cut_off_change(state: AppState) -> bw_api::registry::TaskFuture {
    Box::pin(async move {
        state.repos.repair_cut_off_change().await?;
        Ok(())
    })
}

bw_api::task_plugin!("key-folder-repair", repair_interval, repair_cut_off_change);
