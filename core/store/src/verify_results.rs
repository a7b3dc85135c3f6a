//! Each repository's last verify (`borg check --repository-only` run by the server): when, whether
//! it passed, and borg's message. One small record per repository, also held in memory for the
//! repository objects and `/metrics`.

use std::collections::HashMap;
use std::sync::{RwLock, RwLockReadGuard};

use serde::{Deserialize, Serialize};

use crate::store_error::{decode, encode, StoreResult};

/// A repository's last verify, as `lastVerify` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastVerify {
    /// Unix seconds of its end.
    pub at: i64,
    pub ok: bool,
    /// What borg said: empty when it passed.
    pub message: String,
}

pub struct VerifyResults {
    tree: std::sync::Arc<dyn crate::backend::Table>,
    last: RwLock<HashMap<u64, LastVerify>>,
}

impl VerifyResults {
    pub fn open(db: &crate::backend::SharedBackend) -> StoreResult<Self> {
        let tree = db.table("verify_results")?;
        let last = RwLock::new(Self::read(&*tree)?);
        Ok(VerifyResults { tree, last })
    }

    fn read(tree: &dyn crate::backend::Table) -> StoreResult<HashMap<u64, LastVerify>> {
        let mut last = HashMap::new();
        for entry in tree.iter() {
            let (k, v) = entry?;
            if let Ok(id) = <[u8; 8]>::try_from(&k[..]) {
                let id = u64::from_be_bytes(id);
                last.insert(id, decode(|| format!("verify result of repository {id}"), &v)?);
            }
        }
        Ok(last)
    }

    /// Reads the results again, after another server sharing the database wrote one.
    pub fn reload(&self) -> StoreResult<()> {
        let last = Self::read(&*self.tree)?;
        *self.last.write().unwrap_or_else(|p| p.into_inner()) = last;
        Ok(())
    }

    pub fn get(&self, id: u64) -> Option<LastVerify> {
        self.all().get(&id).cloned()
    }

    /// Every repository's last verify (those verified at least once).
    pub fn all(&self) -> RwLockReadGuard<'_, HashMap<u64, LastVerify>> {
        self.last.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set(&self, id: u64, result: LastVerify) -> StoreResult<()> {
        self.tree.insert(id.to_be_bytes(), &encode(&result)?)?;
        self.last.write().unwrap_or_else(|p| p.into_inner()).insert(id, result);
        Ok(())
    }

    /// Forgets a deleted repository's result.
    pub fn remove_repository(&self, id: u64) -> StoreResult<()> {
        self.tree.remove(id.to_be_bytes())?;
        self.last.write().unwrap_or_else(|p| p.into_inner()).remove(&id);
        Ok(())
    }
}

#[cfg(any(test, feature = "conformance"))]
pub(crate) mod checks {
    use super::*;

    /// Run on every backend by [`crate::conformance`].
    pub(crate) fn results_survive_a_reopen(db: &crate::backend::SharedBackend) {
        let results = VerifyResults::open(db).unwrap();
        assert_eq!(results.get(1), None);
        results.set(1, LastVerify { at: 5, ok: false, message: "segment 3 damaged".into() }).unwrap();
        results.set(2, LastVerify { at: 6, ok: true, message: String::new() }).unwrap();
        results.remove_repository(2).unwrap();
        drop(results);
        let results = VerifyResults::open(db).unwrap();
        assert_eq!(results.get(1).map(|r| (r.at, r.ok)), Some((5, false)));
        assert_eq!(results.get(2), None);
    }
}
