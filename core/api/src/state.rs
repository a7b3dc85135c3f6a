use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

use bw_host::authorized_keys::AuthorizedKeys;
use bw_host::folder_scan::{self, FsScanner, RepoScanner, ScanFailure, ScanTarget};
use bw_host::key_lookup::KeyDir;
use bw_host::pool::Pool;
use bw_host::ssh_url::RepoUrls;
use bw_store::backend::SharedBackend;
use bw_store::clock::Clock;
use bw_store::health_marks::QuotaMarks;
use bw_store::history::HistoryStore;
use bw_store::key_sink::KeySink;
use bw_store::repo_store::RepoStore;
use bw_store::session_store::SessionStore;
use bw_store::store_error::{StoreError, StoreResult};

use crate::opening::{check_owners, create_home_if_missing, session_recorder, OpenError};
use bw_store::token_store::TokenStore;
use bw_store::user_store::UserStore;
use bw_store::verify_results::VerifyResults;

use crate::config::{Config, KeyMode};
use crate::throttle::Throttle;

/// Everything a handler or a task needs; cheap to clone, reaches handlers through poem `Data`.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub clock: Clock,
    /// The store seam's backend every store writes through.
    db: SharedBackend,
    pub repos: RepoStore,
    pub tokens: TokenStore,
    pub users: UserStore,
    /// Who changed what (`bw_store::audit_log`).
    pub audit: bw_store::audit_log::AuditLog,
    /// The tenants' quotas.
    pub tenants: bw_store::tenant_store::TenantStore,
    /// Settings an admin changed in the page, over the configuration's.
    pub page_settings: bw_store::page_settings::PageSettings,
    /// The one-time setup code while there is no user (`crate::first_run`).
    pub first_run: crate::first_run::FirstRun,
    /// The sessions taken in from the spool (sessions on).
    pub sessions: SessionStore,
    pub history: HistoryStore,
    /// Each repository's last verify.
    pub verifies: VerifyResults,
    /// The alerts that fired, newest kept (for people; the channels told them once).
    pub alert_log: bw_store::alert_log::AlertLog,
    /// The quota level each repository was last alerted at (`crate::health`).
    pub quota_marks: QuotaMarks,
    /// Health alerts waiting for the alert plugin.
    pub(crate) health_events: Mutex<Vec<crate::alert::HealthEvent>>,
    /// A fold of the history runs (see `crate::history`).
    pub(crate) history_folding: std::sync::atomic::AtomicBool,
    /// The URLs a client gives borg (`sshUrl`, `lanSshUrl`), from the SSH settings.
    pub urls: RepoUrls,
    pub throttle: Throttle,
    /// The cached list answers (`crate::list_answer`).
    pub lists: crate::list_answer::ListAnswers,
    /// Live updates (`crate::events`).
    pub events: crate::events::Events,
    pub scanner: Arc<dyn RepoScanner>,
    /// What the server counts about itself, for the metrics plugin.
    pub telemetry: crate::telemetry::Telemetry,
    run_locks: Mutex<HashMap<&'static str, Arc<tokio::sync::Mutex<()>>>>,
    /// This server's hold on the borg home ([`bw_host::home_lock`]), for as long as it runs.
    _home_lock: bw_host::home_lock::HomeLock,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// The id of the repository named `name` when it exists and `scope` reaches it, from the
    /// index alone: a scoped caller gets the same `None` for a missing repository and for one
    /// out of its reach, in the same steps.
    pub fn reachable_id(&self, name: &str, scope: &bw_store::scope::Scope) -> Option<u64> {
        if !bw_host::pool::is_repo_name(name) {
            return None;
        }
        let id = self.repos.id_of_name(name)?;
        let reached =
            scope.is_whole_host() || self.repos.within(&bw_store::repo_store::RepoKey::Name(name.to_string()), scope);
        reached.then_some(id)
    }
}

impl AppState {
    /// Opens the store under `config.server.data_dir` (creating it) and the borg user's files.
    pub fn open(config: Config, clock: Clock) -> Result<Self, OpenError> {
        check_owners(&config)?;
        // The store holds token hashes and the administrator's password hash: private folder.
        bw_host::paths::ensure_private_dir(&config.server.data_dir)
            .map_err(|e| StoreError::io(&config.server.data_dir, e))?;
        // A folder a newer release wrote is refused before anything in it is opened.
        bw_store::format::check(&config.server.data_dir, crate::build_info::VERSION)?;
        create_home_if_missing(&config.home())?;
        let backend: SharedBackend = match &config.server.database_url {
            Some(url) => Arc::new(
                bw_store::backend::PostgresBackend::open_with_ca(url.expose(), config.server.database_ca.as_deref())
                    .map_err(|e| OpenError::Database(e.to_string()))?,
            ),
            None => Arc::new(
                bw_store::backend::SledBackend::open(&config.db_path(), bw_store::memory::SLED_CACHE_BYTES).map_err(
                    |e| match e {
                        bw_store::backend::SledOpenError::InUse => OpenError::StoreInUse {
                            data_dir: config.server.data_dir.clone(),
                            pid: bw_host::paths::lock_holder(&config.db_path().join("db")),
                        },
                        bw_store::backend::SledOpenError::Store(e) => e.into(),
                    },
                )?,
            ),
        };
        // One server per borg home, whatever its data folder (after the store's own lock, which
        // names a server on the same data folder first), or the servers of one database.
        let shared = backend.shared_by_servers();
        let home_lock =
            bw_host::home_lock::lock(&config.home(), &config.server.data_dir, shared).map_err(|e| match e {
                bw_host::home_lock::HomeLockError::Held { data_dir, pid } => {
                    OpenError::HomeInUse { home: config.home(), data_dir, pid }
                }
                bw_host::home_lock::HomeLockError::Io(path, e) => StoreError::io(path, e).into(),
            })?;
        let data_dir = config.server.data_dir.clone();
        let state = Self::with_backend(config, clock, backend, home_lock)?;
        bw_store::format::record(&data_dir, crate::build_info::VERSION)?;
        state.follow_other_servers();
        Ok(state)
    }

    /// With a database other servers share, what they change reaches this one: the backend
    /// tells which table (and key) changed elsewhere, and a thread of its own takes it in
    /// (blocking work, never on the server's tasks), once for a burst: the records named read
    /// again ([`bw_store::repo_store::RepoStore::take_in`]), what the lease holder writes
    /// read again. The cached lists and the live events follow the index's new generation. The
    /// embedded store has no other server: nothing is told, and the threads wait for nothing.
    fn follow_other_servers(&self) {
        let (tell, told) = std::sync::mpsc::channel::<bw_store::backend::Change>();
        // Bounded as the throttle's own queue: a flood of other servers' failures is read as
        // fast as the database answers, and what does not fit waits for the next count.
        let (tell_failure, failures) = std::sync::mpsc::sync_channel::<Vec<u8>>(10_000);
        self.db.on_changes_elsewhere(Arc::new(move |change: bw_store::backend::Change| {
            // A failed authentication counted by another server: its address, on a thread of
            // its own (one read each), never held up by a reload of the repositories.
            if change.table == bw_store::failed_attempts::TABLE {
                if let Some(key) = change.key {
                    let _ = tell_failure.try_send(key);
                }
                return;
            }
            let _ = tell.send(change);
        }));
        let state = Arc::downgrade(&self.0);
        let follow_failures = move || {
            while let Ok(key) = failures.recv() {
                let Some(inner) = state.upgrade() else { return };
                inner.throttle.told_elsewhere(&key);
            }
        };
        if let Err(e) = std::thread::Builder::new().name("bw-other-failures".into()).spawn(follow_failures) {
            tracing::error!(error = %e, "failed authentications counted by other servers will not be heard");
        }
        let state = Arc::downgrade(&self.0);
        let follow = move || {
            while let Ok(first) = told.recv() {
                let mut heard = vec![first];
                // A burst (a create is several tables) is taken in at once.
                std::thread::sleep(std::time::Duration::from_millis(20));
                heard.extend(told.try_iter());
                let Some(inner) = state.upgrade() else { return };
                if let Err(e) = inner.repos.take_in(&heard) {
                    tracing::error!(error = %e, "the repositories changed by another server were not read");
                }
                // What the server running the periodic work wrote: check figures, sessions taken
                // in, verify results, the alerts' marks and log.
                let changed = |table: &str| heard.iter().any(|c| c.table == "*" || c.table == table);
                let reloads: [(&str, &dyn Fn() -> StoreResult<()>); 5] = [
                    ("repo_checks", &|| inner.repos.reload_figures(&heard)),
                    ("last_session", &|| inner.sessions.reload()),
                    ("verify_results", &|| inner.verifies.reload()),
                    ("health_quota_marks", &|| inner.quota_marks.reload()),
                    ("alert_log", &|| {
                        inner.alert_log.reload();
                        Ok(())
                    }),
                ];
                for (table, reload) in reloads.into_iter().filter(|(t, _)| changed(t)) {
                    if let Err(e) = reload() {
                        tracing::error!(error = %e, table, "what another server wrote was not read");
                    }
                }
                if changed("verify_results") || changed("last_session") {
                    inner.repos.answers_changed();
                }
                // Tokens made or revoked elsewhere (their hash's entry: a token's record also
                // changes when its last use is noted) are told here as where they were
                // changed; a revoke, a sign-out, a new password or a removal there ends
                // streams here at once.
                if changed(bw_store::token_store::BY_HASH) {
                    inner.events.publish(crate::events::Event::new("token", None, inner.clock.now()));
                }
                if [
                    bw_store::token_store::TOKENS,
                    bw_store::token_store::BY_HASH,
                    bw_store::user_store::USERS,
                    bw_store::sign_ins::TABLE,
                ]
                .iter()
                .any(|t| changed(t))
                {
                    inner.events.credentials_changed();
                }
            }
        };
        if let Err(e) = std::thread::Builder::new().name("bw-other-servers".into()).spawn(follow) {
            tracing::error!(error = %e, "changes made by other servers will not be followed");
        }
    }

    fn with_backend(
        mut config: Config,
        clock: Clock,
        db: SharedBackend,
        home_lock: bw_host::home_lock::HomeLock,
    ) -> Result<Self, OpenError> {
        let home = bw_host::paths::absolute(&config.home());
        let recorder = session_recorder(&mut config, &home)?;
        let keys =
            AuthorizedKeys::new(home.join(".ssh").join("authorized_keys"), home.join("repos")).with_recorder(recorder);
        let key_dir = config.ssh.key_lookup_dir.as_deref().map(|d| KeyDir::new(bw_host::paths::absolute(d)));
        let sink = match config.ssh.key_mode {
            KeyMode::File => KeySink::File { stale_dir: key_dir },
            KeyMode::Command => KeySink::Command(key_dir.ok_or(OpenError::NoKeyLookupDir)?),
        };
        let data_dir = &config.server.data_dir;
        let repos = RepoStore::open(&db, keys, sink, Pool::new(home.join("repos")), data_dir, clock.clone())?;
        let tokens = TokenStore::open(&db)?;
        let users = UserStore::open(&db)?;
        let tenants = bw_store::tenant_store::TenantStore::open(&db)?;
        let page_settings = bw_store::page_settings::PageSettings::open(&db)?;
        let audit = bw_store::audit_log::AuditLog::open(&db)?;
        let sessions = SessionStore::open(&db)?;
        let history = HistoryStore::open(&db, &config.server.data_dir.join("history"))?;
        let quota_marks = QuotaMarks::open(&db)?;
        let verifies = VerifyResults::open(&db)?;
        let alert_log = bw_store::alert_log::AlertLog::open(&db)?;
        let throttle = Throttle::default();
        if db.shared_by_servers() {
            throttle
                .share(bw_store::failed_attempts::FailedAttempts::open(&db)?)
                .map_err(|e| StoreError::io("the shared throttle's thread", e))?;
        }
        Ok(AppState(Arc::new(Inner {
            urls: config.ssh.repo_urls(),
            config,
            clock,
            db,
            repos,
            tokens,
            users,
            tenants,
            page_settings,
            audit,
            first_run: Default::default(),
            sessions,
            history,
            history_folding: Default::default(),
            quota_marks,
            verifies,
            alert_log,
            health_events: Mutex::new(Vec::new()),
            throttle,
            lists: Default::default(),
            events: Default::default(),
            scanner: Arc::new(FsScanner),
            telemetry: Default::default(),
            run_locks: Mutex::new(HashMap::new()),
            _home_lock: home_lock,
        })))
    }

    /// The same state reading repository folders through `scanner` (tests: a stand-in for a
    /// hung mount). Call before the state is shared.
    pub fn with_scanner(self, scanner: Arc<dyn RepoScanner>) -> Self {
        let mut inner = Arc::try_unwrap(self.0).unwrap_or_else(|_| panic!("with_scanner on a shared state"));
        inner.scanner = scanner;
        AppState(Arc::new(inner))
    }

    /// Starts the one run of the task `name` that may happen at a time (its route and the
    /// scheduler share it); while one runs, the contract's 409 with `busy` as message.
    pub fn start_run(
        &self,
        name: &'static str,
        busy: &'static str,
    ) -> crate::error::ApiResult<tokio::sync::OwnedMutexGuard<()>> {
        let lock = self.run_locks.lock().unwrap_or_else(|p| p.into_inner()).entry(name).or_default().clone();
        lock.try_lock_owned().map_err(|_| crate::error::ApiError::AlreadyRunning(busy))
    }

    /// Reads every repository's folder with `work` ([`folder_scan::scan_all`]), with this
    /// state's reader and the configured timeout.
    pub async fn scan_all<T: Send + 'static>(
        &self,
        work: fn(&dyn RepoScanner, &std::path::Path) -> std::io::Result<T>,
    ) -> Vec<(ScanTarget, Result<T, ScanFailure>)> {
        let targets =
            self.repos.scan_targets().into_iter().map(|(id, repository_name)| ScanTarget { id, repository_name });
        let timeout = self.config.checks.scan_timeout;
        folder_scan::scan_all(targets.collect(), self.repos.pool(), self.scanner.clone(), timeout, work).await
    }

    fn stores(&self) -> bw_store::snapshot::Stores<'_> {
        bw_store::snapshot::Stores {
            repos: &self.repos,
            tokens: &self.tokens,
            users: &self.users,
            history: &self.history,
            tenants: &self.tenants,
            page_settings: &self.page_settings,
        }
    }

    /// A snapshot of the store ([`bw_store::snapshot`]), taken now. Blocking.
    pub fn export_snapshot(&self) -> StoreResult<bw_store::snapshot::Snapshot> {
        self.stores().export_snapshot(self.clock.now(), crate::build_info::VERSION)
    }

    /// Brings a snapshot back into this empty store and makes the key lines match. Blocking.
    pub fn restore_snapshot(
        &self,
        snapshot: bw_store::snapshot::Snapshot,
    ) -> StoreResult<bw_store::snapshot::RestoreReport> {
        self.stores().restore_snapshot(snapshot)
    }

    /// The list answer of `kind` at `now` ([`crate::list_answer::ListAnswers::answer`]), spilled
    /// into the data folder when large. Blocking.
    pub fn list_answer(
        &self,
        now: i64,
        kind: crate::list_answer::ListKind,
        write_repo: crate::list_answer::WriteRepo,
    ) -> StoreResult<crate::list_answer::ListAnswer> {
        self.lists.answer(&self.repos, now, kind, write_repo, &self.config.server.data_dir)
    }

    /// True when the store answers reads and writes.
    pub fn healthy(&self) -> bool {
        self.db.healthy()
    }

    /// Whether this server runs the periodic work now: always on the embedded store; with
    /// several servers on one database, the one that holds the lease.
    pub fn leads(&self) -> bool {
        self.db.leads()
    }

    /// The database's pool and notifications (PostgreSQL); `None` on the embedded store.
    pub fn database_stats(&self) -> Option<bw_store::backend::DatabaseStats> {
        self.db.database_stats()
    }

    /// What the store is: `embedded`, `memory` or `postgresql`.
    pub fn store_kind(&self) -> &'static str {
        self.db.kind()
    }

    /// Writes everything the store holds to disk (shutdown, tests).
    pub async fn flush(&self) -> StoreResult<()> {
        self.db.flush_async().await
    }
}
