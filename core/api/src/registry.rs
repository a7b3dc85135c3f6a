//! The plugin registry. Plugins submit entries with `inventory`; the registry walks them once,
//! sorts them by name (inventory gives no order, and a stable order keeps the OpenAPI document
//! stable) and refuses duplicate names.
//!
//! Three kinds, each with its macro:
//! - [`endpoint_plugin!`](crate::endpoint_plugin): OpenAPI-documented routes (`poem_openapi::OpenApi`);
//! - [`http_plugin!`](crate::http_plugin): routes outside the OpenAPI document (Prometheus text,
//!   HTML and assets), plain poem endpoints;
//! - [`task_plugin!`](crate::task_plugin): work the server runs on its own every interval.
//!
//! Plugins bring commands of the program the same way ([`crate::commands`]).
//!
//! The macros reach what they need through `$crate::__private`, so a plugin crate depends on
//! `bw-api` alone for them.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::time::Duration;

use poem::endpoint::BoxEndpoint;
use poem::http::Method;
use poem_openapi::registry::{MetaApi, Registry};
use poem_openapi::OpenApi;

use crate::error::ApiResult;
pub use crate::plugin_list::DuplicatePlugin;
use crate::plugin_list::{sorted, Registered};
use crate::state::AppState;

/// poem-openapi's route table, as `OpenApi::add_routes` fills it.
pub type RouteTable = HashMap<String, HashMap<Method, BoxEndpoint<'static>>>;

/// A set of OpenAPI-documented routes. Build one with [`endpoint_plugin!`](crate::endpoint_plugin).
pub struct EndpointPlugin {
    pub name: &'static str,
    pub meta: fn() -> Vec<MetaApi>,
    pub register: fn(&mut Registry),
    pub add_routes: fn(&mut RouteTable),
    /// Runs once at start-up, before the server listens (e.g. reconciling files with the store).
    pub on_start: Option<StartHook>,
    /// Finishes the plugin's part of the OpenAPI document where poem-openapi's attributes
    /// cannot say it (`additionalProperties: false`, enums of integers, examples).
    pub finish_document: Option<fn(&mut serde_json::Value)>,
}

/// A plugin's start-up work; its error stops the server with the plugin's name.
pub type StartHook = fn(&AppState) -> Result<(), StartHookError>;
pub type StartHookError = Box<dyn std::error::Error + Send + Sync>;

/// Routes outside the OpenAPI document. Build one with [`http_plugin!`](crate::http_plugin).
pub struct HttpPlugin {
    pub name: &'static str,
    pub routes: fn() -> Vec<HttpRoute>,
    /// Adds the plugin's routes to the OpenAPI document by hand (they are not poem-openapi
    /// operations), so that clients and readers of `/docs` know them.
    pub document: Option<fn(&mut serde_json::Value)>,
}

/// One path of an [`HttpPlugin`]. Other methods get the contract's 405 with `Allow`; the
/// handler reaches the state with `poem::web::Data<&AppState>`.
pub struct HttpRoute {
    pub path: &'static str,
    pub methods: &'static [Method],
    pub endpoint: BoxEndpoint<'static>,
}

pub type TaskFuture = Pin<Box<dyn Future<Output = ApiResult<()>> + Send>>;

/// Work the server runs on its own every interval. Build one with
/// [`task_plugin!`](crate::task_plugin).
pub struct TaskPlugin {
    pub name: &'static str,
    /// How often, from the configuration; zero turns it off.
    pub interval: fn(&AppState) -> Duration,
    pub run: fn(AppState) -> TaskFuture,
    /// Runs on every server, not only on the one holding the lease of the periodic work: what
    /// serves this server's own clients (its live events).
    pub on_every_server: bool,
}

inventory::collect!(EndpointPlugin);
inventory::collect!(HttpPlugin);
inventory::collect!(TaskPlugin);

/// What the registry macros use, re-exported so plugin crates need no dependency of their own
/// under a particular name. Not an API.
#[doc(hidden)]
pub mod __private {
    pub use inventory;
    pub use poem_openapi::OpenApi;

    /// `Some(x)` for a macro argument given, `None` for one left out.
    #[macro_export]
    #[doc(hidden)]
    macro_rules! __optional {
        () => {
            None
        };
        ($e:expr) => {
            Some($e)
        };
    }
    pub use __optional as optional;
}

/// Registers an `OpenApi` type as an endpoint plugin:
/// `endpoint_plugin!("version", VersionApi, VersionApi);`, optionally with
/// `on_start = hook` and `document = finish` after the value.
#[macro_export]
macro_rules! endpoint_plugin {
    ($name:expr, $api:ty, $value:expr $(, on_start = $on_start:expr)? $(, document = $document:expr)? $(,)?) => {
        $crate::__private::inventory::submit! {
            $crate::registry::EndpointPlugin {
                name: $name,
                meta: <$api as $crate::__private::OpenApi>::meta,
                register: <$api as $crate::__private::OpenApi>::register,
                add_routes: |table| <$api as $crate::__private::OpenApi>::add_routes($value, table),
                on_start: $crate::__private::optional!($($on_start)?),
                finish_document: $crate::__private::optional!($($document)?),
            }
        }
    };
}

/// Registers routes that are not poem-openapi operations (Prometheus text, HTML):
/// `http_plugin!("metrics", || vec![HttpRoute { path: "/metrics", methods: &[Method::GET], endpoint }]);`,
/// optionally with `document = describe`, which writes their entries into the document.
#[macro_export]
macro_rules! http_plugin {
    ($name:literal, $routes:expr $(, document = $document:expr)? $(,)?) => {
        $crate::__private::inventory::submit! {
            $crate::registry::HttpPlugin {
                name: $name,
                routes: $routes,
                document: $crate::__private::optional!($($document)?),
            }
        }
    };
}

/// Registers a task the server runs on its own, on the server holding the lease of the
/// periodic work: `task_plugin!("cron-status", |s| s.config.checks.status_interval, scheduled);`.
/// `task_plugin!(every server: ...)` runs it on each server (what serves its own clients).
#[macro_export]
macro_rules! task_plugin {
    ($name:expr, $interval:expr, $run:expr) => {
        $crate::__private::inventory::submit! {
            $crate::registry::TaskPlugin { name: $name, interval: $interval, run: $run, on_every_server: false }
        }
    };
    (every server: $name:expr, $interval:expr, $run:expr) => {
        $crate::__private::inventory::submit! {
            $crate::registry::TaskPlugin { name: $name, interval: $interval, run: $run, on_every_server: true }
        }
    };
}

static ENDPOINTS: Registered<EndpointPlugin> = OnceLock::new();
static HTTP: Registered<HttpPlugin> = OnceLock::new();
static TASKS: Registered<TaskPlugin> = OnceLock::new();

/// Every endpoint plugin built in, by name; an error names a duplicate.
pub fn endpoint_plugins() -> Result<&'static [&'static EndpointPlugin], DuplicatePlugin> {
    ENDPOINTS
        .get_or_init(|| sorted(inventory::iter::<EndpointPlugin>.into_iter(), |p| p.name, "endpoint"))
        .as_deref()
        .map_err(Clone::clone)
}

/// Every plugin of routes outside the document, by name; an error names a duplicate.
pub fn http_plugins() -> Result<&'static [&'static HttpPlugin], DuplicatePlugin> {
    HTTP.get_or_init(|| sorted(inventory::iter::<HttpPlugin>.into_iter(), |p| p.name, "http"))
        .as_deref()
        .map_err(Clone::clone)
}

/// Every task plugin built in, by name; an error names a duplicate.
pub fn task_plugins() -> Result<&'static [&'static TaskPlugin], DuplicatePlugin> {
    TASKS
        .get_or_init(|| sorted(inventory::iter::<TaskPlugin>.into_iter(), |p| p.name, "task"))
        .as_deref()
        .map_err(Clone::clone)
}

/// The name of every plugin built in, of any kind, sorted (a plugin with routes and a task,
/// such as `sessions`, once).
pub fn all_plugin_names() -> Result<Vec<&'static str>, DuplicatePlugin> {
    let mut names: Vec<&'static str> = endpoint_plugins()?.iter().map(|p| p.name).collect();
    names.extend(http_plugins()?.iter().map(|p| p.name));
    names.extend(task_plugins()?.iter().map(|p| p.name));
    names.extend(crate::alerting::alert_plugins()?.iter().map(|p| p.name));
    names.sort_unstable();
    names.dedup();
    Ok(names)
}

/// Checks the registry at start-up, so a duplicate stops the server with a message instead of
/// a panic later.
pub fn check() -> Result<(), DuplicatePlugin> {
    endpoint_plugins()?;
    http_plugins()?;
    task_plugins()?;
    crate::commands::command_plugins()?;
    crate::control_ops::control_ops()?;
    crate::alerting::alert_plugins()?;
    crate::config::settings_groups()?;
    Ok(())
}

fn endpoints_or_empty() -> &'static [&'static EndpointPlugin] {
    endpoint_plugins().unwrap_or(&[])
}

/// Every plugin's routes as one `OpenApi`, for `OpenApiService`.
pub struct PluginApis;

impl OpenApi for PluginApis {
    /// One `MetaApi` with each path once: two APIs serving one path (the repository routes and
    /// the delete routes compiled apart) would otherwise give the document the same path key
    /// twice, and JSON readers keep only the last.
    fn meta() -> Vec<MetaApi> {
        let mut paths: Vec<poem_openapi::registry::MetaPath> = Vec::new();
        for api in endpoints_or_empty().iter().flat_map(|p| (p.meta)()) {
            for path in api.paths {
                match paths.iter_mut().find(|p| p.path == path.path) {
                    Some(existing) => existing.operations.extend(path.operations),
                    None => paths.push(path),
                }
            }
        }
        vec![MetaApi { paths }]
    }

    fn register(registry: &mut Registry) {
        for p in endpoints_or_empty() {
            (p.register)(registry);
        }
    }

    fn add_routes(self, route_table: &mut RouteTable) {
        for p in endpoints_or_empty() {
            (p.add_routes)(route_table);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct P(&'static str);

    #[test]
    fn sorts_and_refuses_duplicates() {
        static A: P = P("b");
        static B: P = P("a");
        static C: P = P("b");
        let v = sorted([&A, &B].into_iter(), |p| p.0, "endpoint").unwrap();
        assert_eq!(v.iter().map(|p| p.0).collect::<Vec<_>>(), ["a", "b"]);
        let err = sorted([&A, &B, &C].into_iter(), |p| p.0, "endpoint").unwrap_err().to_string();
        assert!(err.contains("\"b\""), "{err}");
    }
}
