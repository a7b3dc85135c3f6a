//! Mutations that change only their own bytes of `authorized_keys`, while the file is still the
//! version this server last wrote (same inode, size and times):
//!
//! - a create writes its lines (one per key) at the end of the file, in one `write`;
//! - a delete overwrites its lines, in place, with as many spaces (sshd skips blank lines);
//! - an edit overwrites a line in place when the new line has the same length, else appends
//!   the new line and then blanks the old one; a key added is appended, a key removed blanked.
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
    /// Line (see [`line_id`]) -> offset and length (without `\n`).
    lines: HashMap<u64, (u64, u32)>,
    /// Lines of ours whose name is not 8 hex characters (never written by this server, but
    /// possible in a file taken over): a mutation that names one rewrites the file whole.
    pub odd_names: bool,
    /// The file's length.
    pub len: u64,
    /// Bytes of blanked lines.
    dead: u64,
}

/// A line's identity in 8 bytes: its repository's name (as a number) and a hash of its key.
/// A repository has one line per key, and a key stands on one line only. (Eight bytes, like
/// the name alone before, so the layout of 100,000 lines takes no more memory; two keys of one
/// repository whose 32-bit hashes meet would only make a change rewrite the file whole, below.)
fn line_id(line: &RepoLine) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let code = NameCode::of(&line.name)?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    line.key_part().hash(&mut h);
    Some((u64::from(code.0) << 32) | (h.finish() & 0xffff_ffff))
}

impl Layout {
    pub fn place(&mut self, line: &RepoLine, offset: u64, len: usize) {
        match (line_id(line), u32::try_from(len)) {
            (Some(id), Ok(l)) => {
                self.lines.insert(id, (offset, l));
            }
            _ => self.odd_names = true,
        }
    }

    /// Counts lines already blanked in the file the layout describes.
    pub fn add_blanked(&mut self, bytes: u64) {
        self.dead += bytes;
    }
}

/// A line blanked by a delete or an edit: spaces only.
pub(super) fn is_blanked(line: &[u8]) -> bool {
    !line.is_empty() && line.iter().all(|b| *b == b' ')
}

impl AuthorizedKeys {
    /// Applies one mutation's change without rewriting the whole file, when the file is still
    /// the version this server last wrote. `Ok(false)`: nothing written; the caller rewrites
    /// the file whole with [`AuthorizedKeys::sync`].
    pub fn apply(&self, change: &KeyChange) -> io::Result<bool> {
        let (old, new): (&[RepoLine], &[RepoLine]) = match change {
            KeyChange::Added(lines) => (&[], lines),
            KeyChange::Removed(lines) => (lines, &[]),
            KeyChange::Replaced { old, new } => (old, new),
            KeyChange::Batch { .. } => return Ok(false),
        };
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let Some(snap) = last.as_mut() else { return Ok(false) };
        let Some(layout) = snap.layout.as_mut() else { return Ok(false) };
        if self.identity_now()? != Some(snap.identity) || layout.odd_names || layout.dead * 2 > layout.len {
            return Ok(false);
        }
        let Some(plan) = Plan::make(self, layout, old, new) else { return Ok(false) };
        let file = OpenOptions::new().write(true).open(&self.path)?;
        if !plan.appended.is_empty() {
            // One call at the end of the version we know (checked above): a process killed
            // here has written all of it or none. New lines go first: a crash before the
            // old ones are blanked leaves both, never neither.
            file.write_all_at(&plan.appended, layout.len)?;
        }
        for (offset, bytes) in &plan.in_place {
            file.write_all_at(bytes, *offset)?;
        }
        for (offset, len) in &plan.blanked {
            file.write_all_at(&vec![b' '; *len as usize], *offset)?;
        }
        file.sync_data()?;
        // Where the lines now stand.
        for id in &plan.gone {
            layout.lines.remove(id);
        }
        layout.dead += plan.blanked.iter().map(|(_, len)| u64::from(*len) + 1).sum::<u64>();
        for (id, at) in &plan.placed {
            layout.lines.insert(*id, *at);
        }
        layout.len += plan.appended.len() as u64;
        let meta = file.metadata()?;
        snap.identity = FileIdentity::of(&meta);
        // Foreign lines are untouched: the foreign keys stay as they were.
        Ok(true)
    }
}

/// The writes of one change: new lines appended in one write, lines of the same length
/// overwritten in place, and lines that go (or moved to the end) blanked.
struct Plan {
    appended: Vec<u8>,
    in_place: Vec<(u64, Vec<u8>)>,
    blanked: Vec<(u64, u32)>,
    /// Lines no longer in the file, and where the lines of `new` stand afterwards.
    gone: Vec<u64>,
    placed: Vec<(u64, (u64, u32))>,
}

impl Plan {
    /// `None` when the change cannot be made in place: a line of `old` is not where the layout
    /// knows it, or a line of `new` is already in the file as another change's.
    fn make(keys: &AuthorizedKeys, layout: &Layout, old: &[RepoLine], new: &[RepoLine]) -> Option<Plan> {
        let mut before: HashMap<u64, (&RepoLine, (u64, u32))> = HashMap::with_capacity(old.len());
        for l in old {
            let id = line_id(l)?;
            before.insert(id, (l, *layout.lines.get(&id)?));
        }
        let mut plan = Plan {
            appended: Vec::new(),
            in_place: Vec::new(),
            blanked: Vec::new(),
            gone: Vec::new(),
            placed: Vec::new(),
        };
        let mut seen = std::collections::HashSet::with_capacity(new.len());
        for l in new {
            let id = line_id(l)?;
            if !seen.insert(id) {
                return None;
            }
            match before.get(&id) {
                None if layout.lines.contains_key(&id) => return None,
                Some((was, _)) if *was == l => {}
                Some((_, at)) if keys.render(l).len() == at.1 as usize => {
                    plan.in_place.push((at.0, keys.render(l).into_bytes()));
                }
                found => {
                    let line = keys.render(l).into_bytes();
                    let len = u32::try_from(line.len()).ok()?;
                    plan.placed.push((id, (layout.len + plan.appended.len() as u64, len)));
                    plan.appended.extend_from_slice(&line);
                    plan.appended.push(b'\n');
                    if let Some((_, at)) = found {
                        plan.blanked.push(*at);
                    }
                }
            }
        }
        for (id, (_, at)) in &before {
            if !seen.contains(id) {
                plan.blanked.push(*at);
                plan.gone.push(*id);
            }
        }
        Some(plan)
    }
}
