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
use std::sync::{Arc, Mutex};

use crate::ssh_key::{key_on_line, KeyIdentity};

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

#[derive(Debug, Clone)]
pub struct AuthorizedKeys {
    path: PathBuf,
    prefix: String,
    repo_marker: String,
    /// BorgWarehouse before 3.1.3 wrote `--restrict-to-path`; read, never written.
    path_marker: String,
    /// The file as last read or written, with what identifies that version on disk, so a
    /// mutation with 10,000 lines does not read and parse the whole file twice.
    last: Arc<Mutex<Option<Snapshot>>>,
}

/// Keys on lines this server did not write, shared with the snapshot they were read from.
pub type ForeignKeys = Arc<HashSet<KeyIdentity>>;

#[derive(Debug)]
struct Snapshot {
    identity: FileIdentity,
    content: Arc<Vec<u8>>,
    foreign: Arc<HashSet<KeyIdentity>>,
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
        out.push_str(&self.prefix);
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
        let rest = line.strip_prefix(self.prefix.as_bytes())?;
        let rest = rest.strip_prefix(b" --append-only".as_slice()).unwrap_or(rest);
        let rest = rest
            .strip_prefix(self.repo_marker.as_bytes())
            .or_else(|| rest.strip_prefix(self.path_marker.as_bytes()))?;
        let end = rest.iter().position(|b| *b == b' ' || *b == b'"' || *b == b'\t').unwrap_or(rest.len());
        Some(&rest[..end])
    }

    /// Reads back a line of ours (see [`AuthorizedKeys::ours`]).
    pub fn parse_ours(&self, line: &str) -> Option<RepoLine> {
        let (archived, line) = match line.strip_prefix(ARCHIVED_PREFIX) {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let rest = line.strip_prefix(self.prefix.as_str())?;
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
        let content = self.read()?;
        Ok(split_lines(&content)
            .filter_map(|l| std::str::from_utf8(l).ok())
            .filter_map(|l| self.parse_ours(l))
            .collect())
    }

    /// The current file, from the snapshot when the file on disk is still that version.
    fn read(&self) -> io::Result<Arc<Vec<u8>>> {
        Ok(self.snapshot()?.0)
    }

    fn snapshot(&self) -> io::Result<(Arc<Vec<u8>>, ForeignKeys)> {
        let identity = match fs::metadata(&self.path) {
            Ok(m) => Some(FileIdentity::of(&m)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let (Some(id), Some(snap)) = (identity, last.as_ref()) {
            if snap.identity == id {
                return Ok((snap.content.clone(), snap.foreign.clone()));
            }
        }
        let content = match fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let content = Arc::new(content);
        let foreign = Arc::new(self.parse_foreign(&content));
        // Remember it only if it is still the version we stat'ed.
        match (identity, fs::metadata(&self.path).ok().map(|m| FileIdentity::of(&m))) {
            (Some(before), Some(after)) if before == after => {
                *last = Some(Snapshot { identity: before, content: content.clone(), foreign: foreign.clone() });
            }
            _ => *last = None,
        }
        Ok((content, foreign))
    }

    fn parse_foreign(&self, content: &[u8]) -> HashSet<KeyIdentity> {
        split_lines(content)
            .filter(|l| self.ours(l).is_none())
            .filter_map(|l| std::str::from_utf8(l).ok().and_then(key_on_line))
            .collect()
    }

    /// Keys standing on lines this server did not write.
    pub fn foreign_keys(&self) -> io::Result<ForeignKeys> {
        Ok(self.snapshot()?.1)
    }

    /// Makes our lines equal `wanted` (in id order): a line of ours whose repository is wanted
    /// is re-rendered in place, the others are dropped, and wanted lines not yet present are
    /// appended. Writes only when something changed.
    pub fn sync(&self, wanted: &[RepoLine]) -> io::Result<SyncReport> {
        let content = self.read()?;
        let index: HashMap<&[u8], usize> = wanted.iter().enumerate().map(|(i, l)| (l.name.as_bytes(), i)).collect();
        let mut placed = vec![false; wanted.len()];
        let mut report = SyncReport::default();
        let mut out: Vec<u8> = Vec::with_capacity(content.len() + 512);
        let mut text = String::new();
        let lossy = |n: &[u8]| String::from_utf8_lossy(n).into_owned();
        for line in split_lines(&content) {
            match self.ours(line) {
                None => push_line(&mut out, line),
                Some(name) => match index.get(name) {
                    Some(&i) if !placed[i] => {
                        placed[i] = true;
                        text.clear();
                        self.render_into(&wanted[i], &mut text);
                        if text.as_bytes() != line {
                            report.rewritten.push(lossy(name));
                        }
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
                push_line(&mut out, text.as_bytes());
            }
        }
        if out != *content {
            let foreign = self.foreign_keys()?;
            let identity = self.write_atomic(&out)?;
            *self.last.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(Snapshot { identity, content: Arc::new(out), foreign });
            report.written = true;
        }
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
            let identity = FileIdentity::of(&f.metadata()?);
            fs::rename(&tmp, &self.path)?;
            File::open(dir)?.sync_all()?;
            Ok(identity)
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
        RepoLine { name: name.into(), storage_size_gb: gb, append_only: ao, key: KEY_A.into(), archived: false }
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
        assert_eq!(
            (r.rewritten.clone(), r.removed.clone()),
            (vec!["aaaaaaaa".to_string()], vec!["bbbbbbbb".to_string()])
        );
        let text = fs::read_to_string(ak.path()).unwrap();
        assert_eq!(text, format!("{foreign}{}\n", ak.render(&line("aaaaaaaa", 9, true))));

        // Nothing to change: nothing written.
        assert!(!ak.sync(&[line("aaaaaaaa", 9, true)]).unwrap().written);
    }

    #[test]
    fn our_lines_read_back() {
        let (_d, ak) = setup();
        for l in [line("aaaaaaaa", 100, false), line("bbbbbbbb", 1, true)] {
            assert_eq!(ak.parse_ours(&ak.render(&l)), Some(l));
        }
        assert_eq!(ak.parse_ours(KEY_A), None);
    }

    /// BorgWarehouse's forms: `--restrict-to-path` (before 3.1.3) and `--restrict-to-repository`,
    /// with or without `--append-only`, active or behind `#BW-ARCHIVED `; all read back, and a
    /// sync rewrites them to the current form in place.
    #[test]
    fn borgwarehouse_forms_are_ours() {
        let (_d, ak) = setup();
        let pool = ak.path().parent().unwrap().parent().unwrap().join("repos");
        let p = pool.display();
        let old = format!("command=\"cd {p};borg serve --append-only --restrict-to-path {p}/aaaaaaaa --storage-quota 500G\",restrict {KEY_A}");
        let archived = format!("#BW-ARCHIVED command=\"cd {p};borg serve --restrict-to-repository {p}/bbbbbbbb --storage-quota 20G\",restrict {KEY_A}");
        let elsewhere = format!("command=\"cd /other/repos;borg serve --restrict-to-path /other/repos/cccccccc --storage-quota 1G\",restrict {KEY_A}");
        let a = ak.parse_ours(&old).unwrap();
        assert_eq!((a.name.as_str(), a.storage_size_gb, a.append_only, a.archived), ("aaaaaaaa", 500, true, false));
        let b = ak.parse_ours(&archived).unwrap();
        assert_eq!((b.name.as_str(), b.storage_size_gb, b.append_only, b.archived), ("bbbbbbbb", 20, false, true));
        assert_eq!(ak.parse_ours(&elsewhere), None, "another pool's line is not ours");
        assert_eq!(ak.parse_ours("#BW-ARCHIVED just a comment"), None);
        assert_eq!(ak.render(&b), archived, "an archived line renders as BorgWarehouse writes it");

        fs::create_dir_all(ak.path().parent().unwrap()).unwrap();
        fs::write(ak.path(), format!("{old}\n{elsewhere}\n{archived}\n")).unwrap();
        let r = ak.sync(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(r.rewritten, vec!["aaaaaaaa"]);
        let text = fs::read_to_string(ak.path()).unwrap();
        assert_eq!(text, format!("{}\n{elsewhere}\n{archived}\n", ak.render(&a)));
        assert!(text.lines().next().unwrap().contains("--restrict-to-repository"), "{text}");
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

/// Properties of the key validator and the line renderer over generated input: whatever a
/// client sends, an accepted key becomes exactly one line that pins exactly its repository.
#[cfg(test)]
mod properties {
    use super::*;
    use crate::ssh_key::{key_on_line, ClientKey, ALLOWED_TYPES};
    use base64::Engine;
    use proptest::prelude::*;

    fn ssh_string(out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        out.extend_from_slice(bytes);
    }

    /// Well-formed ed25519 and RSA blobs with arbitrary key material, plus arbitrary bytes.
    fn key_text() -> impl Strategy<Value = String> {
        let ed = proptest::collection::vec(any::<u8>(), 32).prop_map(|point| {
            let mut blob = Vec::new();
            ssh_string(&mut blob, b"ssh-ed25519");
            ssh_string(&mut blob, &point);
            ("ssh-ed25519", blob)
        });
        let rsa = (proptest::collection::vec(any::<u8>(), 200..300), 1u8..=255).prop_map(|(mut n, top)| {
            n.insert(0, top);
            n.insert(0, 0);
            let mut blob = Vec::new();
            ssh_string(&mut blob, b"ssh-rsa");
            ssh_string(&mut blob, &[1, 0, 1]);
            ssh_string(&mut blob, &n);
            ("ssh-rsa", blob)
        });
        let junk = (proptest::sample::select(ALLOWED_TYPES.to_vec()), proptest::collection::vec(any::<u8>(), 0..120));
        let keyed = prop_oneof![ed, rsa, junk];
        (keyed, "\\PC{0,40}", any::<bool>(), "[ \\t\\r\\n\"\\\\,=a-z]{0,6}").prop_map(
            |((kind, blob), comment, with_comment, noise)| {
                let b64 = base64::engine::general_purpose::STANDARD.encode(blob);
                let mut s = if with_comment { format!("{kind} {b64} {comment}") } else { format!("{kind} {b64}") };
                s.push_str(&noise);
                s
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, max_global_rejects: 20_000, ..ProptestConfig::default() })]

        #[test]
        fn any_text_never_panics(text in "\\PC{0,300}") {
            let _ = ClientKey::parse(&text);
            let _ = key_on_line(&text);
        }

        #[test]
        fn an_accepted_key_renders_one_line_pinned_to_its_repository(
            text in key_text(),
            name in "[0-9a-f]{8}",
            quota in 1u64..=1_000_000,
            append_only in any::<bool>(),
        ) {
            // Rejected inputs are discarded (and counted: proptest fails if too few are accepted).
            let parsed = ClientKey::parse(&text);
            prop_assume!(parsed.is_ok());
            let key = parsed.unwrap();
            let ak = AuthorizedKeys::new("/home/borg/.ssh/authorized_keys".into(), "/home/borg/repos".into());
            let line = ak.render(&RepoLine { name: name.clone(), storage_size_gb: quota, append_only, key: key.to_openssh(), archived: false });
            prop_assert!(!line.chars().any(char::is_control), "control character in {line:?}");
            prop_assert_eq!(line.lines().count(), 1);
            // The key on the line is the key that was accepted.
            prop_assert_eq!(key_on_line(&line), Some(key.identity()));
            // The forced command names exactly this repository, and only once.
            prop_assert_eq!(ak.ours(line.as_bytes()), Some(name.as_bytes()));
            let command_end = line.find("\",restrict ").unwrap();
            let command = &line[..command_end];
            prop_assert!(!command[9..].contains('"'), "a quote inside the forced command: {line:?}");
            prop_assert_eq!(command.matches("--restrict-to-repository").count(), 1);
            let expected_repo = format!("--restrict-to-repository /home/borg/repos/{name} ");
            prop_assert!(command.contains(&expected_repo));
            prop_assert_eq!(command.contains("--append-only"), append_only);
        }
    }
}
