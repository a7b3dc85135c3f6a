//! Where the repositories' key lines go: the borg user's `authorized_keys` (file key mode) or
//! the key folder sshd's `AuthorizedKeysCommand` reads (command key mode). A mutation hands
//! its [`KeyChange`] to [`KeySink::apply`], which writes only what changed.

use std::io;

use bw_host::authorized_keys::{AuthorizedKeys, KeyChange, RepoLine, SyncReport};
use bw_host::key_lookup::KeyDir;

/// The key mode chosen by configuration, with what it writes.
#[derive(Debug, Clone)]
pub enum KeySink {
    /// Lines in `authorized_keys`. A key folder left from command mode (`stale_dir`) is cleared
    /// at start-up, so it cannot keep granting logins.
    File { stale_dir: Option<KeyDir> },
    /// Files in the key folder; `authorized_keys` keeps only lines this server did not write.
    Command(KeyDir),
}

impl KeySink {
    pub fn is_command(&self) -> bool {
        matches!(self, KeySink::Command(_))
    }

    /// The key folder, in either mode (in file mode, one left from command mode).
    pub fn key_dir(&self) -> Option<&KeyDir> {
        match self {
            KeySink::File { stale_dir } => stale_dir.as_ref(),
            KeySink::Command(dir) => Some(dir),
        }
    }

    /// Applies one mutation's change. In command mode that is one or two files; in file mode
    /// [`AuthorizedKeys::apply`] appends or rewrites a bounded part when it can. `Ok(false)`:
    /// not applied, the file must be rewritten whole from every line.
    pub fn apply(&self, keys: &AuthorizedKeys, change: &KeyChange) -> io::Result<bool> {
        match self {
            KeySink::File { .. } => keys.apply(change),
            KeySink::Command(dir) => {
                let put = |line: &RepoLine| {
                    if line.archived {
                        dir.remove(&line.key)
                    } else {
                        dir.put(&line.key, &keys.render(line))
                    }
                };
                match change {
                    KeyChange::Added(lines) => lines.iter().try_for_each(put)?,
                    KeyChange::Removed(lines) => lines.iter().try_for_each(|l| dir.remove(&l.key))?,
                    // Revoke first: a new key is granted only after the old ones are gone.
                    KeyChange::Replaced { old: before, new: after } | KeyChange::Batch { before, after } => {
                        let staying: std::collections::HashSet<&str> = after.iter().map(RepoLine::key_part).collect();
                        for old in before.iter().filter(|l| !staying.contains(l.key_part())) {
                            dir.remove(&old.key)?;
                        }
                        after.iter().try_for_each(put)?;
                    }
                }
                Ok(true)
            }
        }
    }

    /// Start-up after a clean stop in command mode, the key folder unchanged since: only
    /// `authorized_keys` is checked for lines of ours.
    pub fn sync_trusting_key_dir(&self, keys: &AuthorizedKeys) -> io::Result<SyncReport> {
        if let KeySink::Command(dir) = self {
            make_readable_by_lookup(dir)?;
        }
        let moved = keys.sync(&[])?;
        if !moved.removed.is_empty() {
            tracing::info!(
                lines = moved.removed.len(),
                "command key mode: removed this server's lines from authorized_keys"
            );
        }
        Ok(SyncReport { written: moved.written, ..SyncReport::default() })
    }

    /// Start-up: makes the sink say exactly `lines`. In command mode the key folder gets one
    /// file per active line and `authorized_keys` loses this server's lines; in file mode the
    /// file gets them and a stale key folder is emptied.
    pub fn sync(&self, keys: &AuthorizedKeys, lines: &[RepoLine]) -> io::Result<SyncReport> {
        match self {
            KeySink::File { stale_dir } => {
                let report = keys.sync(lines)?;
                if let Some(dir) = stale_dir {
                    let cleared = dir.clear()?;
                    if cleared > 0 {
                        tracing::warn!(
                            folder = %dir.root().display(),
                            lines = cleared,
                            "file key mode: emptied the key folder left from command mode"
                        );
                    }
                }
                Ok(report)
            }
            KeySink::Command(dir) => {
                make_readable_by_lookup(dir)?;
                // The key folder first, then authorized_keys: during a switch to command mode
                // every key stands in one of the two at every moment (sshd reads the file, then
                // asks the lookup), so no login is refused; the other order left a window, of
                // seconds at 100,000 repositories, where neither had it.
                let active = lines.iter().filter(|l| !l.archived).map(|l| (l.key.as_str(), keys.render(l)));
                let report = dir.sync(active)?;
                let moved = keys.sync(&[])?;
                if !moved.removed.is_empty() {
                    tracing::info!(
                        lines = moved.removed.len(),
                        "command key mode: removed this server's lines from authorized_keys (the key folder serves them)"
                    );
                }
                let changed = report.written + report.removed > 0;
                if changed {
                    tracing::warn!(
                        written = report.written,
                        removed = report.removed,
                        "key folder: brought back in line with the store"
                    );
                }
                Ok(SyncReport { written: changed, ..SyncReport::default() })
            }
        }
    }
}

/// The key folder's modes, repaired at every start, and the folders above it that would still
/// keep sshd's lookup user out (the server does not own those, so it only says so).
fn make_readable_by_lookup(dir: &KeyDir) -> io::Result<()> {
    let repaired = dir.repair_modes()?;
    if !repaired.is_empty() {
        tracing::warn!(
            folder = %dir.root().display(),
            repaired = repaired.len(),
            first = %repaired[0].display(),
            "key folder: modes repaired (folders 0755, files 0644) so that sshd's lookup user can read them"
        );
    }
    for (parent, mode) in dir.closed_parents() {
        tracing::error!(
            folder = %parent.display(),
            mode = format!("{mode:04o}"),
            "key folder: this folder above it lets no other user through, so sshd's lookup user can read no key \
             and every client is refused; allow it with `chmod o+x {}`",
            parent.display()
        );
    }
    Ok(())
}
