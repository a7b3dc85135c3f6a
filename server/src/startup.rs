//! Start-up, as `serve` runs it and as the tests run it: one path, so the tests exercise what
//! ships. [`App::new`] prepares (registry check, store, administrator bootstrap, plugins'
//! start-up hooks); [`App::listen`] binds and reports the address it got (port 0 gives a free
//! one); [`Listening::run`] serves until the shutdown future resolves.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bw_api::config::Config;
use bw_api::registry::{DuplicatePlugin, StartHookError};
use bw_api::AppState;
use bw_host::folder_scan::RepoScanner;
use bw_store::clock::Clock;
use bw_store::store_error::StoreError;
use poem::listener::{Acceptor, TcpAcceptor};
use poem::Server;

use crate::control;

/// Keep-alive connections with no traffic for this long are closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Requests in flight get this long to finish after a shutdown signal.
const GRACE: Duration = Duration::from_secs(30);

pub struct App {
    pub state: AppState,
    /// Bound before anything else is touched: a port in use must stop the start before it
    /// opens the store or rewrites `authorized_keys`.
    listener: std::net::TcpListener,
}

/// Why the server could not start, or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Registry(#[from] DuplicatePlugin),
    #[error("opening the store: {0}")]
    Open(#[from] bw_api::opening::OpenError),
    #[error("the store: {0}")]
    Store(#[from] StoreError),
    #[error("BW_ADMIN_PASSWORD: {0}")]
    AdminPassword(StoreError),
    #[error("plugin {plugin}: {source}")]
    Plugin { plugin: &'static str, source: StartHookError },
    #[error("cannot listen on {addr} (BW_LISTEN, `listen`): {}; nothing was opened or changed", listen_advice(.source))]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("serving: {0}")]
    Serve(std::io::Error),
}

impl App {
    /// Everything before listening. `scanner` replaces the file-system reader of the checks
    /// (tests: a hung mount the test controls).
    pub fn new(config: Config, clock: Clock, scanner: Option<Arc<dyn RepoScanner>>) -> Result<App, StartError> {
        bw_api::registry::check()?;
        let listen = config.server.listen;
        let listener = std::net::TcpListener::bind(listen)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|source| StartError::Listen { addr: listen, source })?;
        let mut state = AppState::open(config, clock)?;
        if let Some(scanner) = scanner {
            state = state.with_scanner(scanner);
        }
        bootstrap_admin(&state)?;
        for plugin in bw_api::registry::endpoint_plugins()? {
            if let Some(start) = plugin.on_start {
                start(&state).map_err(|source| StartError::Plugin { plugin: plugin.name, source })?;
            }
        }
        // Loading the store and reconciling allocate a lot once; give it back before serving.
        bw_store::memory::release_free_memory_now_and_soon();
        tracing::info!(plugins = ?bw_api::registry::all_plugin_names()?, "plugins built in");
        Ok(App { state, listener })
    }

    /// Starts accepting on the address bound by [`App::new`].
    pub async fn listen(self) -> Result<Listening, StartError> {
        let listen = self.state.config.server.listen;
        let acceptor =
            TcpAcceptor::from_std(self.listener).map_err(|source| StartError::Listen { addr: listen, source })?;
        let addr = acceptor.local_addr().first().and_then(|a| a.as_socket_addr().copied()).unwrap_or(listen);
        Ok(Listening { state: self.state, acceptor, addr })
    }
}

fn listen_advice(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            "the address is in use, by another server or program (`ss -ltnp` names it); stop it, or set \
             another address"
                .to_string()
        }
        std::io::ErrorKind::AddrNotAvailable => {
            "no interface of this host has that address; use 127.0.0.1 or one of `ip -brief address`".to_string()
        }
        std::io::ErrorKind::PermissionDenied => {
            "ports below 1024 need privileges; use a port above 1024 behind a reverse proxy".to_string()
        }
        _ => e.to_string(),
    }
}

/// Creates the administrator from `BW_ADMIN_PASSWORD` at the first start.
fn bootstrap_admin(state: &AppState) -> Result<(), StartError> {
    let auth = &state.config.auth;
    if state.users.exists()? {
        return Ok(());
    }
    match &auth.admin_password {
        Some(pw) => {
            state
                .users
                .set_password(
                    &auth.admin_user,
                    pw.expose(),
                    state.clock.now(),
                    Some(&bw_api::audit::command_line(
                        state.clock.now(),
                        "user.password",
                        &auth.admin_user,
                        serde_json::json!({"from": "BW_ADMIN_PASSWORD"}),
                    )),
                )
                .map_err(StartError::AdminPassword)?;
            tracing::info!(user = %auth.admin_user, "administrator account created from BW_ADMIN_PASSWORD");
        }
        None => {
            let code = state.first_run.issue();
            tracing::warn!(
                setup_code = %code,
                "no user yet: open the page and create the first admin with this one-time setup code \
                 (POST /api/v1/setup), or run `borgwarehouse admin set-password` (or start once with \
                 BW_ADMIN_PASSWORD set)"
            );
        }
    }
    Ok(())
}

pub struct Listening {
    pub state: AppState,
    acceptor: TcpAcceptor,
    /// The address the server got (the configured one, or the free port it was given).
    pub addr: SocketAddr,
}

impl Listening {
    /// Serves until `shutdown` resolves: scheduled tasks, the control socket, request-head
    /// deadlines and idle timeouts; then finishes requests in flight and flushes the store.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), StartError> {
        let Listening { state, acceptor, addr } = self;
        let config = state.config.clone();
        let tasks = crate::tasks::spawn_all(&state)?;
        let control_state = state.clone();
        let control = tokio::spawn(async move {
            if let Err(e) = control::serve(control_state).await {
                tracing::error!(error = %e, "control socket stopped; CLI commands open the store instead");
            }
        });
        tracing::info!("listening on http://{addr} (Swagger UI at http://{addr}/docs, OpenAPI at /openapi.json)");
        let app = crate::http::app(state.clone());
        // Live-update streams never end on their own: they end when the stop begins.
        let closing = state.clone();
        let shutdown = async move {
            shutdown.await;
            closing.events.close();
        };
        let acceptor = crate::head_deadline::HeadDeadline::new(acceptor, config.server.request_timeout);
        let result = Server::new_with_acceptor(acceptor)
            .idle_timeout(IDLE_TIMEOUT)
            .run_with_graceful_shutdown(app, shutdown, Some(GRACE))
            .await;
        for t in tasks {
            t.abort();
        }
        control.abort();
        let _ = std::fs::remove_file(control::socket_path(&config.server.data_dir));
        if let Err(e) = state.repos.mark_clean_stop().await {
            tracing::warn!(error = %e, "could not mark the key folder clean; the next start reads it again");
        }
        state.flush().await?;
        tracing::info!("stopped");
        result.map_err(StartError::Serve)
    }
}
