//! A backend that keeps its tables in memory and nothing past the process: the stores' tests
//! run on it beside sled, and it shows that nothing above the seam depends on sled.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::seam::{Backend, Batch, Bytes, Entries, FlushFuture, Table};
use crate::store_error::StoreResult;

type Map = BTreeMap<Vec<u8>, Bytes>;

#[derive(Default)]
pub struct InMemoryBackend {
    tables: Mutex<BTreeMap<String, Arc<MemoryTable>>>,
    ids: AtomicU64,
}

impl InMemoryBackend {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn memory_table(&self, name: &str) -> Arc<MemoryTable> {
        self.tables.lock().unwrap_or_else(|p| p.into_inner()).entry(name.to_string()).or_default().clone()
    }
}

#[derive(Default)]
struct MemoryTable {
    map: RwLock<Map>,
}

impl MemoryTable {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Map> {
        self.map.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Map> {
        self.map.write().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the entries in range, so that no lock outlives the call.
    fn snapshot(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Entries<'_> {
        let items: Vec<StoreResult<(Bytes, Bytes)>> =
            self.read().range::<[u8], _>((from, to)).map(|(k, v)| Ok((Bytes::from(k.as_slice()), v.clone()))).collect();
        Entries::new(items.into_iter())
    }
}

fn apply_to(map: &mut Map, batch: &Batch) {
    for (k, v) in batch.writes() {
        match v {
            Some(v) => map.insert(k.to_vec(), Bytes::from(v)),
            None => map.remove(k),
        };
    }
}

impl Table for MemoryTable {
    fn get_raw(&self, key: &[u8]) -> StoreResult<Option<Bytes>> {
        Ok(self.read().get(key).cloned())
    }

    fn insert_raw(&self, key: &[u8], value: &[u8]) -> StoreResult<()> {
        self.write().insert(key.to_vec(), Bytes::from(value));
        Ok(())
    }

    fn remove_raw(&self, key: &[u8]) -> StoreResult<bool> {
        Ok(self.write().remove(key).is_some())
    }

    fn compare_and_swap_raw(&self, key: &[u8], old: Option<&[u8]>, new: Option<&[u8]>) -> StoreResult<bool> {
        let mut map = self.write();
        if map.get(key).map(|v| &v[..]) != old {
            return Ok(false);
        }
        match new {
            Some(v) => map.insert(key.to_vec(), Bytes::from(v)),
            None => map.remove(key),
        };
        Ok(true)
    }

    fn range_raw(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Entries<'_> {
        self.snapshot(from, to)
    }

    fn prefix_raw(&self, prefix: &[u8]) -> Entries<'_> {
        let items: Vec<StoreResult<(Bytes, Bytes)>> = self
            .read()
            .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| Ok((Bytes::from(k.as_slice()), v.clone())))
            .collect();
        Entries::new(items.into_iter())
    }

    fn apply(&self, batch: Batch) -> StoreResult<()> {
        apply_to(&mut self.write(), &batch);
        Ok(())
    }

    fn len(&self) -> usize {
        self.read().len()
    }

    fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    fn clear(&self) -> StoreResult<()> {
        self.write().clear();
        Ok(())
    }
}

impl Backend for InMemoryBackend {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn table(&self, name: &str) -> StoreResult<Arc<dyn Table>> {
        Ok(self.memory_table(name))
    }

    fn apply_across(&self, batches: Vec<(&str, Batch)>) -> StoreResult<()> {
        let mut tables: Vec<(Arc<MemoryTable>, Batch)> =
            batches.into_iter().map(|(name, b)| (self.memory_table(name), b)).collect();
        // Every table's lock taken before any write, in one order: all or none, no deadlock.
        tables.sort_by_key(|(t, _)| Arc::as_ptr(t) as usize);
        let mut guards: Vec<_> = Vec::new();
        for (i, (t, _)) in tables.iter().enumerate() {
            if i == 0 || !Arc::ptr_eq(t, &tables[i - 1].0) {
                guards.push((Arc::as_ptr(t) as usize, t.write()));
            }
        }
        for (t, batch) in &tables {
            let key = Arc::as_ptr(t) as usize;
            let (_, map) = guards.iter_mut().find(|(p, _)| *p == key).expect("locked above");
            apply_to(map, batch);
        }
        Ok(())
    }

    fn generate_id(&self) -> StoreResult<u64> {
        Ok(self.ids.fetch_add(1, Ordering::Relaxed))
    }

    fn flush(&self) -> StoreResult<()> {
        Ok(())
    }

    fn flush_async(&self) -> FlushFuture<'_> {
        Box::pin(async { Ok(()) })
    }

    fn healthy(&self) -> bool {
        true
    }

    fn table_names(&self) -> StoreResult<Vec<String>> {
        Ok(self.tables.lock().unwrap_or_else(|p| p.into_inner()).keys().cloned().collect())
    }
}
