//! The one owner of the borg user's `authorized_keys`.
//!
//! Lines this server writes are always rendered from the store; every other line (an admin's
//! own keys, comments) is kept byte for byte and in place. A whole-file write goes to a
//! temporary file in the same folder, is fsynced, renamed over the file, and the folder is
//! fsynced, so a crash leaves either the old file or the new one. While the file is still the
//! version this server last wrote, a mutation changes only its own bytes ([`incremental`]).

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::paths::ensure_private_dir;
use crate::ssh_key::{key_on_line, KeyIdentity};
pub use change::KeyChange;

/// What one of our lines says: the repository it serves and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoLine {
    pub name: String,
    pub storage_size_gb: u64,
    pub append_only: bool,
    /// `kind BASE64[ comment]`, already validated.
    pub key: String,
    /// Kept behind `#BW-ARCHIVED ` (BorgWarehouse's form): a comment to sshd, so the client
    /// cannot connect, and read back as the archived repository.
    pub archived: bool,
}

impl RepoLine {
    /// The key without its comment (`kind BASE64`): two lines hold the same key when these
    /// are equal.
    pub fn key_part(&self) -> &str {
        key_part_of(&self.key)
    }
}

/// `kind BASE64` of `kind BASE64[ comment]`.
fn key_part_of(key: &str) -> &str {
    let mut cut = key.match_indices(' ').map(|(i, _)| i);
    let _kind_end = cut.next();
    match cut.next() {
        Some(end) => &key[..end],
        None => key,
    }
}

/// The same for the bytes of a line read from the file.
fn key_part_bytes(key: &[u8]) -> &[u8] {
    let mut cut = key.iter().enumerate().filter(|(_, b)| **b == b' ').map(|(i, _)| i);
    let _kind_end = cut.next();
    match cut.next() {
        Some(end) => &key[..end],
        None => key,
    }
}

/// BorgWarehouse's prefix for the line of an archived repository.
pub const ARCHIVED_PREFIX: &str = "#BW-ARCHIVED ";

/// What a [`AuthorizedKeys::sync`] changed, for the reconcile log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub added: Vec<String>,
    pub rewritten: Vec<String>,
    pub removed: Vec<String>,
    pub written: bool,
}

/// The session recorder a line runs `borg serve` under (`borgwarehouse session`), so that the
/// server learns when a session ends ([`crate::session_spool`]). Both paths go on the line
/// as they are: plain paths, without white space or quotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorder {
    pub program: String,
    pub spool: String,
}

impl Recorder {
    /// Whether `path` may stand unquoted inside the line's `command="…"`.
    pub fn plain_path(path: &str) -> bool {
        path.starts_with('/') && !path.chars().any(|c| c.is_whitespace() || c.is_control() || "\"'\\;$`".contains(c))
    }
}

#[derive(Debug, Clone)]
pub struct AuthorizedKeys {
    path: PathBuf,
    /// `command="cd POOL;`
    cd: String,
    /// What runs `borg serve`, when sessions are recorded.
    recorder: Option<Recorder>,
    prefix: String,
    repo_marker: String,
    /// BorgWarehouse before 3.1.3 wrote `--restrict-to-path`; read, never written.
    path_marker: String,
    /// What this server knows of the file as last read or written, with what identifies that
    /// version on disk: its foreign keys, and where each of our lines stands.
    last: Arc<Mutex<Option<Snapshot>>>,
}

/// Keys on lines this server did not write, shared with the snapshot they were read from.
pub type ForeignKeys = Arc<HashSet<KeyIdentity>>;

#[derive(Debug)]
struct Snapshot {
    identity: FileIdentity,
    foreign: Arc<HashSet<KeyIdentity>>,
    /// Where our lines stand, when this server wrote this version (else `None`: a mutation
    /// rewrites the file whole).
    layout: Option<incremental::Layout>,
}

/// Changes whenever the file is replaced (our renames give a new inode) or edited in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileIdentity {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i64,
    ctime_ns: i64,
}

impl FileIdentity {
    fn of(meta: &fs::Metadata) -> Self {
        FileIdentity {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            ctime_ns: meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
        }
    }
}

impl AuthorizedKeys {
    /// `pool` must be absolute: sshd runs the forced command from the user's home, and the
    /// line names the pool by its full path.
    pub fn new(path: PathBuf, pool: PathBuf) -> Self {
        let pool_s = pool.to_string_lossy().into_owned();
        Self {
            cd: format!("command=\"cd {pool_s};"),
            recorder: None,
            prefix: format!("command=\"cd {pool_s};borg serve"),
            repo_marker: format!(" --restrict-to-repository {pool_s}/"),
            path_marker: format!(" --restrict-to-path {pool_s}/"),
            path,
            last: Arc::new(Mutex::new(None)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The same file, whose lines run `borg serve` under `recorder`. Lines of the other form are
    /// still read as ours, and rewritten at the next sync.
    pub fn with_recorder(mut self, recorder: Option<Recorder>) -> Self {
        self.recorder = recorder;
        self
    }

    /// Everything but the repository that shapes a line (the pool's path, the recorder's
    /// program and spool, the restrictions' form as this version writes them): a line
    /// rendered for a made-up repository. Two runs whose shapes differ write different lines
    /// for the same repository.
    pub fn shape(&self) -> String {
        self.render(&RepoLine {
            name: "shape".into(),
            storage_size_gb: 1,
            append_only: true,
            key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl shape".into(),
            archived: false,
        })
    }

    /// The line for one repository, exactly in the contract's form.
    pub fn render(&self, line: &RepoLine) -> String {
        let mut out = String::with_capacity(self.prefix.len() * 2 + line.key.len() + 80);
        self.render_into(line, &mut out);
        out
    }

    fn render_into(&self, line: &RepoLine, out: &mut String) {
        use std::fmt::Write as _;
        if line.archived {
            out.push_str(ARCHIVED_PREFIX);
        }
        match &self.recorder {
            None => out.push_str(&self.prefix),
            Some(r) => {
                let key = crate::ssh_key::key_id(&line.key).unwrap_or_default();
                let _ = write!(
                    out,
                    "{}{} session --spool {} --repository {} --key {key} -- borg serve",
                    self.cd, r.program, r.spool, line.name
                );
            }
        }
        if line.append_only {
            out.push_str(" --append-only");
        }
        let _ = write!(
            out,
            "{}{} --storage-quota {}G\",restrict {}",
            self.repo_marker, line.name, line.storage_size_gb, line.key
        );
    }

    /// The repository name on a line of ours: one this server wrote, or one BorgWarehouse wrote
    /// (either restriction flag, archived or not); `None` for anybody else's line. Only prefix
    /// checks: this runs for every line on every mutation.
    fn ours<'l>(&self, line: &'l [u8]) -> Option<&'l [u8]> {
        let line = line.strip_prefix(ARCHIVED_PREFIX.as_bytes()).unwrap_or(line);
        let rest = self.after_borg_serve(line)?;
        let rest = rest.strip_prefix(b" --append-only".as_slice()).unwrap_or(rest);
        let rest = rest
            .strip_prefix(self.repo_marker.as_bytes())
            .or_else(|| rest.strip_prefix(self.path_marker.as_bytes()))?;
        let end = rest.iter().position(|b| *b == b' ' || *b == b'"' || *b == b'\t').unwrap_or(rest.len());
        Some(&rest[..end])
    }

    /// What follows `borg serve` on a line of ours: run directly (`cd POOL;borg serve`), or
    /// under a session recorder (`cd POOL;PROGRAM session … -- borg serve`, whatever its paths).
    fn after_borg_serve<'l>(&self, line: &'l [u8]) -> Option<&'l [u8]> {
        if let Some(rest) = line.strip_prefix(self.prefix.as_bytes()) {
            return Some(rest);
        }
        let rest = line.strip_prefix(self.cd.as_bytes())?;
        // The recorder's part ends at the first ` -- borg serve`, before the closing quote.
        let quote = rest.iter().position(|b| *b == b'"')?;
        const RUNS: &[u8] = b" -- borg serve";
        let at = rest[..quote].windows(RUNS.len()).position(|w| w == RUNS)?;
        rest[..at].windows(b" session ".len()).any(|w| w == b" session ").then(|| &rest[at + RUNS.len()..])
    }

    /// The key (`kind BASE64`) a line of ours pins: what follows the line's options.
    fn key_part_on(line: &[u8]) -> &[u8] {
        const OPTIONS_END: &[u8] = b"\",restrict ";
        match line.windows(OPTIONS_END.len()).position(|w| w == OPTIONS_END) {
            Some(at) => key_part_bytes(&line[at + OPTIONS_END.len()..]),
            None => &[],
        }
    }

    /// Reads back a line of ours (see [`AuthorizedKeys::ours`]).
    pub fn parse_ours(&self, line: &str) -> Option<RepoLine> {
        let (archived, line) = match line.strip_prefix(ARCHIVED_PREFIX) {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let rest = std::str::from_utf8(self.after_borg_serve(line.as_bytes())?).ok()?;
        let (append_only, rest) = match rest.strip_prefix(" --append-only") {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let rest =
            rest.strip_prefix(self.repo_marker.as_str()).or_else(|| rest.strip_prefix(self.path_marker.as_str()))?;
        let (name, rest) = rest.split_once(" --storage-quota ")?;
        let (quota, key) = rest.split_once("G\",restrict ")?;
        Some(RepoLine {
            name: name.to_string(),
            storage_size_gb: quota.parse().ok()?,
            append_only,
            key: key.to_string(),
            archived,
        })
    }

    /// Every line in the file that has this server's form, read back.
    pub fn lines_of_ours(&self) -> io::Result<Vec<RepoLine>> {
        let (_, content) = self.load()?;
        Ok(split_lines(&content)
            .filter_map(|l| std::str::from_utf8(l).ok())
            .filter_map(|l| self.parse_ours(l))
            .collect())
    }

    /// The identity of the file on disk now (`None`: no file).
    fn identity_now(&self) -> io::Result<Option<FileIdentity>> {
        match fs::metadata(&self.path) {
            Ok(m) => Ok(Some(FileIdentity::of(&m))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The file's bytes, with its identity when it did not change while being read.
    fn load(&self) -> io::Result<(Option<FileIdentity>, Vec<u8>)> {
        let before = self.identity_now()?;
        let content = match fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let after = self.identity_now()?;
        Ok((before.filter(|b| Some(*b) == after), content))
    }

    /// Foreign keys of the file on disk, from the snapshot when it is still that version.
    fn snapshot(&self) -> io::Result<ForeignKeys> {
        let identity = self.identity_now()?;
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let (Some(id), Some(snap)) = (identity, last.as_ref()) {
            if snap.identity == id {
                return Ok(snap.foreign.clone());
            }
        }
        let (identity, content) = self.load()?;
        let foreign = Arc::new(self.parse_foreign(&content));
        // Read, not written by us: no layout, so the next mutation rewrites the file whole.
        *last = identity.map(|identity| Snapshot { identity, foreign: foreign.clone(), layout: None });
        Ok(foreign)
    }

    fn parse_foreign(&self, content: &[u8]) -> HashSet<KeyIdentity> {
        split_lines(content)
            .filter(|l| self.ours(l).is_none())
            .filter_map(|l| std::str::from_utf8(l).ok().and_then(key_on_line))
            .collect()
    }

    /// Keys standing on lines this server did not write.
    pub fn foreign_keys(&self) -> io::Result<ForeignKeys> {
        self.snapshot()
    }

    /// Makes our lines equal `wanted` (in id order): a line of ours whose repository is wanted
    /// is re-rendered in place, the others are dropped (and so are lines blanked by earlier
    /// mutations), and wanted lines not yet present are appended. Writes only when something
    /// changed; either way remembers where each line stands, for the next mutation.
    pub fn sync(&self, wanted: &[RepoLine]) -> io::Result<SyncReport> {
        let (identity, content) = self.load()?;
        // A repository has one line per key: a line is the wanted one when both its repository
        // and its key are.
        let index: HashMap<(&[u8], &[u8]), usize> =
            wanted.iter().enumerate().map(|(i, l)| ((l.name.as_bytes(), l.key_part().as_bytes()), i)).collect();
        let mut placed = vec![false; wanted.len()];
        let mut report = SyncReport::default();
        let mut out: Vec<u8> = Vec::with_capacity(content.len() + 512);
        let mut layout = incremental::Layout::default();
        let mut text = String::new();
        let lossy = |n: &[u8]| String::from_utf8_lossy(n).into_owned();
        // Where this server's lines stand in the file as it is, should it be kept as it is.
        let mut kept = incremental::Layout::default();
        let (mut offset, mut blanked) = (0u64, 0u64);
        for line in split_lines(&content) {
            let at = offset;
            offset += line.len() as u64 + 1;
            if incremental::is_blanked(line) {
                blanked += line.len() as u64 + 1;
                continue;
            }
            match self.ours(line) {
                None => push_line(&mut out, line),
                Some(name) => match index.get(&(name, Self::key_part_on(line))) {
                    Some(&i) if !placed[i] => {
                        placed[i] = true;
                        text.clear();
                        self.render_into(&wanted[i], &mut text);
                        if text.as_bytes() != line {
                            report.rewritten.push(lossy(name));
                        }
                        layout.place(&wanted[i], out.len() as u64, text.len());
                        kept.place(&wanted[i], at, text.len());
                        push_line(&mut out, text.as_bytes());
                    }
                    _ => report.removed.push(lossy(name)),
                },
            }
        }
        for (i, line) in wanted.iter().enumerate() {
            if !placed[i] {
                report.added.push(line.name.clone());
                text.clear();
                self.render_into(line, &mut text);
                layout.place(line, out.len() as u64, text.len());
                push_line(&mut out, text.as_bytes());
            }
        }
        layout.len = out.len() as u64;
        let foreign = Arc::new(self.parse_foreign(&out));
        // A file that differs only by lines blanked in place (deletes, edits) is kept byte for
        // byte, so that a restart or a restore leaves it as it was; it is compacted once the
        // blanks make up half of it.
        let only_blanks_differ = report.added.is_empty()
            && report.rewritten.is_empty()
            && report.removed.is_empty()
            && blanked > 0
            && blanked * 2 <= content.len() as u64
            && content.ends_with(b"\n");
        if only_blanks_differ {
            kept.len = content.len() as u64;
            kept.add_blanked(blanked);
            layout = kept;
        }
        report.written = !only_blanks_differ && out != content;
        let identity = if report.written { Some(self.write_atomic(&out)?) } else { identity };
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) =
            identity.map(|identity| Snapshot { identity, foreign, layout: Some(layout) });
        Ok(report)
    }

    fn write_atomic(&self, content: &[u8]) -> io::Result<FileIdentity> {
        let dir = self.path.parent().ok_or_else(|| io::Error::other("authorized_keys has no folder"))?;
        ensure_private_dir(dir)?;
        let owner = fs::metadata(&self.path).ok().map(|m| (m.uid(), m.gid()));
        let tmp = dir.join(format!(".authorized_keys.{}.tmp", std::process::id()));
        let result = (|| {
            let mut f = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
            f.set_permissions(fs::Permissions::from_mode(0o600))?;
            if let Some((uid, gid)) = owner {
                // Keep the borg user's ownership when the server runs as another (privileged)
                // user; an unprivileged server owns the file already.
                let _ = std::os::unix::fs::fchown(&f, Some(uid), Some(gid));
            }
            f.write_all(content)?;
            f.sync_all()?;
            fs::rename(&tmp, &self.path)?;
            File::open(dir)?.sync_all()?;
            // After the rename, which changes the file's ctime.
            Ok(FileIdentity::of(&f.metadata()?))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}

fn split_lines(content: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = content.strip_suffix(b"\n").unwrap_or(content);
    let empty = content.is_empty();
    body.split(|b| *b == b'\n').filter(move |_| !empty)
}

fn push_line(out: &mut Vec<u8>, line: &[u8]) {
    out.extend_from_slice(line);
    out.push(b'\n');
}

mod change;
mod incremental;
#[cfg(test)]
mod tests;
