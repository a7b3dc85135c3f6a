//! What the health alerts remember so that each is sent once per event: the highest quota level
//! each repository was alerted at. The shrink and growth alerts need no memory (each compares
//! two points, and the next comparison starts from the new one).
//!
//! Only repositories past a level have a mark, so the map stays small; it is kept in sled as
//! well (id -> the percentage), so a restart sends no alert twice.

use std::collections::HashMap;
use std::sync::RwLock;

use crate::backend::{SharedBackend, Table};
use crate::store_error::StoreResult;

pub struct QuotaMarks {
    tree: std::sync::Arc<dyn Table>,
    levels: RwLock<HashMap<u64, u8>>,
}

impl QuotaMarks {
    pub fn open(db: &SharedBackend) -> StoreResult<Self> {
        let tree = db.table("health_quota_marks")?;
        let levels = RwLock::new(Self::read(&*tree)?);
        Ok(QuotaMarks { tree, levels })
    }

    fn read(tree: &dyn Table) -> StoreResult<HashMap<u64, u8>> {
        let mut levels = HashMap::new();
        for entry in tree.iter() {
            let (k, v) = entry?;
            if let (Ok(id), Some(&level)) = (<[u8; 8]>::try_from(&k[..]), v.first()) {
                levels.insert(u64::from_be_bytes(id), level);
            }
        }
        Ok(levels)
    }

    /// Reads the marks again, after another server sharing the database wrote them (the one
    /// running the alerts: the next to run them must not alert again at a level already told).
    pub fn reload(&self) -> StoreResult<()> {
        let levels = Self::read(&*self.tree)?;
        *self.levels.write().unwrap_or_else(|p| p.into_inner()) = levels;
        Ok(())
    }

    /// The percentage the repository was last alerted at; 0 when none.
    pub fn level(&self, id: u64) -> u8 {
        self.levels.read().unwrap_or_else(|p| p.into_inner()).get(&id).copied().unwrap_or(0)
    }

    /// Remembers the level the repository stands at (0 forgets it: below every level again).
    pub fn set(&self, id: u64, level: u8) -> StoreResult<()> {
        let mut levels = self.levels.write().unwrap_or_else(|p| p.into_inner());
        match level {
            0 => {
                if levels.remove(&id).is_some() {
                    self.tree.remove(id.to_be_bytes())?;
                }
            }
            _ => {
                if levels.insert(id, level) != Some(level) {
                    self.tree.insert(id.to_be_bytes(), [level])?;
                }
            }
        }
        Ok(())
    }

    /// Forgets a deleted repository.
    pub fn remove_repository(&self, id: u64) -> StoreResult<()> {
        self.set(id, 0)
    }
}

#[cfg(any(test, feature = "conformance"))]
pub(crate) mod checks {
    use super::*;

    /// Run on every backend by [`crate::conformance`].
    pub(crate) fn marks_survive_a_reopen_and_zero_forgets(db: &SharedBackend) {
        let marks = QuotaMarks::open(db).unwrap();
        assert_eq!(marks.level(1), 0);
        marks.set(1, 80).unwrap();
        marks.set(2, 95).unwrap();
        marks.set(2, 0).unwrap();
        drop(marks);
        let marks = QuotaMarks::open(db).unwrap();
        assert_eq!((marks.level(1), marks.level(2)), (80, 0));
        marks.remove_repository(1).unwrap();
        assert_eq!(QuotaMarks::open(db).unwrap().level(1), 0);
    }
}
