//! The audit log: who changed what, when, from where. An entry is written in the same store
//! transaction as the change it records (the stores take it as part of their write), so a crash
//! leaves both or neither; what changes nothing in the store (a failed sign-in, a compact, a
//! break-lock) is written alone.
//!
//! `changes` names fields and their new values, never a secret: the entry's maker leaves out
//! passwords, tokens and keys' private parts (there are none: keys are public), and [`AuditEntry::new`]
//! refuses field names that would carry one.
//!
//! Keys are the time (8 bytes, big-endian) then a growing number (8 bytes): newest first is a
//! reverse scan, and retention a range removal from the start.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::backend::Batch;
use crate::store_error::{decode, encode, StoreResult};

pub const TABLE: &str = "audit";

/// Field names a `changes` map never holds (their values would be secrets).
const SECRET_FIELDS: &[&str] = &["password", "currentPassword", "token", "clientSecret", "code", "passwordHash"];

/// Who acted, as the log names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActorKind {
    /// A user, by password or signed in from a page.
    User,
    /// An API token (`actor` is `token:NAME`).
    Token,
    /// The cron key.
    Cron,
    /// `borgwarehouse` on the host (the control socket, or the store itself).
    CommandLine,
    /// Nobody yet: a failed sign-in, the first run.
    Anonymous,
    /// The server itself (a scheduled verify, retention).
    Server,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// Unix seconds.
    pub at: i64,
    pub actor: String,
    pub actor_kind: ActorKind,
    /// The client's address; empty from the command line.
    pub client: String,
    /// What was done, e.g. `repository.create`, `user.remove`, `sign-in.failed`.
    pub action: String,
    /// What it was done to: a repository's name, a user's, a token's.
    pub target: String,
    /// The fields changed and their new values; never a secret.
    pub changes: Map<String, Value>,
}

impl AuditEntry {
    /// An entry; `changes` loses any field that names a secret, whatever the caller gave.
    pub fn new(
        at: i64,
        (actor, actor_kind): (String, ActorKind),
        client: String,
        action: &str,
        target: &str,
        mut changes: Map<String, Value>,
    ) -> AuditEntry {
        changes.retain(|k, _| !SECRET_FIELDS.iter().any(|s| s.eq_ignore_ascii_case(k)));
        AuditEntry { at, actor, actor_kind, client, action: action.into(), target: target.into(), changes }
    }
}

/// What a query asks for; every field optional.
#[derive(Debug, Default, Clone)]
pub struct AuditQuery {
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub limit: usize,
}

/// Adds `entry`'s record, if any, to `batches`: a store applies them in one transaction with
/// the change the entry records.
pub(crate) fn add_entry(
    db: &crate::backend::SharedBackend,
    batches: &mut Vec<(&str, Batch)>,
    entry: Option<&AuditEntry>,
) -> StoreResult<()> {
    if let Some(entry) = entry {
        let mut batch = Batch::default();
        batch.insert(key(entry.at, db.generate_id()?), encode(entry)?);
        batches.push((TABLE, batch));
    }
    Ok(())
}

pub struct AuditLog {
    db: crate::backend::SharedBackend,
    tree: std::sync::Arc<dyn crate::backend::Table>,
}

pub(crate) fn key(at: i64, seq: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    // Offset so that a (theoretical) negative time still sorts before zero.
    k[..8].copy_from_slice(&((at as u64) ^ (1 << 63)).to_be_bytes());
    k[8..].copy_from_slice(&seq.to_be_bytes());
    k
}

impl AuditLog {
    pub fn open(db: &crate::backend::SharedBackend) -> StoreResult<Self> {
        Ok(Self { db: db.clone(), tree: db.table(TABLE)? })
    }

    /// The write that records `entry`, for a store to apply with its own change
    /// (`Backend::apply_across` with [`TABLE`]); and the key, to take it back with an undo.
    pub fn batch(&self, entry: &AuditEntry) -> StoreResult<(Batch, [u8; 16])> {
        let k = key(entry.at, self.db.generate_id()?);
        let mut batch = Batch::default();
        batch.insert(k, encode(entry)?);
        Ok((batch, k))
    }

    /// Records `entry` alone (what changes nothing else in the store).
    pub fn record(&self, entry: &AuditEntry) -> StoreResult<()> {
        self.record_soon(entry)?;
        self.db.flush()
    }

    /// Records `entry` alone, made durable by the store's own periodic flush (sled's, every
    /// half second) rather than now: for what any client can cause at will (a failed sign-in),
    /// so that a burst of them from many addresses is not a burst of disk syncs.
    pub fn record_soon(&self, entry: &AuditEntry) -> StoreResult<()> {
        let (batch, _) = self.batch(entry)?;
        self.tree.apply(batch)
    }

    /// Takes back an entry whose change was undone.
    pub fn take_back(&self, key: [u8; 16]) -> StoreResult<()> {
        self.tree.remove(key)?;
        Ok(())
    }

    /// Entries matching `q`, newest first, at most `q.limit`.
    pub fn query(&self, q: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        let from = key(q.from.unwrap_or(i64::MIN), 0);
        let to = key(q.to.unwrap_or(i64::MAX), u64::MAX);
        let mut out = Vec::new();
        for entry in self.tree.range(from..=to).values().rev() {
            if out.len() >= q.limit {
                break;
            }
            let e: AuditEntry = decode(|| "an audit entry".into(), &entry?)?;
            if q.actor.as_ref().is_some_and(|a| *a != e.actor)
                || q.action.as_ref().is_some_and(|a| !e.action.starts_with(a.as_str()))
            {
                continue;
            }
            out.push(e);
        }
        Ok(out)
    }

    /// Every entry from `from` to `to`, oldest first, handed to `each` (the export).
    pub fn each(
        &self,
        from: Option<i64>,
        to: Option<i64>,
        mut each: impl FnMut(AuditEntry) -> std::io::Result<()>,
    ) -> StoreResult<()> {
        let range = key(from.unwrap_or(i64::MIN), 0)..=key(to.unwrap_or(i64::MAX), u64::MAX);
        for entry in self.tree.range(range).values() {
            let e: AuditEntry = decode(|| "an audit entry".into(), &entry?)?;
            each(e).map_err(|e| crate::store_error::StoreError::io("the audit export", e))?;
        }
        Ok(())
    }

    /// Forgets entries older than `cutoff` (retention); how many.
    pub fn forget_before(&self, cutoff: i64) -> StoreResult<usize> {
        let mut batch = Batch::default();
        let mut n = 0;
        for k in self.tree.range(..key(cutoff, 0)).keys() {
            batch.remove(k?);
            n += 1;
        }
        if n > 0 {
            self.tree.apply(batch)?;
            self.db.flush()?;
        }
        Ok(n)
    }

    pub fn len(&self) -> usize {
        self.tree.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(at: i64, actor: &str, action: &str) -> AuditEntry {
        let mut changes = Map::new();
        changes.insert("role".into(), "viewer".into());
        changes.insert("password".into(), "hunter2 hunter2".into());
        AuditEntry::new(at, (actor.into(), ActorKind::User), "127.0.0.1".into(), action, "x", changes)
    }

    #[test]
    fn entries_come_back_newest_first_filtered_and_without_secrets() {
        let log = AuditLog::open(&crate::backend::temporary_sled()).unwrap();
        for (at, actor, action) in
            [(10, "ada", "user.add"), (20, "bob", "repository.create"), (30, "ada", "repository.delete")]
        {
            log.record(&entry(at, actor, action)).unwrap();
        }
        let all = log.query(&AuditQuery { limit: 10, ..Default::default() }).unwrap();
        assert_eq!(all.iter().map(|e| e.at).collect::<Vec<_>>(), [30, 20, 10]);
        assert!(all.iter().all(|e| !e.changes.contains_key("password") && e.changes["role"] == "viewer"));
        let ada = log.query(&AuditQuery { actor: Some("ada".into()), limit: 10, ..Default::default() }).unwrap();
        assert_eq!(ada.len(), 2);
        let repos = log
            .query(&AuditQuery { action: Some("repository".into()), from: Some(25), limit: 10, ..Default::default() })
            .unwrap();
        assert_eq!(repos.iter().map(|e| e.at).collect::<Vec<_>>(), [30]);
        assert_eq!(log.query(&AuditQuery { limit: 1, ..Default::default() }).unwrap().len(), 1);
        assert_eq!(log.forget_before(20).unwrap(), 1);
        assert_eq!(log.len(), 2);
    }
}
