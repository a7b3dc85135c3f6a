//! What other servers sharing the database changed, taken into this server's index: the
//! records a notification names are read again one by one (a full read of 100,000 records
//! takes seconds, so at each change of another server it would leave this one's lists
//! behind), and the change count they told keeps this server's next change from reading
//! everything again ([`super::change_lock`]).

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use super::{change_count, decode_record, id_key, RepoStore, META_TABLE, REPOS_TABLE};
use crate::backend::Change;
use crate::store_error::StoreResult;

impl RepoStore {
    /// Takes in `heard`, other servers' writes in the order they committed: the records they
    /// name read again, or all of them when one names none (a batch of many, notifications
    /// lost); and the change count they show. Whether the index changed. Blocking: call it
    /// from a thread of its own, never from an async task.
    pub fn take_in(&self, heard: &[Change]) -> StoreResult<bool> {
        let (mut ids, mut whole, mut counted) = (BTreeSet::new(), false, None::<u64>);
        for change in heard {
            match change.table.as_str() {
                "*" => whole = true,
                REPOS_TABLE => match change.key.as_deref().and_then(|k| <[u8; 8]>::try_from(k).ok()) {
                    Some(id) => {
                        ids.insert(u64::from_be_bytes(id));
                    }
                    None => whole = true,
                },
                // A change's count, written once its records were: every record of the
                // changes it counts was named before it.
                META_TABLE if change.key.as_deref() == Some(change_count::CHANGES) => {
                    if let Some(value) = &change.value {
                        let (count, under_way) = change_count::changes_of(Some(value));
                        if !under_way {
                            counted = Some(counted.map_or(count, |c| c.max(count)));
                        }
                    }
                }
                _ => {}
            }
        }
        if whole {
            self.reload()?;
            return Ok(true);
        }
        if ids.is_empty() && counted.is_none() {
            return Ok(false);
        }
        self.reload_records(&ids, counted)?;
        Ok(true)
    }

    /// Reads the records `ids` again into the index (keeping the check figures it holds), and
    /// takes `counted` as a count of changes the index now shows.
    fn reload_records(&self, ids: &BTreeSet<u64>, counted: Option<u64>) -> StoreResult<()> {
        let _writing = self.write.blocking_lock();
        let mut read = Vec::with_capacity(ids.len());
        for &id in ids {
            let record = match self.repos.get(id_key(id))? {
                Some(v) => Some(decode_record(|| format!("repository {id}"), &v)?),
                None => None,
            };
            read.push((id, record));
        }
        let mut index = self.index_mut();
        for (id, record) in read {
            match record {
                Some(repo) => {
                    let scan = index.scan_of(id);
                    index.put(&repo);
                    if let Some(scan) = scan {
                        index.set_scan(id, scan);
                    }
                }
                None => {
                    index.remove(id);
                }
            }
        }
        drop(index);
        if let Some(count) = counted {
            self.changes_seen.fetch_max(count, Ordering::AcqRel);
        }
        Ok(())
    }
}
