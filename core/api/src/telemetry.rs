//! What the server counts about itself while it runs: requests by route, refused credentials,
//! alert deliveries, the checks' last runs. The layers that see these events (HTTP middleware,
//! the credential check, the check plugins) record them here; the `metrics` plugin reads them at
//! scrape time. Plugins never import each other, so the counters live in core.
//!
//! Labels have few values by construction: a route is its documented template
//! (`/api/v1/repositories/{repositoryName}`), never the path a client sent, so a hostile client
//! cannot grow these tables.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

/// One request counter's labels: the route template, the method, the status.
pub type RequestKey = (String, String, u16);

/// The last run of one check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckRun {
    pub duration: Duration,
    /// Unix seconds at which it ended.
    pub ended_at: i64,
    pub succeeded: bool,
}

/// A copy of every counter, taken at once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TelemetrySnapshot {
    pub requests: BTreeMap<RequestKey, u64>,
    /// By reason: `unauthorized` (missing or wrong credentials), `invalid_api_key`,
    /// `cron_key`, `throttled`.
    pub auth_failures: BTreeMap<&'static str, u64>,
    /// By channel and outcome (`delivered`, `failed`).
    pub alert_deliveries: BTreeMap<(&'static str, &'static str), u64>,
    /// By check (`status`, `storage`).
    pub checks: BTreeMap<&'static str, CheckRun>,
}

/// The counters of one running server. Requests are kept by route, then by method and status,
/// so that counting one allocates nothing once its route has been seen (every request passes
/// here); the snapshot lays them out flat.
#[derive(Debug, Default)]
pub struct Telemetry(Mutex<Counters>);

#[derive(Debug, Default)]
struct Counters {
    requests: HashMap<String, HashMap<(&'static str, u16), u64>>,
    /// Everything but the requests, as the snapshot shows it.
    rest: TelemetrySnapshot,
}

/// What a request path is counted under when it is no route at all (a scan for `/wp-admin`).
pub const UNMATCHED_ROUTE: &str = "unmatched";

impl Telemetry {
    fn with<R>(&self, f: impl FnOnce(&mut Counters) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// One answered request. `route` is a template or [`UNMATCHED_ROUTE`].
    pub fn request(&self, route: &str, method: &str, status: u16) {
        // The method is one of the few HTTP knows or "other": a client cannot invent labels.
        let method: &'static str = match method {
            "GET" => "GET",
            "HEAD" => "HEAD",
            "POST" => "POST",
            "PUT" => "PUT",
            "PATCH" => "PATCH",
            "DELETE" => "DELETE",
            "OPTIONS" => "OPTIONS",
            _ => "other",
        };
        self.with(|t| {
            let by_status = match t.requests.get_mut(route) {
                Some(m) => m,
                None => t.requests.entry(route.to_string()).or_default(),
            };
            *by_status.entry((method, status)).or_default() += 1;
        });
    }

    pub fn auth_failure(&self, reason: &'static str) {
        self.with(|t| *t.rest.auth_failures.entry(reason).or_default() += 1);
    }

    pub fn alert_delivery(&self, channel: &'static str, delivered: bool) {
        let outcome = if delivered { "delivered" } else { "failed" };
        self.with(|t| *t.rest.alert_deliveries.entry((channel, outcome)).or_default() += 1);
    }

    pub fn check_finished(&self, check: &'static str, run: CheckRun) {
        self.with(|t| t.rest.checks.insert(check, run));
    }

    pub fn snapshot(&self) -> TelemetrySnapshot {
        self.with(|t| {
            let mut snapshot = t.rest.clone();
            for (route, by_status) in &t.requests {
                for ((method, status), n) in by_status {
                    snapshot.requests.insert((route.clone(), method.to_string(), *status), *n);
                }
            }
            snapshot
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_label_and_keeps_methods_few() {
        let t = Telemetry::default();
        t.request("/api/v1/repositories", "GET", 200);
        t.request("/api/v1/repositories", "GET", 200);
        t.request(UNMATCHED_ROUTE, "BREW", 404);
        t.auth_failure("unauthorized");
        t.alert_delivery("email", false);
        let s = t.snapshot();
        assert_eq!(s.requests[&("/api/v1/repositories".into(), "GET".into(), 200)], 2);
        assert_eq!(s.requests[&(UNMATCHED_ROUTE.into(), "other".into(), 404)], 1);
        assert_eq!(s.auth_failures["unauthorized"], 1);
        assert_eq!(s.alert_deliveries[&("email", "failed")], 1);
        assert!(s.checks.is_empty());
    }
}
