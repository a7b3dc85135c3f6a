//! The alerts that fired: each repository named in a sent alert, with the kind, the time and
//! what the alert said, newest kept. The channels (mail, webhook, Apprise) tell people once;
//! this is where a page reads back what they were told, and when. Bounded: the newest
//! [`KEEP`] entries, so a host with thousands of late repositories cannot grow it without end.

use serde::{Deserialize, Serialize};

use crate::store_error::{decode, encode, StoreResult};

/// How many entries are kept.
pub const KEEP: usize = 2000;

/// One repository in one alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiredAlert {
    /// Unix seconds it was sent.
    pub at: i64,
    /// `late`, `recovered`, `quota`, `shrink`, `growth` or `verifyFailed`.
    pub kind: String,
    pub repository_name: String,
    pub alias: String,
    /// What the alert said about this repository.
    pub message: String,
    /// The channels that delivered it (empty when none is configured or none delivered).
    pub delivered_by: Vec<String>,
}

pub struct AlertLog {
    db: crate::backend::SharedBackend,
    tree: std::sync::Arc<dyn crate::backend::Table>,
    /// How many entries the tree holds: counted once at opening, since a table's `len`
    /// walks the whole tree. Also serialises [`AlertLog::add`].
    len: std::sync::Mutex<usize>,
}

impl AlertLog {
    pub fn open(db: &crate::backend::SharedBackend) -> StoreResult<Self> {
        let tree = db.table("alert_log")?;
        let len = std::sync::Mutex::new(tree.len());
        Ok(AlertLog { db: db.clone(), tree, len })
    }

    /// Counts the entries again, after another server sharing the database added some (the
    /// one running the alerts before this one took the work over).
    pub fn reload(&self) {
        let mut len = self.len.lock().unwrap_or_else(|p| p.into_inner());
        *len = self.tree.len();
    }

    /// Adds the entries of one sent alert, and forgets the oldest past [`KEEP`]. The work is
    /// bounded by [`KEEP`] whatever the alert's size: when every repository of a large host is
    /// late at once (after an outage, or an import), only the last [`KEEP`] of its entries
    /// are written, and the oldest go in the same batch.
    pub fn add(&self, entries: &[FiredAlert]) -> StoreResult<()> {
        let entries = &entries[entries.len().saturating_sub(KEEP)..];
        let mut len = self.len.lock().unwrap_or_else(|p| p.into_inner());
        let mut batch = crate::backend::Batch::default();
        let extra = (*len + entries.len()).saturating_sub(KEEP);
        for key in self.tree.iter().keys().take(extra) {
            batch.remove(key?);
        }
        for e in entries {
            // Keys in the order written: sled's ids only grow.
            batch.insert(self.db.generate_id()?.to_be_bytes(), encode(e)?);
        }
        self.tree.apply(batch)?;
        *len = *len + entries.len() - extra.min(*len);
        Ok(())
    }

    /// The newest first, at most `limit`, of one repository or all.
    pub fn newest(&self, limit: usize, repository_name: Option<&str>) -> StoreResult<Vec<FiredAlert>> {
        let mut out = Vec::new();
        for entry in self.tree.iter().rev() {
            if out.len() >= limit {
                break;
            }
            let (_, v) = entry?;
            let alert: FiredAlert = decode(|| "fired alert".into(), &v)?;
            if repository_name.is_none_or(|n| n == alert.repository_name) {
                out.push(alert);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fired(at: i64, name: &str) -> FiredAlert {
        FiredAlert {
            at,
            kind: "late".into(),
            repository_name: name.into(),
            alias: name.into(),
            message: String::new(),
            delivered_by: vec!["email".into()],
        }
    }

    #[test]
    fn newest_first_bounded_and_by_repository() {
        let log = AlertLog::open(&crate::backend::temporary_sled()).unwrap();
        log.add(&[fired(1, "aaaaaaaa"), fired(1, "bbbbbbbb")]).unwrap();
        log.add(&[fired(2, "aaaaaaaa")]).unwrap();
        let all = log.newest(10, None).unwrap();
        assert_eq!(
            all.iter().map(|a| (a.at, a.repository_name.as_str())).collect::<Vec<_>>(),
            [(2, "aaaaaaaa"), (1, "bbbbbbbb"), (1, "aaaaaaaa")]
        );
        assert_eq!(log.newest(10, Some("bbbbbbbb")).unwrap().len(), 1);
        assert_eq!(log.newest(1, None).unwrap()[0].at, 2);
        let many: Vec<FiredAlert> = (0..KEEP as i64 + 5).map(|i| fired(10 + i, "cccccccc")).collect();
        log.add(&many).unwrap();
        assert_eq!(log.tree.len(), KEEP);
        assert_eq!(log.newest(1, None).unwrap()[0].at, 10 + KEEP as i64 + 4);
        assert!(log.newest(KEEP, Some("aaaaaaaa")).unwrap().is_empty(), "the oldest went first");
    }

    /// Every repository of a large host late at once: the newest entries are kept, the count
    /// stays right across openings, and the log never holds more than it keeps.
    #[test]
    fn an_alert_larger_than_the_log_keeps_its_last_entries() {
        let db = crate::backend::temporary_sled();
        let log = AlertLog::open(&db).unwrap();
        log.add(&[fired(1, "aaaaaaaa")]).unwrap();
        let all_late: Vec<FiredAlert> = (0..100_000).map(|i| fired(2, &format!("{i:08x}"))).collect();
        log.add(&all_late).unwrap();
        assert_eq!(log.tree.len(), KEEP);
        assert_eq!(*log.len.lock().unwrap(), KEEP);
        assert_eq!(log.newest(1, None).unwrap()[0].repository_name, format!("{:08x}", 99_999));
        assert!(log.newest(KEEP, Some("aaaaaaaa")).unwrap().is_empty());
        let reopened = AlertLog::open(&db).unwrap();
        reopened.add(&[fired(3, "bbbbbbbb")]).unwrap();
        assert_eq!(reopened.tree.len(), KEEP);
        assert_eq!(reopened.newest(1, None).unwrap()[0].repository_name, "bbbbbbbb");
    }
}
