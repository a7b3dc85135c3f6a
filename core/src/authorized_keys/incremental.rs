//! Mutations that change only their own bytes of `authorized_keys`, while the file is still the
//! version this server last wrote (same inode, size and times):
//!
//! - a create writes its line at the end of the file, in one `write`;
//! - a delete overwrites its line, in place, with as many spaces (sshd skips blank lines);
//! - an edit overwrites its line in place when the new line has the same length, else appends
//!   the new line and then blanks the old one.
//!
//! Each is one or two writes of whole lines followed by an fsync, so a crash (or `kill -9`)
//! leaves whole lines only: at worst, after an interrupted edit, the old and the new line both,
//! which the start-up reconcile puts right. When blanked bytes pass half the file, or the file
//! was changed by someone else, the mutation rewrites the file whole instead.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::FileExt;

use super::KeyChange;
use super::{AuthorizedKeys, FileIdentity, RepoLine};
use crate::pool::NameCode;

/// Where this server's lines stand in the version of the file it wrote last.
#[derive(Debug, Default)]
pub(super) struct Layout {
    /// Repository name (8 hex characters, as a number) -> offset and length (without `\n`).
    lines: HashMap<NameCode, (u64, u32)>,
    /// Lines of ours whose name is not 8 hex characters (never written by this server, but
    /// possible in a file taken over): a mutation that names one rewrites the file whole.
    pub odd_names: bool,
    /// The file's length.
    pub len: u64,
    /// Bytes of blanked lines.
    dead: u64,
}

impl Layout {
    pub fn place(&mut self, name: &str, offset: u64, len: usize) {
        match (NameCode::of(name), u32::try_from(len)) {
            (Some(c), Ok(l)) => {
                self.lines.insert(c, (offset, l));
            }
            _ => self.odd_names = true,
        }
    }

    /// Counts lines already blanked in the file the layout describes.
    pub fn add_blanked(&mut self, bytes: u64) {
        self.dead += bytes;
    }

    fn find(&self, name: &str) -> Option<(u64, u32)> {
        self.lines.get(&NameCode::of(name)?).copied()
    }
}

/// A line blanked by a delete or an edit: spaces only.
pub(super) fn is_blanked(line: &[u8]) -> bool {
    !line.is_empty() && line.iter().all(|b| *b == b' ')
}

/// One write into the file: at an offset (overwrite) or at the end (append).
enum Write1 {
    At(u64, Vec<u8>),
    Append(Vec<u8>),
}

impl AuthorizedKeys {
    /// Applies one mutation's change without rewriting the whole file, when the file is still
    /// the version this server last wrote. `Ok(false)`: nothing written; the caller rewrites
    /// the file whole with [`AuthorizedKeys::sync`].
    pub fn apply(&self, change: &KeyChange) -> io::Result<bool> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let Some(snap) = last.as_mut() else { return Ok(false) };
        let Some(layout) = snap.layout.as_mut() else { return Ok(false) };
        if self.identity_now()? != Some(snap.identity) || layout.odd_names || layout.dead * 2 > layout.len {
            return Ok(false);
        }
        let render = |l: &RepoLine| self.render(l).into_bytes();
        let blank = |(offset, len): (u64, u32)| Write1::At(offset, vec![b' '; len as usize]);
        let mut writes = Vec::new();
        match change {
            KeyChange::Added(lines) => {
                if lines.iter().any(|l| layout.find(&l.name).is_some() || NameCode::of(&l.name).is_none()) {
                    return Ok(false);
                }
                let mut all = Vec::new();
                for l in lines {
                    all.extend_from_slice(&render(l));
                    all.push(b'\n');
                }
                writes.push(Write1::Append(all));
            }
            KeyChange::Removed(lines) => {
                for l in lines {
                    let Some(at) = layout.find(&l.name) else { return Ok(false) };
                    writes.push(blank(at));
                }
            }
            KeyChange::Replaced { old, new } => {
                let Some(at) = layout.find(&old.name) else { return Ok(false) };
                if old.name != new.name {
                    return Ok(false);
                }
                let line = render(new);
                if line.len() == at.1 as usize {
                    writes.push(Write1::At(at.0, line));
                } else {
                    let mut appended = line;
                    appended.push(b'\n');
                    // The new line first: a crash in between leaves both, never neither.
                    writes.push(Write1::Append(appended));
                    writes.push(blank(at));
                }
            }
            KeyChange::Batch { .. } => return Ok(false),
        }
        let file = OpenOptions::new().write(true).open(&self.path)?;
        let mut end = layout.len;
        for w in &writes {
            match w {
                Write1::At(offset, bytes) => file.write_all_at(bytes, *offset)?,
                Write1::Append(bytes) => {
                    // One call at the end of the version we know (checked above): a process
                    // killed here has written all of it or none.
                    file.write_all_at(bytes, end)?;
                    end += bytes.len() as u64;
                }
            }
        }
        file.sync_data()?;
        // Where the lines now stand.
        match change {
            KeyChange::Added(lines) => {
                let mut offset = layout.len;
                for l in lines {
                    let len = self.render(l).len();
                    layout.place(&l.name, offset, len);
                    offset += len as u64 + 1;
                }
            }
            KeyChange::Removed(lines) => {
                for l in lines {
                    if let Some((_, len)) = layout.find(&l.name) {
                        layout.dead += u64::from(len) + 1;
                        if let Some(c) = NameCode::of(&l.name) {
                            layout.lines.remove(&c);
                        }
                    }
                }
            }
            KeyChange::Replaced { new, .. } => {
                if let Some((offset, len)) = layout.find(&new.name) {
                    let rendered = self.render(new).len();
                    if rendered != len as usize {
                        layout.dead += u64::from(len) + 1;
                        layout.place(&new.name, layout.len, rendered);
                    } else {
                        layout.place(&new.name, offset, rendered);
                    }
                }
            }
            KeyChange::Batch { .. } => {}
        }
        layout.len = end;
        let meta = file.metadata()?;
        snap.identity = FileIdentity::of(&meta);
        // Foreign lines are untouched: the foreign keys stay as they were.
        Ok(true)
    }
}
