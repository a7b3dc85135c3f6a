//! The BorgWarehouse server: the plugins built in, served as one poem application.

pub mod cli;
pub mod control;
pub mod head_deadline;
pub mod http;
pub mod snapshot_file;
pub mod startup;
pub mod tasks;

// The linker drops a crate nothing refers to, and its `inventory` registrations with it: name
// every enabled plugin here.
#[cfg(feature = "alerts")]
use bw_plugin_alerts as _;
#[cfg(feature = "audit")]
use bw_plugin_audit as _;
#[cfg(feature = "cron-status")]
use bw_plugin_cron_status as _;
#[cfg(feature = "cron-storage")]
use bw_plugin_cron_storage as _;
#[cfg(feature = "dashboard")]
use bw_plugin_dashboard as _;
#[cfg(feature = "events")]
use bw_plugin_events as _;
#[cfg(feature = "history")]
use bw_plugin_history as _;
#[cfg(feature = "metrics")]
use bw_plugin_metrics as _;
#[cfg(feature = "repo")]
use bw_plugin_repo as _;
#[cfg(feature = "sessions")]
use bw_plugin_sessions as _;
#[cfg(feature = "sign-in")]
use bw_plugin_sign_in as _;
#[cfg(feature = "sign-in-providers")]
use bw_plugin_sign_in_providers as _;
#[cfg(feature = "tenants")]
use bw_plugin_tenants as _;
#[cfg(feature = "tokens")]
use bw_plugin_tokens as _;
#[cfg(feature = "users")]
use bw_plugin_users as _;
#[cfg(feature = "version")]
use bw_plugin_version as _;

pub use http::{app, openapi_spec};
pub use startup::{App, Listening, StartError};

/// Names of the endpoint plugins built into this binary, sorted.
pub fn plugin_names() -> Result<Vec<&'static str>, bw_api::registry::DuplicatePlugin> {
    bw_api::registry::all_plugin_names()
}
