//! The files of `borgwarehouse export` and `restore`: the snapshot written whole or not at all
//! (temporary file, fsync, rename) and readable by its owner only, since it holds the token and
//! password hashes; and the restore, run with the server stopped.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use bw_api::config::Config;
use bw_api::AppState;
use bw_store::clock::Clock;
use bw_store::snapshot::Snapshot;
use bw_store::store_error::StoreError;

/// Writes `json` to `path` (`-`: standard output) atomically, mode 0600.
pub fn write(path: &Path, json: &str) -> std::io::Result<()> {
    if path.as_os_str() == "-" {
        let mut out = std::io::stdout().lock();
        out.write_all(json.as_bytes())?;
        return out.write_all(b"\n");
    }
    use std::os::unix::fs::OpenOptionsExt;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| std::io::Error::other("not a file name"))?;
    let tmp = dir.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        f.write_all(json.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `borgwarehouse restore FILE`.
pub fn restore(config: &Config, file: &Path) -> ExitCode {
    let fail = |message: String| {
        eprintln!("borgwarehouse: {message}");
        ExitCode::FAILURE
    };
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => return fail(format!("{}: {e}", file.display())),
    };
    let snapshot: Snapshot = match serde_json::from_str(&text) {
        Ok(s) => s,
        Err(e) => return fail(format!("{}: not a snapshot made by `borgwarehouse export`: {e}", file.display())),
    };
    let socket = crate::control::socket_path(&config.server.data_dir);
    if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
        return fail(format!(
            "a server is running on {}; stop it, and restore into an empty data folder",
            config.server.data_dir.display()
        ));
    }
    let state = match AppState::open(config.clone(), Clock::system()) {
        Ok(s) => s,
        Err(e) => return fail(format!("opening the store in {}: {e}", config.server.data_dir.display())),
    };
    match state.restore_snapshot(snapshot) {
        Ok(report) => {
            println!(
                "restored {} {}, {} {}, {} {} into the store in {}; the borg home {}: {} key lines added or fixed",
                report.repositories,
                if report.repositories == 1 { "repository" } else { "repositories" },
                report.tokens,
                if report.tokens == 1 { "token" } else { "tokens" },
                report.users,
                if report.users == 1 { "user" } else { "users" },
                config.server.data_dir.display(),
                config.home().display(),
                report.key_lines_fixed
            );
            ExitCode::SUCCESS
        }
        Err(e @ StoreError::NotEmpty) => {
            fail(format!("restore refused, nothing restored: {e}. {}", move_aside_advice(&config.server.data_dir)))
        }
        Err(e @ StoreError::Snapshot(_)) => fail(format!("restore refused, nothing restored: {e}")),
        Err(e) => fail(format!(
            "restore failed: {e}; empty the data folder {} before trying again",
            config.server.data_dir.display()
        )),
    }
}

/// How to move a used data folder aside for a restore, in commands that work as written: this
/// user makes the new folder when it may write beside the old one (`./data`); otherwise (the
/// package's `/var/lib/borgwarehouse`, in a folder of root's) root moves it and makes the new
/// one for this user, who then restores.
fn move_aside_advice(data_dir: &Path) -> String {
    let data = bw_host::paths::absolute(data_dir);
    let parent = data.parent().unwrap_or(Path::new("/"));
    let moved = format!("{}.before-restore", data.display());
    if bw_host::paths::can_write_in(parent) {
        return format!(
            "With the server stopped, move the data folder aside (`mv {} {moved}`) and run restore again",
            data.display()
        );
    }
    let me = bw_host::users::effective_uid().map(bw_host::users::user_name).unwrap_or_else(|_| "this user".into());
    format!(
        "With the server stopped, move the data folder aside and make an empty one as root (`mv {d} {moved} && \
         install -d -o {me} -g $(id -gn {me}) -m 0700 {d}`), then run restore again as {me}",
        d = data.display()
    )
}
