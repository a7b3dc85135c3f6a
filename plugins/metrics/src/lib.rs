//! The `metrics` plugin: `GET /metrics` for Prometheus, outside the OpenAPI document (its answer
//! is not JSON). A token with read, the administrator, or the cron key may scrape; anyone when
//! `BW_METRICS_PUBLIC=true`. A caller bound to a tenant or to names scrapes its repositories.
//!
//! The repositories' figures are copied from the store's in-memory index at each scrape (no
//! record is read from sled) and the answer is written as it is sent, in chunks, so metrics
//! cost no memory between scrapes and little during one.
//! Prometheus, which asks for OpenMetrics, gets OpenMetrics; any other client (curl, promtool,
//! other scrapers) gets the Prometheus text format.

mod prometheus_text;
mod render;

use std::fmt;

use bw_api::auth::{authenticate, Principal, SCHEME_ADMIN, SCHEME_CRON, SCHEME_SIGN_IN, SCHEME_TOKEN};
use bw_api::registry::HttpRoute;
use bw_api::{ApiError, AppState};
use bw_store::scope::Scope;
use bw_store::token_store::Permission;
use bytes::Bytes;
use poem::http::Method;
use poem::web::Data;
use poem::{handler, Body, EndpointExt, IntoResponse, Request, Response};
use tokio::sync::mpsc;

use prometheus_text::to_prometheus_text;
use render::{RepoTable, Scrape};

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The answer goes out in pieces of about this size (see `bw_store::memory`).
const CHUNK: usize = bw_store::memory::SCRAPE_CHUNK;
/// How long a chunk may wait for a client that does not read.
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Scrapes being built or sent at once.
static SCRAPES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// What the caller may scrape (the whole host, or its tenant's or named repositories), or the
/// contract's 401/403.
async fn admit(state: &AppState, req: &Request) -> Result<Scope, ApiError> {
    if state.config.auth.metrics_public {
        return Ok(Scope::HOST);
    }
    match authenticate(state, req, &[SCHEME_TOKEN, SCHEME_SIGN_IN, SCHEME_ADMIN, SCHEME_CRON]).await? {
        Principal::Token { permissions, .. } if !permissions.allows(Permission::Read) => {
            Err(ApiError::InsufficientPermissions)
        }
        p => Ok(p.scope()),
    }
}

fn wants_openmetrics(req: &Request) -> bool {
    req.headers()
        .get_all(poem::http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"))
}

/// Reads what the scrape shows: the repositories' figures now (from the store's in-memory
/// index: reading every record from sled at each scrape left 10-17 MiB of fragmented heap behind
/// at 100,000 repositories), and the server's counters.
/// A caller bound to a tenant or to names sees its repositories, their totals and the build,
/// not the host's own figures (requests, refusals, deliveries, check runs): they are other
/// tenants' traffic as much as its own.
fn collect(state: &AppState, scope: &Scope) -> Scrape {
    let now = state.clock.now();
    let host_wide = scope.is_whole_host();
    let mut repos = RepoTable::with_capacity(if host_wide { state.repos.len() } else { 0 });
    {
        let last = state.sessions.last_sessions();
        let verifies = state.verifies.all();
        state.repos.summaries(now, |repo| {
            if !host_wide && !scope.admits(repo.tenant, &repo.name.to_string()) {
                return;
            }
            let session = last.get(&repo.id).copied();
            let verify = verifies.get(&repo.id).map(|v| (v.at, v.ok));
            repos.push(repo, session, verify)
        });
    }
    Scrape {
        repos,
        telemetry: if host_wide { state.telemetry.snapshot() } else { Default::default() },
        host_wide,
        store: state.store_kind(),
        leads: state.leads(),
        database: state.database_stats(),
        version: bw_api::VERSION,
        plugins: bw_api::registry::all_plugin_names().unwrap_or_default().join(","),
    }
}

/// Hands the encoder's output to the response in chunks of whole lines, converted to the
/// format the client asked for. A client that went away stops the encoding.
struct Chunks {
    buf: String,
    tx: mpsc::Sender<Bytes>,
    openmetrics: bool,
}

/// How much of the buffer [`Chunks::send_lines`] sends.
#[derive(Clone, Copy)]
enum Upto {
    LastWholeLine,
    End,
}

impl Chunks {
    /// Sends the whole lines buffered so far (a piece of a line waits for the rest), or, at the
    /// end, everything.
    fn send_lines(&mut self, upto: Upto) -> fmt::Result {
        let end = match upto {
            Upto::End => self.buf.len(),
            Upto::LastWholeLine => self.buf.rfind('\n').map_or(0, |i| i + 1),
        };
        if end == 0 {
            return Ok(());
        }
        let out = if self.openmetrics {
            self.buf[..end].to_string()
        } else {
            let mut out = String::with_capacity(end + 256);
            to_prometheus_text(&self.buf[..end], &mut out);
            out
        };
        self.buf.drain(..end);
        // A client that stops reading holds a scrape slot: it is given up after SEND_TIMEOUT.
        let mut chunk = Bytes::from(out);
        let since = std::time::Instant::now();
        loop {
            match self.tx.try_send(chunk) {
                Ok(()) => return Ok(()),
                Err(mpsc::error::TrySendError::Full(back)) if since.elapsed() < SEND_TIMEOUT => {
                    chunk = back;
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(_) => return Err(fmt::Error),
            }
        }
    }
}

impl fmt::Write for Chunks {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.buf.push_str(s);
        if self.buf.len() >= CHUNK {
            self.send_lines(Upto::LastWholeLine)?;
        }
        Ok(())
    }
}

#[handler]
async fn metrics(req: &Request, state: Data<&AppState>) -> Response {
    let scope = match admit(&state, req).await {
        Ok(scope) => scope,
        Err(e) => return e.into_response(),
    };
    let openmetrics = wants_openmetrics(req);
    // A scrape holds a table of every repository while it is written out: at most two are
    // built at once, so that many scrapers (or one token holder looping) cannot multiply it.
    let Ok(permit) = SCRAPES.acquire().await else {
        return ApiError::internal("metrics: the scrape limit is closed").into_response();
    };
    let reader = state.clone();
    let (tx, mut rx) = mpsc::channel::<Bytes>(2);
    tokio::task::spawn_blocking(move || {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(collect(&reader, &scope)));
        let mut out = Chunks { buf: String::with_capacity(CHUNK + 1024), tx, openmetrics };
        let written =
            prometheus_client::encoding::text::encode(&mut out, &registry).and_then(|()| out.send_lines(Upto::End));
        if written.is_err() {
            tracing::debug!("metrics: the client went away before the answer was sent");
        }
        drop(registry);
        drop(permit);
        // The table's two allocations are mapped and go back by themselves; the encoder's
        // small ones are trimmed here. Nothing was read from sled, so there are no deferred
        // frees to wait for.
        bw_store::memory::release_free_memory();
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|c| c.map(Ok::<_, std::io::Error>)));
    Response::builder()
        .content_type(if openmetrics { OPENMETRICS } else { PROMETHEUS_TEXT })
        .header(poem::http::header::CACHE_CONTROL, "no-store")
        .body(Body::from_bytes_stream(stream))
}

fn routes() -> Vec<HttpRoute> {
    vec![HttpRoute { path: "/metrics", methods: &[Method::GET], endpoint: metrics.map_to_response().boxed() }]
}

const EXAMPLE: &str = "# TYPE borgwarehouse_repository_used_bytes gauge\n\
                       borgwarehouse_repository_used_bytes{repositoryName=\"c1ddd097\"} 1048576\n";

/// `GET /metrics` in the OpenAPI document: its credentials, its two text formats and the
/// series it carries (docs/features.md's Metrics section lists them).
fn describe(doc: &mut serde_json::Value) {
    let text = |example: &str| serde_json::json!({"schema": {"type": "string"}, "example": example});
    doc["paths"]["/metrics"] = serde_json::json!({"get": {
        "operationId": "metrics",
        "summary": "Prometheus metrics",
        "description": "Per repository (labelled `repositoryName`): last backup, used and quota bytes, alert delay, \
                        status, append-only and archived; totals; the checks' last runs; HTTP requests by route, \
                        refused credentials, alert deliveries, build info. OpenMetrics when the client's `Accept` \
                        names it, the Prometheus text format otherwise. A token with read permission, the \
                        administrator (Basic, or a page's sign-in token) or the cron key; no credentials when the \
                        server sets BW_METRICS_PUBLIC=true. A caller bound to a tenant or to named \
                        repositories sees those, their totals and the build, not the host's own counters.",
        "tags": ["Server"],
        "security": [{"apiToken": []}, {"signIn": []}, {"admin": []}, {"cronKey": []}],
        "responses": {"200": {"description": "The metrics", "content": {
            "text/plain": text(EXAMPLE),
            "application/openmetrics-text": text(&format!("{EXAMPLE}# EOF\n"))
        }}}
    }});
}

bw_api::http_plugin!("metrics", routes, document = describe);
