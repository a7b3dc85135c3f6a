//! The seam itself: tables of bytes ([`Table`]), writes applied whole ([`Batch`]), and what
//! holds across tables ([`Backend`]). The backends below implement it; nothing here knows them.

use std::future::Future;
use std::ops::{Bound, Deref};
use std::pin::Pin;
use std::sync::Arc;

use crate::store_error::StoreResult;

/// Bytes a backend hands back (a key or a value). Cheap to clone; a backend may share them
/// with its own cache.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bytes(pub(super) sled::IVec);

impl Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", &self.0[..])
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Self {
        Bytes(v.into())
    }
}

impl From<&[u8]> for Bytes {
    fn from(v: &[u8]) -> Self {
        Bytes(v.into())
    }
}

/// Entries of a table in key order; reversible (newest first, for keys that grow with time).
pub struct Entries<'a>(Box<dyn DoubleEndedIterator<Item = StoreResult<(Bytes, Bytes)>> + Send + 'a>);

impl<'a> Entries<'a> {
    pub fn new(iter: impl DoubleEndedIterator<Item = StoreResult<(Bytes, Bytes)>> + Send + 'a) -> Self {
        Entries(Box::new(iter))
    }

    /// The keys only.
    pub fn keys(self) -> impl DoubleEndedIterator<Item = StoreResult<Bytes>> + Send + 'a {
        self.0.map(|e| e.map(|(k, _)| k))
    }

    /// The values only.
    pub fn values(self) -> impl DoubleEndedIterator<Item = StoreResult<Bytes>> + Send + 'a {
        self.0.map(|e| e.map(|(_, v)| v))
    }
}

impl Iterator for Entries<'_> {
    type Item = StoreResult<(Bytes, Bytes)>;
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next()
    }
}

impl DoubleEndedIterator for Entries<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back()
    }
}

/// Writes to one table, applied all or none.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    writes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl Batch {
    pub fn insert(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.writes.push((key.as_ref().to_vec(), Some(value.as_ref().to_vec())));
    }

    pub fn remove(&mut self, key: impl AsRef<[u8]>) {
        self.writes.push((key.as_ref().to_vec(), None));
    }

    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Each write in order: the key, and the value (`None` removes).
    pub fn writes(&self) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> {
        self.writes.iter().map(|(k, v)| (&k[..], v.as_deref()))
    }
}

/// One table: an ordered map of bytes to bytes. Each call is atomic; several calls are not
/// (use [`Table::apply`] or [`Backend::apply_across`]). The stores call the methods of
/// `dyn Table` below, which take any bytes and Rust ranges.
pub trait Table: Send + Sync {
    fn get_raw(&self, key: &[u8]) -> StoreResult<Option<Bytes>>;
    fn insert_raw(&self, key: &[u8], value: &[u8]) -> StoreResult<()>;
    /// Whether there was a value.
    fn remove_raw(&self, key: &[u8]) -> StoreResult<bool>;
    fn contains_raw(&self, key: &[u8]) -> StoreResult<bool> {
        Ok(self.get_raw(key)?.is_some())
    }
    /// Sets `new` if the value is `old` now (`None`: absent); whether it did.
    fn compare_and_swap_raw(&self, key: &[u8], old: Option<&[u8]>, new: Option<&[u8]>) -> StoreResult<bool>;
    /// Entries from `from` to `to`, in key order.
    fn range_raw(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Entries<'_>;
    /// Entries whose key starts with `prefix`, in key order.
    fn prefix_raw(&self, prefix: &[u8]) -> Entries<'_>;
    /// Applies every write of `batch`, or none.
    fn apply(&self, batch: Batch) -> StoreResult<()>;
    /// Every key, in order, without the values (a table of large values lists its keys
    /// without reading them). The default reads the entries and drops the values.
    fn keys_raw(&self) -> StoreResult<Vec<Bytes>> {
        self.range_raw(Bound::Unbounded, Bound::Unbounded).keys().collect()
    }
    /// `len` bytes of the value at `key` from `offset` (fewer when the value ends before),
    /// `None` when there is no value. A backend that can read part of a value without the
    /// rest says so here (PostgreSQL); the others read it whole and cut.
    fn get_part_raw(&self, key: &[u8], offset: u64, len: usize) -> StoreResult<Option<Bytes>> {
        Ok(self.get_raw(key)?.map(|v| {
            let from = (offset as usize).min(v.len());
            Bytes::from(&v[from..(from + len).min(v.len())])
        }))
    }
    /// How many entries (may walk the table: count once and keep the count).
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool;
    fn clear(&self) -> StoreResult<()>;
}

impl dyn Table + '_ {
    pub fn get(&self, key: impl AsRef<[u8]>) -> StoreResult<Option<Bytes>> {
        self.get_raw(key.as_ref())
    }

    pub fn insert(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> StoreResult<()> {
        self.insert_raw(key.as_ref(), value.as_ref())
    }

    /// Whether there was a value.
    pub fn remove(&self, key: impl AsRef<[u8]>) -> StoreResult<bool> {
        self.remove_raw(key.as_ref())
    }

    pub fn contains_key(&self, key: impl AsRef<[u8]>) -> StoreResult<bool> {
        self.contains_raw(key.as_ref())
    }

    pub fn compare_and_swap(&self, key: impl AsRef<[u8]>, old: Option<&[u8]>, new: Option<&[u8]>) -> StoreResult<bool> {
        self.compare_and_swap_raw(key.as_ref(), old, new)
    }

    /// Entries of a Rust range of keys (`a..b`, `a..=b`, `a..`), in key order.
    pub fn range<K: AsRef<[u8]>, R: std::ops::RangeBounds<K>>(&self, r: R) -> Entries<'_> {
        fn bound<K: AsRef<[u8]>>(b: Bound<&K>) -> Bound<&[u8]> {
            match b {
                Bound::Included(k) => Bound::Included(k.as_ref()),
                Bound::Excluded(k) => Bound::Excluded(k.as_ref()),
                Bound::Unbounded => Bound::Unbounded,
            }
        }
        self.range_raw(bound(r.start_bound()), bound(r.end_bound()))
    }

    pub fn iter(&self) -> Entries<'_> {
        self.range_raw(Bound::Unbounded, Bound::Unbounded)
    }

    pub fn scan_prefix(&self, prefix: impl AsRef<[u8]>) -> Entries<'_> {
        self.prefix_raw(prefix.as_ref())
    }

    /// The entry of the greatest key.
    pub fn last(&self) -> StoreResult<Option<(Bytes, Bytes)>> {
        self.iter().next_back().transpose()
    }

    /// The entry of the least key.
    pub fn first(&self) -> StoreResult<Option<(Bytes, Bytes)>> {
        self.iter().next().transpose()
    }
}

pub type FlushFuture<'a> = Pin<Box<dyn Future<Output = StoreResult<()>> + Send + 'a>>;

/// A store's tables, and what holds across them.
pub trait Backend: Send + Sync {
    /// The table named `name`, made empty when it does not exist.
    fn table(&self, name: &str) -> StoreResult<Arc<dyn Table>>;
    /// Applies each batch to its table (by name), all of them or none.
    fn apply_across(&self, batches: Vec<(&str, Batch)>) -> StoreResult<()>;
    /// An id greater than every id it gave before, across restarts.
    fn generate_id(&self) -> StoreResult<u64>;
    /// Makes every write so far durable.
    fn flush(&self) -> StoreResult<()>;
    /// [`Backend::flush`] off the caller's thread.
    fn flush_async(&self) -> FlushFuture<'_>;
    /// Whether the backend answers a read and a write now.
    fn healthy(&self) -> bool;
    /// The names of the tables that exist.
    fn table_names(&self) -> StoreResult<Vec<String>>;
    /// Calls `changed` with a table's name (and the key, for a write of one) each time another
    /// server sharing this backend's database commits a write to that table (this server's own writes are not told). A
    /// backend one process owns (sled, memory) has no other server, and never calls it.
    fn on_changes_elsewhere(&self, changed: ChangeListener) {
        let _ = changed;
    }
    /// Whether this server may run the periodic work now (checks, session intake, verify,
    /// alerts): with several servers on one database, one at a time holds it, and another
    /// takes it over when the holder stops. A backend one process owns always may.
    fn leads(&self) -> bool {
        true
    }
    /// Keeps every other server sharing this database out of the changes named `name` until
    /// the hold is dropped, waiting for one that holds them now: a server's own locks cannot
    /// stop two servers from giving one id twice, or one key to two repositories. A backend
    /// one process owns has no other server: `None`, at once. Blocking.
    fn hold_exclusive(&self, name: &str) -> StoreResult<Option<Hold>> {
        let _ = name;
        Ok(None)
    }
    /// How a database's connections and notifications are doing, for `/metrics`; `None` for
    /// a store one process owns.
    fn database_stats(&self) -> Option<DatabaseStats> {
        None
    }
    /// Whether other servers may share this store (a database): what a server keeps beside
    /// the store, in its own data folder, they would not see ([`crate::bulk`]).
    fn shared_by_servers(&self) -> bool {
        false
    }
    /// What the store is, for `/healthz`: `embedded`, `memory` or `postgresql`.
    fn kind(&self) -> &'static str;
}

/// A write another server committed, as [`Backend::on_changes_elsewhere`] tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The table's name; `*` for "anything may have changed" (notifications were lost).
    pub table: String,
    /// The key, when the write was of one key (a batch of several, or a table cleared, tells
    /// none).
    pub key: Option<Vec<u8>>,
    /// The key's new value, when it is short (64 bytes at most) and was not removed.
    pub value: Option<Vec<u8>>,
}

/// What [`Backend::on_changes_elsewhere`] calls, from a thread of the backend's.
pub type ChangeListener = Arc<dyn Fn(Change) + Send + Sync>;

/// What [`Backend::database_stats`] tells.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DatabaseStats {
    /// Connections the pool may open, has open, and lends out now.
    pub pool_max: u64,
    pub pool_open: u64,
    pub pool_in_use: u64,
    /// Calls waiting for a connection.
    pub pool_waiting: u64,
    /// Notifications of other servers' changes heard.
    pub notifications: u64,
    /// Seconds between the last one's commit and its hearing here (by the two servers'
    /// clocks); 0 before the first.
    pub notification_lag_seconds: f64,
}

/// What [`Backend::hold_exclusive`] gives: the hold lasts until it is dropped.
pub type Hold = Box<dyn Send + Sync>;

/// A backend as the stores hold it.
pub type SharedBackend = Arc<dyn Backend>;
