use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

use crate::admin::AdminStore;
use crate::auth::Throttle;
use crate::authorized_keys::AuthorizedKeys;
use crate::clock::Clock;
use crate::config::{Config, KeyMode};
use crate::key_lookup::KeyDir;
use crate::pool::Pool;
use crate::repo_store::{KeySink, RepoStore};
use crate::scan::{FsScanner, RepoScanner};
use crate::store_error::{StoreError, StoreResult};
use crate::token_store::TokenStore;

/// Everything a handler or a task needs; cheap to clone, reaches handlers through poem `Data`.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub clock: Clock,
    db: sled::Db,
    pub repos: RepoStore,
    pub tokens: TokenStore,
    pub admin: AdminStore,
    pub throttle: Throttle,
    pub scanner: Arc<dyn RepoScanner>,
    /// What the server counts about itself, for the metrics plugin.
    pub telemetry: crate::telemetry::Telemetry,
    run_locks: Mutex<HashMap<&'static str, Arc<tokio::sync::Mutex<()>>>>,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Opens the store under `config.server.data_dir` (creating it) and the borg user's files.
    pub fn open(config: Config, clock: Clock) -> StoreResult<Self> {
        check_home_owner(&config)?;
        // The store holds token hashes and the administrator's password hash: private folder.
        crate::authorized_keys::ensure_private_dir(&config.server.data_dir)
            .map_err(|e| StoreError::io(&config.server.data_dir, e))?;
        // sled's page cache defaults to 1 GiB; the server keeps its own copy of what it serves
        // and reads little from the store after start-up (tokens), so a small cache is enough.
        let db =
            sled::Config::new().path(config.db_path()).cache_capacity(1024 * 1024).open().map_err(|e| match e {
                sled::Error::Io(io) => StoreError::io(config.db_path(), io),
                other => StoreError::Db(other),
            })?;
        Self::with_db(config, clock, db)
    }

    fn with_db(config: Config, clock: Clock, db: sled::Db) -> StoreResult<Self> {
        let home = crate::paths::absolute(&config.home());
        let keys = AuthorizedKeys::new(home.join(".ssh").join("authorized_keys"), home.join("repos"));
        let key_dir = config.ssh.key_lookup_dir.as_deref().map(|d| KeyDir::new(crate::paths::absolute(d)));
        let sink = match config.ssh.key_mode {
            KeyMode::File => KeySink::File { stale_dir: key_dir },
            KeyMode::Command => KeySink::Command(
                key_dir.ok_or_else(|| StoreError::Refused("command key mode needs key_lookup_dir".into()))?,
            ),
        };
        let checks = config.server.data_dir.join("checks.bin");
        let repos = RepoStore::open(&db, keys, sink, Pool::new(home.join("repos")), checks)?
            .with_urls(crate::ssh_url::RepoUrls::from_config(&config.ssh));
        let tokens = TokenStore::open(&db)?;
        let admin = AdminStore::open(&db)?;
        Ok(AppState(Arc::new(Inner {
            config,
            clock,
            db,
            repos,
            tokens,
            admin,
            throttle: Throttle::default(),
            scanner: Arc::new(FsScanner),
            telemetry: Default::default(),
            run_locks: Mutex::new(HashMap::new()),
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
    ) -> crate::ApiResult<tokio::sync::OwnedMutexGuard<()>> {
        let lock = self.run_locks.lock().unwrap_or_else(|p| p.into_inner()).entry(name).or_default().clone();
        lock.try_lock_owned().map_err(|_| crate::ApiError::AlreadyRunning(busy))
    }

    /// True when the store answers reads and writes.
    pub fn healthy(&self) -> bool {
        self.db.open_tree("health").and_then(|t| t.insert("probe", &[1u8]).map(|_| ())).is_ok()
    }

    /// Writes everything the store holds to disk (shutdown, tests).
    pub async fn flush(&self) -> StoreResult<()> {
        self.db.flush_async().await?;
        Ok(())
    }
}

/// Started as root by mistake, the server would create `.ssh`, `authorized_keys` and the pool
/// as root, and lock every client out. So an existing home must belong to the server's user
/// (unless `BW_HOME_OWNER_CHECK=false`); a missing one is created as that user.
fn check_home_owner(config: &Config) -> StoreResult<()> {
    use std::os::unix::fs::MetadataExt;
    if !config.server.home_owner_check {
        return Ok(());
    }
    let home = config.home();
    let owner = match std::fs::metadata(&home) {
        Ok(m) => m.uid(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::io(&home, e)),
    };
    let me = crate::users::effective_uid().map_err(|e| StoreError::io("/proc/self", e))?;
    if owner == me {
        return Ok(());
    }
    let (owner_name, me_name) = (crate::users::user_name(owner), crate::users::user_name(me));
    Err(StoreError::Refused(format!(
        "BW_HOME {} belongs to {owner_name} (uid {owner}), but this runs as {me_name} (uid {me}): files written \
         there would be {me_name}'s and lock the clients out. Run it as {owner_name} \
         (`runuser -u {owner_name} -- borgwarehouse ...`), or set BW_HOME_OWNER_CHECK=false if this is intended",
        home.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Needs root (CI runs as root): a home owned by another user.
    #[test]
    fn a_home_owned_by_another_user_is_refused_unless_allowed() {
        if crate::users::effective_uid().unwrap() != 0 {
            eprintln!("SKIPPED: needs root to give the home to another user");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.server.data_dir = dir.path().join("data");
        config.server.home = Some(dir.path().join("home"));
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        std::os::unix::fs::chown(dir.path().join("home"), Some(65534), Some(65534)).unwrap();
        let err =
            AppState::open(config.clone(), Clock::system()).err().expect("opened a home of another user").to_string();
        assert!(err.contains("uid 65534") && err.contains("uid 0") && err.contains("BW_HOME_OWNER_CHECK"), "{err}");
        assert!(!dir.path().join("data").exists(), "the refusal created the data folder");
        assert!(!dir.path().join("home/.ssh").exists(), "the refusal wrote into the home");
        config.server.home_owner_check = false;
        assert!(AppState::open(config, Clock::system()).is_ok());
    }
}
