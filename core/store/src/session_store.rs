//! The sessions the server took in from the spool, per repository, newest kept: what a client
//! did and when, for `GET …/sessions`. Each session is one small record keyed by repository id
//! and end time, so a repository's newest are one reverse prefix scan.

use serde::{Deserialize, Serialize};

use crate::store_error::{decode, encode, StoreResult};

/// How many sessions are kept per repository (the contract asks for at least 50).
pub const KEPT_PER_REPOSITORY: usize = 100;

/// One ended session of a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// The id of the key the client used (empty for a line written before keys had ids).
    pub key_id: String,
    /// Unix seconds.
    pub started_at: i64,
    pub ended_at: i64,
    /// borg's exit code (128 + the signal that ended it).
    pub exit_code: i32,
    /// The client's address as sshd saw it (`SSH_CLIENT`).
    pub client: String,
    /// Whether the session committed a change to the repository; `None` when the recorder did
    /// not say (an older recorder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrote: Option<bool>,
}

/// A repository's newest session, in short: what `/metrics` shows of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastSession {
    pub ended_at: i64,
    pub exit_code: i32,
}

pub struct SessionStore {
    db: crate::backend::SharedBackend,
    tree: std::sync::Arc<dyn crate::backend::Table>,
    /// Each repository's newest session (id -> 12 bytes), also held in `last` for scrapes.
    last_tree: std::sync::Arc<dyn crate::backend::Table>,
    last: std::sync::RwLock<std::collections::HashMap<u64, LastSession>>,
}

fn last_of(bytes: &[u8]) -> Option<LastSession> {
    let ended_at = i64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
    let exit_code = i32::from_be_bytes(bytes.get(8..12)?.try_into().ok()?);
    Some(LastSession { ended_at, exit_code })
}

/// `id`, then the end time made to sort as unsigned, then a sequence number (two sessions may
/// end in one second).
fn key(repo_id: u64, ended_at: i64, seq: u64) -> [u8; 24] {
    let mut k = [0u8; 24];
    k[..8].copy_from_slice(&repo_id.to_be_bytes());
    k[8..16].copy_from_slice(&((ended_at as u64) ^ (1 << 63)).to_be_bytes());
    k[16..].copy_from_slice(&seq.to_be_bytes());
    k
}

impl SessionStore {
    pub fn open(db: &crate::backend::SharedBackend) -> StoreResult<Self> {
        let last_tree = db.table("last_session")?;
        let last = Self::read_last(&*last_tree)?.into();
        Ok(SessionStore { db: db.clone(), tree: db.table("sessions")?, last_tree, last })
    }

    fn read_last(last_tree: &dyn crate::backend::Table) -> StoreResult<std::collections::HashMap<u64, LastSession>> {
        let mut last = std::collections::HashMap::new();
        for entry in last_tree.iter() {
            let (k, v) = entry?;
            if let (Ok(id), Some(l)) = (<[u8; 8]>::try_from(&k[..]), last_of(&v)) {
                last.insert(u64::from_be_bytes(id), l);
            }
        }
        Ok(last)
    }

    /// Reads each repository's newest session again, after the server taking sessions in on a
    /// database this one shares recorded one.
    pub fn reload(&self) -> StoreResult<()> {
        let last = Self::read_last(&*self.last_tree)?;
        *self.last.write().unwrap_or_else(|p| p.into_inner()) = last;
        Ok(())
    }

    /// Every repository's newest session (only repositories that had one), read at once.
    pub fn last_sessions(&self) -> std::sync::RwLockReadGuard<'_, std::collections::HashMap<u64, LastSession>> {
        self.last.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps `session` for the repository `repo_id`, and lets its oldest go past
    /// [`KEPT_PER_REPOSITORY`].
    pub fn record(&self, repo_id: u64, session: &Session) -> StoreResult<()> {
        let seq = self.db.generate_id()?;
        self.tree.insert(key(repo_id, session.ended_at, seq), encode(session)?)?;
        let kept: Vec<crate::backend::Bytes> =
            self.tree.scan_prefix(repo_id.to_be_bytes()).keys().collect::<Result<_, _>>()?;
        for old in kept.iter().take(kept.len().saturating_sub(KEPT_PER_REPOSITORY)) {
            self.tree.remove(old)?;
        }
        let newer = self.last_sessions().get(&repo_id).is_none_or(|l| l.ended_at <= session.ended_at);
        if newer {
            let mut value = session.ended_at.to_be_bytes().to_vec();
            value.extend_from_slice(&session.exit_code.to_be_bytes());
            self.last_tree.insert(repo_id.to_be_bytes(), value)?;
            let last = LastSession { ended_at: session.ended_at, exit_code: session.exit_code };
            self.last.write().unwrap_or_else(|p| p.into_inner()).insert(repo_id, last);
        }
        Ok(())
    }

    /// The repository's newest `limit` sessions, newest first.
    pub fn newest(&self, repo_id: u64, limit: usize) -> StoreResult<Vec<Session>> {
        self.tree
            .scan_prefix(repo_id.to_be_bytes())
            .values()
            .rev()
            .take(limit)
            .map(|v| decode(|| format!("session of repository {repo_id}"), &v?))
            .collect()
    }

    /// Forgets the sessions of a deleted repository.
    pub fn remove_repository(&self, repo_id: u64) -> StoreResult<()> {
        for k in self.tree.scan_prefix(repo_id.to_be_bytes()).keys() {
            self.tree.remove(k?)?;
        }
        self.last_tree.remove(repo_id.to_be_bytes())?;
        self.last.write().unwrap_or_else(|p| p.into_inner()).remove(&repo_id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(ended_at: i64) -> Session {
        Session {
            key_id: "k".into(),
            started_at: ended_at - 5,
            ended_at,
            exit_code: 0,
            client: "c".into(),
            wrote: Some(true),
        }
    }

    #[test]
    fn newest_first_per_repository_and_the_oldest_let_go() {
        let dir = tempfile::tempdir().unwrap();
        let db: crate::backend::SharedBackend =
            std::sync::Arc::new(crate::backend::SledBackend::open(dir.path(), 1 << 20).unwrap());
        let store = SessionStore::open(&db).unwrap();
        for t in [30, 10, 20, 20] {
            store.record(1, &session(t)).unwrap();
        }
        store.record(2, &session(15)).unwrap();
        let ends: Vec<i64> = store.newest(1, 10).unwrap().iter().map(|s| s.ended_at).collect();
        assert_eq!(ends, [30, 20, 20, 10]);
        assert_eq!(store.newest(1, 1).unwrap()[0].ended_at, 30);
        assert_eq!(store.newest(2, 10).unwrap().len(), 1);

        for t in 100..(100 + KEPT_PER_REPOSITORY as i64 + 5) {
            store.record(3, &session(t)).unwrap();
        }
        let kept = store.newest(3, 1000).unwrap();
        assert_eq!(kept.len(), KEPT_PER_REPOSITORY);
        assert_eq!(kept.last().unwrap().ended_at, 105, "the five oldest went");

        // The newest of each, kept across an opening, whatever order they came in.
        let last = |store: &SessionStore, id| store.last_sessions().get(&id).copied();
        assert_eq!(last(&store, 1), Some(LastSession { ended_at: 30, exit_code: 0 }));
        drop(store);
        let store = SessionStore::open(&db).unwrap();
        assert_eq!(last(&store, 1).map(|l| l.ended_at), Some(30));
        assert_eq!(last(&store, 3).map(|l| l.ended_at), Some(100 + KEPT_PER_REPOSITORY as i64 + 4));

        store.remove_repository(1).unwrap();
        assert!(store.newest(1, 10).unwrap().is_empty());
        assert_eq!(last(&store, 1), None);
        assert_eq!(store.newest(2, 10).unwrap().len(), 1);
    }
}
