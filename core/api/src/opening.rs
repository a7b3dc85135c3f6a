//! Opening a server's state, and every reason it is refused at start-up ([`OpenError`]): the
//! folders' owners, a home that is missing or a file, the store or the home held by another
//! server, a newer store format, command key mode without its folder, sessions that cannot run.
//! A refusal here changes nothing, and says what to do.

use std::path::PathBuf;

use bw_host::authorized_keys::Recorder;
use bw_store::format::FormatError;
use bw_store::store_error::StoreError;

use crate::config::{Config, Sessions};

/// Why the state was not opened. Each says what to do; none is a request's fault.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "another borgwarehouse server{} is using the data folder {}; stop it first (`systemctl stop \
         borgwarehouse`), or give this one another BW_DATA_DIR (`data_dir`). Commands such as `token create` \
         reach a running server through its control socket instead",
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
        data_dir.display()
    )]
    StoreInUse { data_dir: PathBuf, pid: Option<u32> },
    #[error(
        "another borgwarehouse server{} is using the borg home {}, with the data folder {}; two servers over \
         one home would each take the other's key lines for their own. Stop it first, or give this one \
         the data folder it uses",
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
        home.display(),
        if data_dir.is_empty() { "(unknown)" } else { data_dir }
    )]
    HomeInUse { home: PathBuf, data_dir: String, pid: Option<u32> },
    #[error("command key mode needs key_lookup_dir")]
    NoKeyLookupDir,
    /// Sessions asked for (`BW_SESSIONS=true`) and the recorder cannot run: why.
    #[error("{0}")]
    Sessions(String),
    #[error(
        "{what}: files written there would be {me}'s and lock the clients out. {fix}, check the path, or set \
         BW_HOME_OWNER_CHECK=false if this is intended"
    )]
    WrongOwner { what: String, me: String, fix: String },
    #[error("BW_HOME {} is a file, not a folder", home.display())]
    HomeIsAFile { home: PathBuf },
    #[error(
        "BW_HOME {} does not exist, and this user cannot make it in {} ({cause}); check the path (BW_HOME, \
         `home`), or make the folder for the borg user: `install -d -o {me} -m 0700 {}`",
        home.display(),
        parent.display(),
        home.display()
    )]
    HomeNotMade { home: PathBuf, parent: PathBuf, cause: std::io::Error, me: String },
    /// BW_DATABASE_URL's database did not open: why (unreachable, a newer schema…).
    #[error("{0}")]
    Database(String),
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The recorder the lines run `borg serve` under, if any, and the spool made ready for it;
/// settles [`Sessions::Auto`] into on or off. The borg user (the home's owner) must be able to
/// run the program, or every client would be locked out at its next login: asked for
/// (`BW_SESSIONS=true`), that refuses the start; left unset, sessions stay off with a warning.
pub(crate) fn session_recorder(config: &mut Config, home: &std::path::Path) -> Result<Option<Recorder>, OpenError> {
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
        (Err(why), Sessions::On) => return Err(OpenError::Sessions(why)),
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

/// Started as root by mistake, the server would create `.ssh`, `authorized_keys` and the pool
/// as root, and lock every client out; or it would open another user's store. So the home and
/// the data folder must belong to the server's user (unless `BW_HOME_OWNER_CHECK=false`). One
/// that does not exist yet is checked where it would be made: inside a folder of that user, or
/// a system folder of root's.
pub(crate) fn check_owners(config: &Config) -> Result<(), OpenError> {
    if !config.server.home_owner_check {
        return Ok(());
    }
    let me = bw_host::users::effective_uid().map_err(|e| StoreError::io("/proc/self", e))?;
    check_owned_by(me, "BW_HOME", &config.home())?;
    check_owned_by(me, "BW_DATA_DIR", &config.server.data_dir)
}

fn check_owned_by(me: u32, setting: &str, path: &std::path::Path) -> Result<(), OpenError> {
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
    Err(OpenError::WrongOwner { what, me: me_name, fix })
}
/// The borg user's home, made at the first start when it is missing, and said so: a mistyped
/// `BW_HOME` would otherwise quietly become an empty home that no client's key is in.
pub(crate) fn create_home_if_missing(home: &std::path::Path) -> Result<(), OpenError> {
    let home = bw_host::paths::absolute(home);
    match std::fs::metadata(&home) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => return Err(OpenError::HomeIsAFile { home }),
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {}
        Err(e) => return Err(StoreError::io(&home, e).into()),
    }
    if let Err(e) = bw_host::paths::ensure_private_dir(&home) {
        let parent = home.parent().unwrap_or(&home);
        let me = bw_host::users::effective_uid().map(bw_host::users::user_name).unwrap_or_else(|_| "BORG_USER".into());
        return Err(OpenError::HomeNotMade { parent: parent.to_path_buf(), home, cause: e, me });
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
    use crate::state::AppState;
    use bw_store::clock::Clock;

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
