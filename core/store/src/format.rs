//! The data folder's format: `DATA_DIR/FORMAT` says which store format the folder holds and
//! which release wrote it, so that an older release refuses a newer folder with the way back
//! instead of reading it as corrupt (and rewriting every client's line in a form it cannot
//! serve). The Debian package's `preinst` reads the same file before it unpacks.
//!
//! Bump [`STORE_FORMAT`] whenever a release writes the store, the data folder's files or the
//! key lines in a form the previous release cannot read, and the release's minor version with it
//! (CHANGELOG.md says what each format changed).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::store_error::StoreError;

/// Why a data folder is not opened: a start-up refusal, never a request's.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error(
        "{} does not say which store format the data folder holds (a line `format N`); it is written by \
         borgwarehouse and not meant to be edited",
        file.display()
    )]
    Unreadable { file: PathBuf },
    #[error(
        "the data folder {dir} holds store format {found}, written by borgwarehouse {by}; this is \
         borgwarehouse {this_release}, which reads format {STORE_FORMAT} or older, and nothing was changed. \
         Install borgwarehouse {by} or newer again; or, to go back to {this_release}, restore a snapshot made \
         with `borgwarehouse export` before the upgrade into an empty data folder (`borgwarehouse restore \
         FILE`)",
        dir = dir.display()
    )]
    Newer { dir: PathBuf, found: u32, by: String, this_release: String },
    #[error(transparent)]
    Io(#[from] StoreError),
}

/// The store format this release reads and writes.
/// - 1: release 0.1.0 (no `FORMAT` file).
/// - 2: release 0.2.0: keys of their own in repository records, sessions (key lines that run
///   `borgwarehouse session`), the history, verify results, sign-ins and the alert log.
/// - 3: release 0.3.0: users with roles (the administrator account becomes the first admin),
///   sign-ins that name their user, tenants on repository records (record form V4), tokens
///   with an owner and a scope, tenants' quotas.
pub const STORE_FORMAT: u32 = 3;

const FILE: &str = "FORMAT";

/// What a data folder's `FORMAT` file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub format: u32,
    /// The release that wrote it.
    pub written_by: String,
}

fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE)
}

/// The folder's format, or `None` when it has no `FORMAT` file (new, or made by 0.1.0).
pub fn recorded(data_dir: &Path) -> Result<Option<Recorded>, FormatError> {
    let file = path(data_dir);
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io(&file, e).into()),
    };
    let field = |name: &str| text.lines().find_map(|l| l.strip_prefix(name)).map(str::trim);
    let format = field("format ").and_then(|v| v.parse().ok()).ok_or(FormatError::Unreadable { file })?;
    Ok(Some(Recorded { format, written_by: field("written-by ").unwrap_or("an unknown release").to_string() }))
}

/// Refuses a data folder of a newer format than this release (`this_release`) reads, saying
/// both versions and the ways back.
pub fn check(data_dir: &Path, this_release: &str) -> Result<(), FormatError> {
    match recorded(data_dir)? {
        Some(found) if found.format > STORE_FORMAT => Err(FormatError::Newer {
            dir: data_dir.to_path_buf(),
            found: found.format,
            by: found.written_by,
            this_release: this_release.to_string(),
        }),
        _ => Ok(()),
    }
}

/// Records that the folder now holds this release's format (a new name, renamed over the old:
/// a reader sees one whole file). Called once the store has been opened and brought to it.
pub fn record(data_dir: &Path, this_release: &str) -> Result<(), FormatError> {
    let current = Recorded { format: STORE_FORMAT, written_by: this_release.to_string() };
    if recorded(data_dir)?.as_ref() == Some(&current) {
        return Ok(());
    }
    let file = path(data_dir);
    let tmp = data_dir.join(format!(".{FILE}.tmp"));
    let text = format!(
        "# Written by borgwarehouse; read by it and by its package before an install. Do not edit.\nformat \
         {STORE_FORMAT}\nwritten-by {this_release}\n"
    );
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &file)?;
        std::fs::File::open(data_dir)?.sync_all()
    };
    write().map_err(|e| StoreError::io(&file, e).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_folder_is_refused_with_both_versions_and_the_way_back() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(recorded(dir.path()).unwrap(), None, "a new folder has no format yet");
        check(dir.path(), "0.2.0").expect("a new folder is fine");
        record(dir.path(), "0.2.0").unwrap();
        assert_eq!(recorded(dir.path()).unwrap(), Some(Recorded { format: STORE_FORMAT, written_by: "0.2.0".into() }));
        check(dir.path(), "0.2.0").expect("its own format");

        std::fs::write(dir.path().join(FILE), format!("format {}\nwritten-by 9.1.0\n", STORE_FORMAT + 1)).unwrap();
        let refused = check(dir.path(), "0.2.0").unwrap_err().to_string();
        for said in [
            &format!("holds store format {}, written by borgwarehouse 9.1.0", STORE_FORMAT + 1)[..],
            "this is borgwarehouse 0.2.0, which reads format 3 or older",
            "Install borgwarehouse 9.1.0 or newer again",
            "borgwarehouse restore FILE",
        ] {
            assert!(refused.contains(said), "{said:?} is missing from: {refused}");
        }

        std::fs::write(dir.path().join(FILE), "hello\n").unwrap();
        assert!(check(dir.path(), "0.2.0").unwrap_err().to_string().contains("does not say which store format"));
    }
}
