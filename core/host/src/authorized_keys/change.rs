//! What one mutation of the store changes in the key lines, as the key sinks (this file, or
//! the key folder of command mode) apply it.

use super::RepoLine;

/// What one mutation changed in the key lines.
#[derive(Debug, Clone)]
pub enum KeyChange {
    Added(Vec<RepoLine>),
    /// One repository's lines (one per key) before and after an edit.
    Replaced {
        old: Vec<RepoLine>,
        new: Vec<RepoLine>,
    },
    Removed(Vec<RepoLine>),
    /// Many repositories replaced at once (an import): `before`'s lines go, `after`'s come.
    Batch {
        before: Vec<RepoLine>,
        after: Vec<RepoLine>,
    },
}

impl KeyChange {
    /// The change that undoes this one.
    pub fn inverse(&self) -> KeyChange {
        match self {
            KeyChange::Added(lines) => KeyChange::Removed(lines.clone()),
            KeyChange::Replaced { old, new } => KeyChange::Replaced { old: new.clone(), new: old.clone() },
            KeyChange::Removed(lines) => KeyChange::Added(lines.clone()),
            KeyChange::Batch { before, after } => KeyChange::Batch { before: after.clone(), after: before.clone() },
        }
    }
}
