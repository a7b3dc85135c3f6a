use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

use bw_host::authorized_keys::{AuthorizedKeys, Recorder};
use bw_host::folder_scan::{self, FsScanner, RepoScanner, ScanFailure, ScanTarget};
use bw_host::key_lookup::KeyDir;
use bw_host::pool::Pool;
use bw_host::ssh_url::RepoUrls;
use bw_store::admin::AdminStore;
use bw_store::clock::Clock;
use bw_store::health_marks::QuotaMarks;
use bw_store::history::HistoryStore;
use bw_store::repo_store::{KeySink, RepoStore};
use bw_store::session_store::SessionStore;
use bw_store::store_error::{StoreError, StoreResult};
use bw_store::token_store::TokenStore;
use bw_store::verify_results::VerifyResults;

use crate::config::{Config, KeyMode, Sessions};
use crate::throttle::Throttle;

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
    /// Opens the store under `config.server.data_dir` (creating it) and the borg user's files.
    pub fn open(config: Config, clock: Clock) -> StoreResult<Self> {
        check_owners(&config)?;
        // The store holds token hashes and the administrator's password hash: private folder.
        bw_host::paths::ensure_private_dir(&config.server.data_dir)
            .map_err(|e| StoreError::io(&config.server.data_dir, e))?;
        // A folder a newer release wrote is refused before anything in it is opened.
        bw_store::format::check(&config.server.data_dir, crate::build_info::VERSION)?;
        create_home_if_missing(&config.home())?;
        let db = sled::Config::new()
            .path(config.db_path())
            .cache_capacity(bw_store::memory::SLED_CACHE_BYTES)
            .open()
            .map_err(|e| match e {
            // sled says only "could not acquire lock on …: Os { code: 11, … }".
            sled::Error::Io(io) if io.to_string().starts_with("could not acquire lock") => {
                StoreError::Refused(in_use(&config.server.data_dir, &config.db_path().join("db")))
            }
            sled::Error::Io(io) => StoreError::io(config.db_path(), io),
            other => StoreError::Db(other),
        })?;
        // One server per borg home, whatever its data folder (after the store's own lock, which
        // names a server on the same data folder first).
        let home_lock = bw_host::home_lock::lock(&config.home(), &config.server.data_dir).map_err(|e| match e {
            bw_host::home_lock::HomeLockError::Held { data_dir, pid } => StoreError::Refused(format!(
                "another borgwarehouse server{} is using the borg home {}, with the data folder {}; two servers over \
                 one home would each take the other's key lines for their own. Stop it first, or give this one \
                 the data folder it uses",
                pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
                config.home().display(),
                if data_dir.is_empty() { "(unknown)".to_string() } else { data_dir },
            )),
            bw_host::home_lock::HomeLockError::Io(path, e) => StoreError::io(path, e),
        })?;
        let data_dir = config.server.data_dir.clone();
        let state = Self::with_db(config, clock, db, home_lock)?;
        bw_store::format::record(&data_dir, crate::build_info::VERSION)?;
        Ok(state)
    }

    fn with_db(
        mut config: Config,
        clock: Clock,
        db: sled::Db,
        home_lock: bw_host::home_lock::HomeLock,
    ) -> StoreResult<Self> {
        let home = bw_host::paths::absolute(&config.home());
        let recorder = session_recorder(&mut config, &home)?;
        let keys =
            AuthorizedKeys::new(home.join(".ssh").join("authorized_keys"), home.join("repos")).with_recorder(recorder);
        let key_dir = config.ssh.key_lookup_dir.as_deref().map(|d| KeyDir::new(bw_host::paths::absolute(d)));
        let sink = match config.ssh.key_mode {
            KeyMode::File => KeySink::File { stale_dir: key_dir },
            KeyMode::Command => KeySink::Command(
                key_dir.ok_or_else(|| StoreError::Refused("command key mode needs key_lookup_dir".into()))?,
            ),
        };
        let checks = config.server.data_dir.join("checks.bin");
        let repos = RepoStore::open(&db, keys, sink, Pool::new(home.join("repos")), checks, clock.clone())?;
        let tokens = TokenStore::open(&db)?;
        let admin = AdminStore::open(&db)?;
        let sessions = SessionStore::open(&db)?;
        let history = HistoryStore::open(&db, &config.server.data_dir.join("history"))?;
        let quota_marks = QuotaMarks::open(&db)?;
        let verifies = VerifyResults::open(&db)?;
        let alert_log = bw_store::alert_log::AlertLog::open(&db)?;
        Ok(AppState(Arc::new(Inner {
            urls: config.ssh.repo_urls(),
            config,
            clock,
            db,
            repos,
            tokens,
            admin,
            sessions,
            history,
            history_folding: Default::default(),
            quota_marks,
            verifies,
            alert_log,
            health_events: Mutex::new(Vec::new()),
            throttle: Throttle::default(),
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
            admin: &self.admin,
            history: &self.history,
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

/// The recorder the lines run `borg serve` under, if any, and the spool made ready for it;
/// settles [`Sessions::Auto`] into on or off. The borg user (the home's owner) must be able to
/// run the program, or every client would be locked out at its next login: asked for
/// (`BW_SESSIONS=true`), that refuses the start; left unset, sessions stay off with a warning.
fn session_recorder(config: &mut Config, home: &std::path::Path) -> StoreResult<Option<Recorder>> {
    use std::os::unix::fs::MetadataExt;
    let wanted = config.checks.sessions;
    if wanted == Sessions::Off {
        return Ok(None);
    }
    // The lines would name a command this program does not have: every login would fail.
    let built_in = crate::commands::command_plugins().is_ok_and(|c| c.iter().any(|c| c.name == "session"));
    let recorder = if built_in { config.recorder() } else { Err(NO_RECORDER.to_string()) };
    let recorder = recorder.and_then(|recorder| {
        let (uid, gid) = match std::fs::metadata(home) {
            Ok(m) => (m.uid(), m.gid()),
            Err(e) => return Err(format!("{}: {e}", home.display())),
        };
        bw_host::users::can_run(uid, gid, std::path::Path::new(&recorder.program))
            .map_err(|why| format!("BW_SESSION_PROGRAM (`session_program`): {why}"))?;
        Ok(recorder)
    });
    let recorder = match (recorder, wanted) {
        (Ok(recorder), _) => recorder,
        (Err(why), Sessions::On) => return Err(StoreError::Refused(why)),
        (Err(why), _) => {
            tracing::warn!(
                "sessions are off: {why}. The lines run plain `borg serve`, and the periodic checks alone follow \
                 the backups; fix that (or set BW_SESSIONS=false to say so) and restart"
            );
            config.checks.sessions = Sessions::Off;
            return Ok(None);
        }
    };
    let spool = config.session_spool();
    bw_host::paths::ensure_private_dir(&spool).map_err(|e| StoreError::io(&spool, e))?;
    config.checks.sessions = Sessions::On;
    Ok(Some(recorder))
}

const NO_RECORDER: &str = "this build has no `session` command (the cargo feature `sessions` is left out)";

/// The store is locked by another process: say which, and what to do.
fn in_use(data_dir: &std::path::Path, lock_file: &std::path::Path) -> String {
    let who = bw_host::paths::lock_holder(lock_file).map(|pid| format!(" (pid {pid})")).unwrap_or_default();
    format!(
        "another borgwarehouse server{who} is using the data folder {}; stop it first (`systemctl stop \
         borgwarehouse`), or give this one another BW_DATA_DIR (`data_dir`). Commands such as `token create` \
         reach a running server through its control socket instead",
        data_dir.display()
    )
}

/// Started as root by mistake, the server would create `.ssh`, `authorized_keys` and the pool
/// as root, and lock every client out; or it would open another user's store. So the home and
/// the data folder must belong to the server's user (unless `BW_HOME_OWNER_CHECK=false`). One
/// that does not exist yet is checked where it would be made: inside a folder of that user, or
/// a system folder of root's.
fn check_owners(config: &Config) -> StoreResult<()> {
    if !config.server.home_owner_check {
        return Ok(());
    }
    let me = bw_host::users::effective_uid().map_err(|e| StoreError::io("/proc/self", e))?;
    check_owned_by(me, "BW_HOME", &config.home())?;
    check_owned_by(me, "BW_DATA_DIR", &config.server.data_dir)
}

fn check_owned_by(me: u32, setting: &str, path: &std::path::Path) -> StoreResult<()> {
    use std::os::unix::fs::MetadataExt;
    let path = bw_host::paths::absolute(path);
    // The path itself, or the nearest folder above it that exists (where it would be made).
    let (existing, owner) = match path.ancestors().find_map(|p| std::fs::metadata(p).ok().map(|m| (p, m.uid()))) {
        Some(found) => found,
        None => return Ok(()),
    };
    let made_here = existing != path;
    if owner == me || (made_here && owner == 0) {
        return Ok(());
    }
    let (owner_name, me_name) = (bw_host::users::user_name(owner), bw_host::users::user_name(me));
    let what = if made_here {
        format!(
            "{setting} {} does not exist, and would be made as {me_name} (uid {me}) inside {}, which belongs to \
             {owner_name} (uid {owner})",
            path.display(),
            existing.display()
        )
    } else {
        format!(
            "{setting} {} belongs to {owner_name} (uid {owner}), but this runs as {me_name} (uid {me})",
            path.display()
        )
    };
    // Never advise running as root: a server run as root writes root's files into the borg
    // user's home. A folder of root's is given to this user instead.
    let fix = if owner == 0 {
        format!("Give it to {me_name} (as root: `chown -R {me_name}: {}`)", path.display())
    } else {
        format!("Run it as {owner_name} (`runuser -u {owner_name} -- borgwarehouse ...`)")
    };
    Err(StoreError::Refused(format!(
        "{what}: files written there would be {me_name}'s and lock the clients out. {fix}, check the path, or set \
         BW_HOME_OWNER_CHECK=false if this is intended"
    )))
}

/// The borg user's home, made at the first start when it is missing, and said so: a mistyped
/// `BW_HOME` would otherwise quietly become an empty home that no client's key is in.
fn create_home_if_missing(home: &std::path::Path) -> StoreResult<()> {
    let home = bw_host::paths::absolute(home);
    match std::fs::metadata(&home) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => return Err(StoreError::Refused(format!("BW_HOME {} is a file, not a folder", home.display()))),
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {}
        Err(e) => return Err(StoreError::io(&home, e)),
    }
    if let Err(e) = bw_host::paths::ensure_private_dir(&home) {
        let parent = home.parent().unwrap_or(&home);
        return Err(StoreError::Refused(format!(
            "BW_HOME {} does not exist, and this user cannot make it in {} ({e}); check the path (BW_HOME, \
             `home`), or make the folder for the borg user: `install -d -o {me} -m 0700 {}`",
            home.display(),
            parent.display(),
            home.display(),
            me = bw_host::users::effective_uid().map(bw_host::users::user_name).unwrap_or_else(|_| "BORG_USER".into()),
        )));
    }
    tracing::warn!(
        "BW_HOME {} did not exist: made it, empty (no authorized_keys, no pool yet). If the borg user's home is \
         elsewhere, stop the server and correct BW_HOME (`home`)",
        home.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A configuration with its data folder and `home` under `dir`, when this runs as root (CI
    /// does): the tests give folders to another user.
    fn as_root_in(dir: &std::path::Path, home: &str) -> Option<Config> {
        if bw_host::users::effective_uid().unwrap() != 0 {
            eprintln!("SKIPPED: needs root to give folders to another user");
            return None;
        }
        let mut config = Config::in_process(dir);
        config.server.home = Some(dir.join(home));
        Some(config)
    }

    #[test]
    fn a_folder_of_roots_is_to_be_given_to_the_server_never_run_as_root() {
        // A server running as uid 4242 over a home that root owns ("/" here).
        let refused = check_owned_by(4242, "BW_HOME", std::path::Path::new("/")).unwrap_err().to_string();
        assert!(refused.contains("(as root: `chown -R "), "{refused}");
        assert!(!refused.contains("Run it as root") && !refused.contains("runuser -u root"), "{refused}");
    }

    #[test]
    fn a_home_owned_by_another_user_is_refused_unless_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let Some(mut config) = as_root_in(dir.path(), "home") else { return };
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

    /// The mistake seen: as root, a mistyped home that does not exist, over the data folder of
    /// the borg user. Neither is touched; a home inside another user's folder is refused too.
    #[test]
    fn a_missing_home_is_checked_where_it_would_be_made_and_the_data_folder_like_the_home() {
        let dir = tempfile::tempdir().unwrap();
        let Some(mut config) = as_root_in(dir.path(), "nothere") else { return };
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        std::os::unix::fs::chown(dir.path().join("data"), Some(65534), Some(65534)).unwrap();
        let err = AppState::open(config.clone(), Clock::system()).err().expect("opened another user's store");
        let err = err.to_string();
        assert!(err.contains("BW_DATA_DIR") && err.contains("uid 65534"), "{err}");
        assert!(!dir.path().join("nothere").exists(), "the refusal made the home");

        std::os::unix::fs::chown(dir.path().join("data"), Some(0), Some(0)).unwrap();
        std::fs::create_dir(dir.path().join("theirs")).unwrap();
        std::os::unix::fs::chown(dir.path().join("theirs"), Some(65534), Some(65534)).unwrap();
        config.server.home = Some(dir.path().join("theirs/home"));
        let err = AppState::open(config.clone(), Clock::system()).err().expect("made a home in another user's folder");
        let err = err.to_string();
        assert!(err.contains("does not exist, and would be made") && err.contains("uid 65534"), "{err}");
        assert!(!dir.path().join("theirs/home").exists());
    }

    #[test]
    fn a_home_that_cannot_be_made_is_said_not_to_exist() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file"), "x").unwrap();
        let mut config = Config::default();
        config.server.data_dir = dir.path().join("data");
        // A parent that is a file cannot hold the home, whoever runs this.
        config.server.home = Some(dir.path().join("file/home"));
        let err = AppState::open(config, Clock::system()).err().expect("made an impossible home").to_string();
        assert!(err.contains("does not exist, and this user cannot make it") && err.contains("install -d"), "{err}");
    }
}
