//! The one owner of the borg user's `authorized_keys`.
//!
//! Lines this server writes are always rendered from the store; every other line (an admin's
//! own keys, comments) is kept byte for byte and in place. Each write goes to a temporary file
//! in the same folder, is fsynced, renamed over the file, and the folder is fsynced, so a crash
//! leaves either the old file or the new one.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::ssh_key::{key_on_line, KeyIdentity};

/// What one of our lines says: the repository it serves and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoLine {
    pub name: String,
    pub storage_size_gb: u64,
    pub append_only: bool,
    /// `kind BASE64[ comment]`, already validated.
    pub key: String,
}

/// What a [`AuthorizedKeys::sync`] changed, for the reconcile log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub added: Vec<String>,
    pub rewritten: Vec<String>,
    pub removed: Vec<String>,
    pub written: bool,
}

#[derive(Debug, Clone)]
pub struct AuthorizedKeys {
    path: PathBuf,
    pool: PathBuf,
    prefix: String,
    repo_marker: String,
}

impl AuthorizedKeys {
    /// `pool` must be absolute: sshd runs the forced command from the user's home, and the
    /// line names the pool by its full path.
    pub fn new(path: PathBuf, pool: PathBuf) -> Self {
        let pool_s = pool.to_string_lossy().into_owned();
        Self {
            prefix: format!("command=\"cd {pool_s};borg serve"),
            repo_marker: format!(" --restrict-to-repository {pool_s}/"),
            path,
            pool,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The line for one repository, exactly in the contract's form.
    pub fn render(&self, line: &RepoLine) -> String {
        let pool = self.pool.to_string_lossy();
        format!(
            "command=\"cd {pool};borg serve{} --restrict-to-repository {pool}/{} --storage-quota {}G\",restrict {}",
            if line.append_only { " --append-only" } else { "" },
            line.name,
            line.storage_size_gb,
            line.key
        )
    }

    /// The repository name on a line this server wrote, `None` for anybody else's line.
    fn ours(&self, line: &[u8]) -> Option<String> {
        let line = std::str::from_utf8(line).ok()?;
        if !line.starts_with(&self.prefix) {
            return None;
        }
        let at = line.find(&self.repo_marker)? + self.repo_marker.len();
        let name: String = line[at..].chars().take_while(|c| !c.is_whitespace() && *c != '"').collect();
        Some(name)
    }

    fn read(&self) -> io::Result<Vec<u8>> {
        match fs::read(&self.path) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Keys standing on lines this server did not write.
    pub fn foreign_keys(&self) -> io::Result<HashSet<KeyIdentity>> {
        let content = self.read()?;
        Ok(split_lines(&content)
            .filter(|l| self.ours(l).is_none())
            .filter_map(|l| std::str::from_utf8(l).ok().and_then(key_on_line))
            .collect())
    }

    /// Makes our lines equal `wanted` (in id order): a line of ours whose repository is wanted
    /// is re-rendered in place, the others are dropped, and wanted lines not yet present are
    /// appended. Writes only when something changed.
    pub fn sync(&self, wanted: &[RepoLine]) -> io::Result<SyncReport> {
        let content = self.read()?;
        let rendered: HashMap<&str, String> = wanted.iter().map(|l| (l.name.as_str(), self.render(l))).collect();
        let mut report = SyncReport::default();
        let mut placed: HashSet<&str> = HashSet::new();
        let mut out: Vec<u8> = Vec::with_capacity(content.len() + 256);
        for line in split_lines(&content) {
            match self.ours(line) {
                None => push_line(&mut out, line),
                Some(name) => match rendered.get_key_value(name.as_str()) {
                    Some((key, text)) if !placed.contains(key) => {
                        placed.insert(key);
                        if text.as_bytes() != line {
                            report.rewritten.push(name.clone());
                        }
                        push_line(&mut out, text.as_bytes());
                    }
                    _ => report.removed.push(name),
                },
            }
        }
        for line in wanted {
            if !placed.contains(line.name.as_str()) {
                report.added.push(line.name.clone());
                push_line(&mut out, rendered[line.name.as_str()].as_bytes());
            }
        }
        if out != content {
            self.write_atomic(&out)?;
            report.written = true;
        }
        Ok(report)
    }

    fn write_atomic(&self, content: &[u8]) -> io::Result<()> {
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
            File::open(dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}

/// Creates `dir` (and its parents) with mode 0700 when missing.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
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

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl a@host";

    fn line(name: &str, gb: u64, ao: bool) -> RepoLine {
        RepoLine { name: name.into(), storage_size_gb: gb, append_only: ao, key: KEY_A.into() }
    }

    fn setup() -> (tempfile::TempDir, AuthorizedKeys) {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_path_buf();
        let ak = AuthorizedKeys::new(home.join(".ssh/authorized_keys"), home.join("repos"));
        (dir, ak)
    }

    #[test]
    fn renders_the_contract_form() {
        let ak = AuthorizedKeys::new("/h/.ssh/authorized_keys".into(), "/h/repos".into());
        assert_eq!(
            ak.render(&line("c1ddd097", 100, false)),
            format!("command=\"cd /h/repos;borg serve --restrict-to-repository /h/repos/c1ddd097 --storage-quota 100G\",restrict {KEY_A}")
        );
        assert_eq!(
            ak.render(&line("c1ddd097", 5, true)),
            format!("command=\"cd /h/repos;borg serve --append-only --restrict-to-repository /h/repos/c1ddd097 --storage-quota 5G\",restrict {KEY_A}")
        );
    }

    #[test]
    fn keeps_foreign_lines_in_place_and_writes_private_file() {
        let (_d, ak) = setup();
        let foreign = "# admin\r\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJm admin\n\n  spaced line \t\n";
        fs::create_dir_all(ak.path().parent().unwrap()).unwrap();
        fs::write(ak.path(), foreign).unwrap();

        let r = ak.sync(&[line("aaaaaaaa", 1, false), line("bbbbbbbb", 2, false)]).unwrap();
        assert_eq!(r.added, vec!["aaaaaaaa", "bbbbbbbb"]);
        let text = fs::read_to_string(ak.path()).unwrap();
        assert!(text.starts_with(foreign), "{text}");
        assert_eq!(fs::metadata(ak.path()).unwrap().permissions().mode() & 0o777, 0o600);

        // Edit the first: rewritten in place; delete the second: dropped; foreign untouched.
        let r = ak.sync(&[line("aaaaaaaa", 9, true)]).unwrap();
        assert_eq!((r.rewritten.clone(), r.removed.clone()), (vec!["aaaaaaaa".to_string()], vec!["bbbbbbbb".to_string()]));
        let text = fs::read_to_string(ak.path()).unwrap();
        assert_eq!(text, format!("{foreign}{}\n", ak.render(&line("aaaaaaaa", 9, true))));

        // Nothing to change: nothing written.
        assert!(!ak.sync(&[line("aaaaaaaa", 9, true)]).unwrap().written);
    }

    #[test]
    fn foreign_keys_exclude_ours() {
        let (_d, ak) = setup();
        ak.sync(&[line("aaaaaaaa", 1, false)]).unwrap();
        assert!(ak.foreign_keys().unwrap().is_empty());
        let mut text = fs::read_to_string(ak.path()).unwrap();
        text.push_str("no-pty ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl x\n");
        fs::write(ak.path(), text).unwrap();
        assert_eq!(ak.foreign_keys().unwrap().len(), 1);
    }

    #[test]
    fn duplicate_and_stale_lines_of_ours_are_fixed() {
        let (_d, ak) = setup();
        let a = ak.render(&line("aaaaaaaa", 1, false));
        fs::create_dir_all(ak.path().parent().unwrap()).unwrap();
        fs::write(ak.path(), format!("{a}\nx\n{a}\n{}\n", ak.render(&line("deadbeef", 1, false)))).unwrap();
        let r = ak.sync(&[line("aaaaaaaa", 1, false)]).unwrap();
        assert_eq!(r.removed, vec!["aaaaaaaa", "deadbeef"]);
        assert_eq!(fs::read_to_string(ak.path()).unwrap(), format!("{a}\nx\n"));
    }
}
