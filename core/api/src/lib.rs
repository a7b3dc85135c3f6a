//! The API kit every plugin is built with: errors as HTTP answers ([`error`]) and the
//! contract's refusals, authentication and guards ([`auth`]), request bodies ([`body`]), the
//! plugin registry and route index, the checks' common runner ([`checks`]), configuration,
//! telemetry, and [`AppState`], which ties the two crates below it: `bw-host` (the files sshd and
//! borg read) and `bw-store` (the truth).

pub mod alert;
pub mod alerting;
pub mod audit;
pub mod auth;
pub mod body;
pub mod body_fields;
pub mod build_info;
pub mod checks;
pub mod commands;
pub mod config;
pub mod control_ops;
pub mod error;
pub mod events;
pub mod figures;
pub mod first_run;
pub mod health;
pub mod history;
pub mod limits;
pub mod list_answer;
pub mod opening;
pub mod password_policy;
mod plugin_list;
pub mod query;
pub mod refusals;
pub mod registry;
pub mod route_index;
pub mod state;
pub mod tags;
pub mod telemetry;
pub mod throttle;

pub use error::{ApiError, ApiResult};
pub use registry::{EndpointPlugin, HttpPlugin, PluginApis, TaskPlugin};

#[doc(hidden)]
pub use registry::__private;
pub use state::AppState;

pub use build_info::{INTEGRATIONS_COMPILED, VERSION};
