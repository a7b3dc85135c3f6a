//! Shared core of the BorgWarehouse server: configuration, state, errors, auth, the stores
//! every plugin works over, and the plugin registry that collects them.

pub mod admin;
pub mod auth;
pub mod authorized_keys;
pub mod body;
pub mod build_info;
pub mod checks;
pub mod clock;
pub mod config;
pub mod error;
pub mod key_lookup;
pub mod limits;
pub mod memory;
pub mod paths;
pub mod pool;
pub mod refusals;
pub mod registry;
pub mod repo_store;
pub mod route_index;
pub mod scan;
pub mod snapshot;
pub mod ssh_key;
pub mod ssh_url;
pub mod state;
pub mod storage_target;
pub mod store_error;
pub mod tags;
pub mod telemetry;
pub mod throttle;
pub mod token_store;
pub mod users;

pub use error::{ApiError, ApiResult};
pub use registry::{EndpointPlugin, HttpPlugin, PluginApis, TaskPlugin};

#[doc(hidden)]
pub use registry::__private;
pub use state::AppState;

pub use build_info::{INTEGRATIONS_COMPILED, VERSION};
