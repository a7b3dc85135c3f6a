//! The key folder that sshd's `AuthorizedKeysCommand` reads (command key mode).
//!
//! One small file per active repository, named by the SHA-256 of the client key's blob, holding
//! the repository's restricted line: `DIR/ab/abcdef…` (256 shards, so no folder grows past a few
//! hundred entries per 100,000 keys). A mutation writes or removes one file, whatever the number
//! of repositories, and a login reads one file.
//!
//! Why files and not the store: the running server owns the sled store exclusively, and logins
//! must keep working while the server is stopped or restarting. Each file is written to a
//! temporary name, fsynced and renamed (then the shard folder is fsynced), so a reader sees the
//! old line or the new one, and a crash leaves no half line. Start-up compares the folder with
//! the store and repairs any difference (a crash between the store write and the file write).
//!
//! Archived and deleted repositories have no file, so the lookup never answers for them.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use sha2::{Digest, Sha256};

/// Marks a folder as ours: the lookup refuses a folder without it (a mistyped path answers
/// nothing rather than something), and the server never clears a folder without it.
pub const MARKER: &str = ".borgwarehouse-keys";
const MARKER_TEXT: &[u8] =
    b"Written by borgwarehouse: one file per active repository key, read by `borgwarehouse key-lookup`.\n";

/// Written at a clean stop in command mode, taken away at the next start (see
/// [`KeyDir::take_clean_stop`]).
const CLEAN_STOP: &str = ".clean-stop";

/// The file name of a key: hex SHA-256 of its decoded blob (the comment and base64 spelling
/// play no part, as for sshd).
pub fn key_file_name(blob: &[u8]) -> String {
    hex::encode(Sha256::digest(blob))
}

/// The decoded blob of `kind BASE64[ comment]`.
fn blob_of(key: &str) -> Option<Vec<u8>> {
    let b64 = key.split_whitespace().nth(1)?;
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// What a [`KeyDir::sync`] changed, for the reconcile log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DirSyncReport {
    pub written: usize,
    pub removed: usize,
}

/// The writer's side of the key folder.
#[derive(Debug, Clone)]
pub struct KeyDir {
    root: PathBuf,
}

impl KeyDir {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, name: &str) -> PathBuf {
        self.root.join(&name[..2]).join(name)
    }

    /// Creates the folder and its marker. Modes are set explicitly, never left to the umask: the
    /// lookup runs as another, unprivileged user, and the packaged unit's `UMask=0077` would
    /// make a created folder 0700 and lock every client out.
    pub fn ensure(&self) -> io::Result<()> {
        if !self.root.join(MARKER).is_file() {
            fs::DirBuilder::new().recursive(true).mode(FOLDER_MODE).create(&self.root)?;
            set_mode(&self.root, FOLDER_MODE)?;
            write_atomic(&self.root, MARKER, MARKER_TEXT)?;
        }
        Ok(())
    }

    /// Gives the folder, its marker and every shard folder the modes the lookup needs (start-up,
    /// even after a clean stop: a folder made under a umask by an older version, or a `chmod` by
    /// hand, would otherwise keep refusing every login). 257 `stat`s; returns what it changed.
    pub fn repair_modes(&self) -> io::Result<Vec<PathBuf>> {
        self.ensure()?;
        let mut repaired = Vec::new();
        let mut fix = |path: PathBuf, mode: u32| -> io::Result<()> {
            if fs::metadata(&path)?.permissions().mode() & 0o7777 != mode {
                set_mode(&path, mode)?;
                repaired.push(path);
            }
            Ok(())
        };
        fix(self.root.clone(), FOLDER_MODE)?;
        fix(self.root.join(MARKER), FILE_MODE)?;
        for shard in fs::read_dir(&self.root)? {
            let shard = shard?;
            if shard.file_type()?.is_dir() {
                fix(shard.path(), FOLDER_MODE)?;
            }
        }
        Ok(repaired)
    }

    /// The folders above the key folder that other users cannot pass through (no `o+x`): the
    /// lookup runs as another user, so each of them refuses every login. The server does not
    /// own them and changes nothing; start-up says which they are.
    pub fn closed_parents(&self) -> Vec<(PathBuf, u32)> {
        self.root
            .ancestors()
            .skip(1)
            .filter_map(|p| Some((p.to_path_buf(), fs::metadata(p).ok()?.permissions().mode() & 0o7777)))
            .filter(|(_, mode)| mode & 0o001 == 0)
            .collect()
    }

    /// Puts the line for `key` (`kind BASE64[ comment]`); `line` is the whole restricted line.
    pub fn put(&self, key: &str, line: &str) -> io::Result<()> {
        self.put_with(key, line, Durability::Each)
    }

    fn put_with(&self, key: &str, line: &str, durability: Durability) -> io::Result<()> {
        let blob = blob_of(key).ok_or_else(|| io::Error::other("key without a base64 part"))?;
        let name = key_file_name(&blob);
        let shard = self.root.join(&name[..2]);
        if !shard.is_dir() {
            self.ensure()?;
            fs::DirBuilder::new().recursive(true).mode(FOLDER_MODE).create(&shard)?;
            set_mode(&shard, FOLDER_MODE)?;
            if durability == Durability::Each {
                File::open(&self.root)?.sync_all()?;
            }
        }
        let mut content = Vec::with_capacity(line.len() + 1);
        content.extend_from_slice(line.as_bytes());
        content.push(b'\n');
        write_atomic_with(&shard, &name, &content, durability)
    }

    /// Removes the line for `key`; an absent file is not an error.
    pub fn remove(&self, key: &str) -> io::Result<()> {
        let blob = blob_of(key).ok_or_else(|| io::Error::other("key without a base64 part"))?;
        let name = key_file_name(&blob);
        let path = self.path_of(&name);
        match fs::remove_file(&path) {
            Ok(()) => File::open(path.parent().unwrap_or(&self.root))?.sync_all(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Makes the folder hold exactly `wanted` (`(key, line)` pairs): missing or different files
    /// are written, others removed. Reads every file once (start-up).
    pub fn sync<'a>(&self, wanted: impl Iterator<Item = (&'a str, String)>) -> io::Result<DirSyncReport> {
        self.ensure()?;
        let mut report = DirSyncReport::default();
        let mut keep: HashSet<String> = HashSet::new();
        let mut buf = Vec::new();
        for (key, line) in wanted {
            let Some(blob) = blob_of(key) else { continue };
            let name = key_file_name(&blob);
            buf.clear();
            let same = match File::open(self.path_of(&name)) {
                Ok(mut f) => {
                    f.read_to_end(&mut buf)?;
                    // A file the lookup's user cannot read is as good as missing.
                    let readable = f.metadata()?.permissions().mode() & 0o7777 == FILE_MODE;
                    readable && buf.strip_suffix(b"\n") == Some(line.as_bytes())
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => false,
                Err(e) => return Err(e),
            };
            if !same {
                self.put_with(key, &line, Durability::AtTheEnd)?;
                report.written += 1;
            }
            keep.insert(name);
        }
        for (path, name) in self.shard_files()? {
            // Temporary files of an interrupted write, and lines no repository wants.
            if !keep.contains(&name) {
                fs::remove_file(path)?;
                if !name.starts_with('.') {
                    report.removed += 1;
                }
            }
        }
        if report.written + report.removed > 0 {
            // One syncfs for every file written above: each was renamed into place whole, so
            // a crash before this leaves old lines or no line, which the next start repairs.
            let root = File::open(&self.root)?;
            rustix::fs::syncfs(&root)?;
        }
        Ok(report)
    }

    /// Every file in the shard folders (key files, and temporary files of an interrupted
    /// write, whose names start with a dot), with its name.
    fn shard_files(&self) -> io::Result<Vec<(PathBuf, String)>> {
        let mut files = Vec::new();
        for shard in fs::read_dir(&self.root)? {
            let shard = shard?;
            if shard.file_type()?.is_dir() {
                for entry in fs::read_dir(shard.path())? {
                    let entry = entry?;
                    files.push((entry.path(), entry.file_name().to_string_lossy().into_owned()));
                }
            }
        }
        Ok(files)
    }

    /// Every line in the folder (a first start over a kept key folder takes them in, as it
    /// takes in `authorized_keys`). A folder without the marker holds none of ours.
    pub fn lines(&self) -> io::Result<Vec<String>> {
        let mut lines = Vec::new();
        if !self.root.join(MARKER).is_file() {
            return Ok(lines);
        }
        for (path, name) in self.shard_files()? {
            if !name.starts_with('.') {
                lines.push(fs::read_to_string(path)?.trim_end_matches('\n').to_string());
            }
        }
        Ok(lines)
    }

    /// Marks a clean stop: the folder said exactly what the store said when the server stopped,
    /// and `token` (also kept in the store) names that moment.
    pub fn write_clean_stop(&self, token: u64) -> io::Result<()> {
        self.ensure()?;
        write_atomic(&self.root, CLEAN_STOP, format!("{token:016x}\n").as_bytes())
    }

    /// Takes the clean-stop mark away (whatever follows may change the folder) and returns its
    /// token.
    pub fn take_clean_stop(&self) -> io::Result<Option<u64>> {
        let path = self.root.join(CLEAN_STOP);
        let token = match fs::read_to_string(&path) {
            Ok(t) => u64::from_str_radix(t.trim(), 16).ok(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        fs::remove_file(&path)?;
        File::open(&self.root)?.sync_all()?;
        Ok(token)
    }

    /// Removes every line (file key mode: a folder left from command mode must not keep
    /// granting logins). Only a folder with the marker is touched.
    pub fn clear(&self) -> io::Result<usize> {
        if !self.root.join(MARKER).is_file() {
            return Ok(0);
        }
        self.sync(std::iter::empty()).map(|r| r.removed)
    }
}

/// Folders the lookup's user must list and pass through, and files it must read. Public keys
/// and forced commands only: nothing secret is in the folder.
const FOLDER_MODE: u32 = 0o755;
const FILE_MODE: u32 = 0o644;

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

/// When a write reaches the disk: before the call returns (a mutation), or with one syncfs after
/// many writes (start-up repair).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    Each,
    AtTheEnd,
}

fn write_atomic(dir: &Path, name: &str, content: &[u8]) -> io::Result<()> {
    write_atomic_with(dir, name, content, Durability::Each)
}

/// Writes `dir/name` through a temporary file, renamed into place (fsynced before the rename
/// and the folder after it, unless the caller syncs everything at the end).
fn write_atomic_with(dir: &Path, name: &str, content: &[u8], durability: Durability) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let each = durability == Durability::Each;
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create(true).truncate(true).mode(FILE_MODE).open(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
        f.write_all(content)?;
        if each {
            f.sync_all()?;
        }
        fs::rename(&tmp, dir.join(name))?;
        if each {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Why a lookup printed nothing (for sshd's log, through standard error).
#[derive(Debug, PartialEq, Eq)]
pub enum Miss {
    /// sshd asked for another user than the borg user.
    OtherUser,
    /// No repository has this key (or it is archived or deleted).
    UnknownKey,
}

/// sshd's `AuthorizedKeysCommand`: the line for the key sshd presents (`%t %k`) when `user`
/// (`%u`) is the borg user `expected_user`. Reads one file; never the store.
pub fn lookup(
    dir: &Path,
    expected_user: &str,
    user: &str,
    kind: &str,
    key_b64: &str,
) -> io::Result<Result<String, Miss>> {
    if user != expected_user {
        return Ok(Err(Miss::OtherUser));
    }
    match fs::metadata(dir.join(MARKER)) {
        Ok(m) if m.is_file() => {}
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => return Err(unreadable(dir, e)),
        _ => {
            return Err(io::Error::other(format!(
                "{} is not a key folder written by borgwarehouse (no {MARKER} in it); give \
                 `--dir` the server's BW_KEY_LOOKUP_DIR",
                dir.display()
            )))
        }
    }
    let Ok(blob) = base64::engine::general_purpose::STANDARD.decode(key_b64.trim()) else {
        return Ok(Err(Miss::UnknownKey));
    };
    let name = key_file_name(&blob);
    let path = dir.join(&name[..2]).join(&name);
    let line = match fs::read_to_string(&path) {
        Ok(l) => l,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Err(Miss::UnknownKey)),
        Err(e) => return Err(unreadable(&path, e)),
    };
    // The file names the key by its hash; the line must carry the very key sshd presented.
    let needle = format!(" {kind} {}", key_b64.trim());
    let line = line.trim_end_matches('\n');
    let carries = line.match_indices(&needle).any(|(i, _)| {
        let after = &line[i + needle.len()..];
        after.is_empty() || after.starts_with(' ')
    });
    if !carries || line.contains('\n') {
        return Ok(Err(Miss::UnknownKey));
    }
    Ok(Ok(line.to_string()))
}

/// sshd logs only what the lookup prints: name the path, the user it ran as and the fix.
fn unreadable(path: &Path, e: io::Error) -> io::Error {
    let who = rustix::process::geteuid().as_raw();
    io::Error::new(
        e.kind(),
        format!(
            "cannot read {} as uid {who}: {e}; the key folder and its shard folders must be mode 0755 and \
             its files 0644 (the server sets these at every start), and every folder above it must let \
             other users through (o+x)",
            path.display()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGLAbQvO4tD8Sw5B0mPxhrrmVttuMjUhl4k1yQmEQ4RF alice";
    const OTHER: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAnk3DBJfOjCzmUrjTOaLQrwo5vXTBsq3ndjwvXNXDyG bob";

    fn b64(key: &str) -> &str {
        key.split(' ').nth(1).unwrap()
    }

    #[test]
    fn a_put_line_is_found_by_its_key_and_only_for_the_borg_user() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = KeyDir::new(tmp.path().join("keys"));
        dir.put(KEY, &format!("command=\"x\",restrict {KEY}")).unwrap();
        let found = lookup(dir.root(), "borg", "borg", "ssh-ed25519", b64(KEY)).unwrap();
        assert_eq!(found, Ok(format!("command=\"x\",restrict {KEY}")));
        assert_eq!(lookup(dir.root(), "borg", "root", "ssh-ed25519", b64(KEY)).unwrap(), Err(Miss::OtherUser));
        assert_eq!(lookup(dir.root(), "borg", "borg", "ssh-ed25519", b64(OTHER)).unwrap(), Err(Miss::UnknownKey));
        // Another key type with the same base64 is not the key on the line.
        assert_eq!(lookup(dir.root(), "borg", "borg", "ssh-rsa", b64(KEY)).unwrap(), Err(Miss::UnknownKey));
        let mode = fs::metadata(dir.root().join(&key_file_name(&blob_of(KEY).unwrap())[..2])).unwrap();
        assert_eq!(mode.permissions().mode() & 0o777, 0o755);
    }

    #[test]
    fn a_removed_line_is_gone_and_sync_makes_the_folder_exactly_what_is_wanted() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = KeyDir::new(tmp.path().join("keys"));
        dir.put(KEY, "old line").unwrap();
        dir.put(OTHER, "stale").unwrap();
        dir.remove(OTHER).unwrap();
        dir.remove(OTHER).unwrap();
        assert_eq!(lookup(dir.root(), "b", "b", "ssh-ed25519", b64(OTHER)).unwrap(), Err(Miss::UnknownKey));
        dir.put(OTHER, "stale").unwrap();
        let report = dir.sync([(KEY, format!("new {KEY}"))].into_iter()).unwrap();
        assert_eq!(report, DirSyncReport { written: 1, removed: 1 });
        assert_eq!(lookup(dir.root(), "b", "b", "ssh-ed25519", b64(KEY)).unwrap(), Ok(format!("new {KEY}")));
        assert_eq!(lookup(dir.root(), "b", "b", "ssh-ed25519", b64(OTHER)).unwrap(), Err(Miss::UnknownKey));
        let again = dir.sync([(KEY, format!("new {KEY}"))].into_iter()).unwrap();
        assert_eq!(again, DirSyncReport::default());
        assert_eq!(dir.clear().unwrap(), 1);
        assert_eq!(lookup(dir.root(), "b", "b", "ssh-ed25519", b64(KEY)).unwrap(), Err(Miss::UnknownKey));
    }

    #[test]
    fn a_folder_without_the_marker_is_refused_and_never_cleared() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("precious"), "x").unwrap();
        assert!(lookup(tmp.path(), "b", "b", "ssh-ed25519", b64(KEY)).is_err());
        assert_eq!(KeyDir::new(tmp.path().to_path_buf()).clear().unwrap(), 0);
        assert!(tmp.path().join("precious").exists());
    }
}
