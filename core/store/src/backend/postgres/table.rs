//! The seam's [`Table`] over the one table of entries, and ranges read in chunks.

use std::collections::VecDeque;
use std::future::Future;
use std::ops::Bound;
use std::sync::Arc;

use super::connection::{backend_error, client, prepared};
use super::handle::PostgresBackend;
use super::notify::{notify, only_key};
use crate::backend::seam::{Batch, Bytes, Entries, Table};
use crate::store_error::StoreResult;

/// Rows read at a time by a range, from either end.
pub(super) const CHUNK: i64 = 512;

/// Applies `batch` to `table` inside `tx`, in order.
pub(super) async fn apply_in(tx: &deadpool_postgres::Transaction<'_>, table: &str, batch: &Batch) -> StoreResult<()> {
    let upsert = prepared(
        tx,
        "INSERT INTO bw_entries (tbl, k, v) VALUES ($1, $2, $3) ON CONFLICT (tbl, k) DO UPDATE SET v = EXCLUDED.v",
    )
    .await?;
    let delete = prepared(tx, "DELETE FROM bw_entries WHERE tbl = $1 AND k = $2").await?;
    for (k, v) in batch.writes() {
        match v {
            Some(v) => tx.execute(&upsert, &[&table, &k, &v]).await.map_err(backend_error)?,
            None => tx.execute(&delete, &[&table, &k]).await.map_err(backend_error)?,
        };
    }
    Ok(())
}

pub(super) struct PostgresTable {
    pub(super) backend: PostgresBackend,
    pub(super) name: Arc<str>,
}

impl PostgresTable {
    fn instance(&self) -> String {
        self.backend.inner.instance.clone()
    }
}

impl PostgresTable {
    /// Runs `work` with a connection and this table's name.
    fn with<T, F, Fut>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(deadpool_postgres::Object, Arc<str>) -> Fut + Send + 'static,
        Fut: Future<Output = StoreResult<T>> + Send,
    {
        let (pool, name) = (self.backend.pool(), self.name.clone());
        self.backend.run(async move { work(client(&pool).await?, name).await })
    }
}

impl Table for PostgresTable {
    fn get_raw(&self, key: &[u8]) -> StoreResult<Option<Bytes>> {
        let key = key.to_vec();
        self.with(move |db, tbl| async move {
            let get = prepared(&db, "SELECT v FROM bw_entries WHERE tbl = $1 AND k = $2").await?;
            let row = db.query_opt(&get, &[&&*tbl, &key]).await.map_err(backend_error)?;
            Ok(row.map(|r| Bytes::from(r.get::<_, Vec<u8>>(0))))
        })
    }

    fn get_part_raw(&self, key: &[u8], offset: u64, len: usize) -> StoreResult<Option<Bytes>> {
        let (key, from, len) = (key.to_vec(), offset as i64 + 1, len as i64);
        self.with(move |db, tbl| async move {
            let row = db
                .query_opt(
                    "SELECT substring(v FROM $3::int8::int4 FOR $4::int8::int4) FROM bw_entries WHERE tbl = $1 AND k = $2",
                    &[&&*tbl, &key, &from, &len],
                )
                .await
                .map_err(backend_error)?;
            Ok(row.map(|r| Bytes::from(r.get::<_, Vec<u8>>(0))))
        })
    }

    fn keys_raw(&self) -> StoreResult<Vec<Bytes>> {
        self.with(move |db, tbl| async move {
            let keys = prepared(&db, "SELECT k FROM bw_entries WHERE tbl = $1 ORDER BY k").await?;
            let rows = db.query(&keys, &[&&*tbl]).await.map_err(backend_error)?;
            Ok(rows.into_iter().map(|r| Bytes::from(r.get::<_, Vec<u8>>(0))).collect())
        })
    }

    fn insert_raw(&self, key: &[u8], value: &[u8]) -> StoreResult<()> {
        let mut batch = Batch::default();
        batch.insert(key, value);
        self.apply(batch)
    }

    fn remove_raw(&self, key: &[u8]) -> StoreResult<bool> {
        let (key, instance) = (key.to_vec(), self.instance());
        // The write and its notification in one transaction, as every write here: the other
        // servers hear of a change exactly when it is committed (a crash or a lost connection
        // between the two left them without it until their next change of their own).
        self.with(move |mut db, tbl| async move {
            let tx = db.transaction().await.map_err(backend_error)?;
            let delete = prepared(&tx, "DELETE FROM bw_entries WHERE tbl = $1 AND k = $2").await?;
            let n = tx.execute(&delete, &[&&*tbl, &key]).await.map_err(backend_error)?;
            if n > 0 {
                notify(&tx, &instance, &tbl, Some((&key, None))).await?;
            }
            tx.commit().await.map_err(backend_error)?;
            Ok(n > 0)
        })
    }

    fn compare_and_swap_raw(&self, key: &[u8], old: Option<&[u8]>, new: Option<&[u8]>) -> StoreResult<bool> {
        let (key, old, new) = (key.to_vec(), old.map(<[u8]>::to_vec), new.map(<[u8]>::to_vec));
        let instance = self.instance();
        self.with(move |mut db, tbl| async move {
            let tbl = &*tbl;
            let db = db.transaction().await.map_err(backend_error)?;
            // Each case is one statement, atomic in itself: a value changed meanwhile makes
            // it touch no row. Its notification is committed with it.
            let n = match (old, new.clone()) {
                (None, Some(new)) => {
                    let sql = "INSERT INTO bw_entries (tbl, k, v) VALUES ($1, $2, $3) ON CONFLICT (tbl, k) DO NOTHING";
                    db.execute(&prepared(&db, sql).await?, &[&tbl, &key, &new]).await.map_err(backend_error)?
                }
                (Some(old), Some(new)) => {
                    let sql = "UPDATE bw_entries SET v = $4 WHERE tbl = $1 AND k = $2 AND v = $3";
                    db.execute(&prepared(&db, sql).await?, &[&tbl, &key, &old, &new]).await.map_err(backend_error)?
                }
                (Some(old), None) => {
                    let sql = "DELETE FROM bw_entries WHERE tbl = $1 AND k = $2 AND v = $3";
                    db.execute(&prepared(&db, sql).await?, &[&tbl, &key, &old]).await.map_err(backend_error)?
                }
                // Absent, and to stay absent: whether it is.
                (None, None) => {
                    let sql = "SELECT 1 FROM bw_entries WHERE tbl = $1 AND k = $2";
                    let there = db.query_opt(&prepared(&db, sql).await?, &[&tbl, &key]).await.map_err(backend_error)?;
                    u64::from(there.is_none())
                }
            };
            if n == 1 {
                notify(&db, &instance, tbl, Some((&key, new.as_deref()))).await?;
            }
            db.commit().await.map_err(backend_error)?;
            Ok(n == 1)
        })
    }

    fn range_raw(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Entries<'_> {
        Entries::new(Range::new(self.backend.clone(), self.name.clone(), owned(from), owned(to)))
    }

    fn prefix_raw(&self, prefix: &[u8]) -> Entries<'_> {
        let to = match after_prefix(prefix) {
            Some(end) => Bound::Excluded(end),
            None => Bound::Unbounded,
        };
        Entries::new(Range::new(self.backend.clone(), self.name.clone(), Bound::Included(prefix.to_vec()), to))
    }

    fn apply(&self, batch: Batch) -> StoreResult<()> {
        let instance = self.instance();
        self.with(move |mut db, tbl| async move {
            let tx = db.transaction().await.map_err(backend_error)?;
            apply_in(&tx, &tbl, &batch).await?;
            notify(&tx, &instance, &tbl, only_key(&batch)).await?;
            tx.commit().await.map_err(backend_error)
        })
    }

    fn len(&self) -> usize {
        let counted = self.with(move |db, tbl| async move {
            let row = db
                .query_one("SELECT count(*) FROM bw_entries WHERE tbl = $1", &[&&*tbl])
                .await
                .map_err(backend_error)?;
            Ok(row.get::<_, i64>(0) as usize)
        });
        counted.unwrap_or_else(|e| {
            tracing::error!(error = %e, "the database did not count a table");
            0
        })
    }

    fn is_empty(&self) -> bool {
        let empty = self.with(move |db, tbl| async move {
            let row = db
                .query_opt("SELECT 1 FROM bw_entries WHERE tbl = $1 LIMIT 1", &[&&*tbl])
                .await
                .map_err(backend_error)?;
            Ok(row.is_none())
        });
        empty.unwrap_or(true)
    }

    fn clear(&self) -> StoreResult<()> {
        let instance = self.instance();
        self.with(move |mut db, tbl| async move {
            let tx = db.transaction().await.map_err(backend_error)?;
            tx.execute("DELETE FROM bw_entries WHERE tbl = $1", &[&&*tbl]).await.map_err(backend_error)?;
            notify(&tx, &instance, &tbl, None).await?;
            tx.commit().await.map_err(backend_error)
        })
    }
}

pub(super) fn owned(b: Bound<&[u8]>) -> Bound<Vec<u8>> {
    match b {
        Bound::Included(k) => Bound::Included(k.to_vec()),
        Bound::Excluded(k) => Bound::Excluded(k.to_vec()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// The least key after every key that starts with `prefix`; `None` when there is none (a
/// prefix of 0xff bytes only).
pub(super) fn after_prefix(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// A range read in chunks from either end, so that a long table is never held whole: the
/// bounds close in as chunks are read, and once a chunk comes back short, the rest of the range
/// is in the buffers.
pub(super) struct Range {
    backend: PostgresBackend,
    table: Arc<str>,
    lo: Bound<Vec<u8>>,
    hi: Bound<Vec<u8>>,
    /// Read from the front, in key order.
    front: VecDeque<(Bytes, Bytes)>,
    /// Read from the back, greatest key first.
    back: VecDeque<(Bytes, Bytes)>,
    /// Nothing is left between `lo` and `hi`.
    exhausted: bool,
    failed: bool,
}

impl Range {
    fn new(backend: PostgresBackend, table: Arc<str>, lo: Bound<Vec<u8>>, hi: Bound<Vec<u8>>) -> Range {
        Range { backend, table, lo, hi, front: VecDeque::new(), back: VecDeque::new(), exhausted: false, failed: false }
    }

    /// Reads the next chunk from the front (`ascending`) or the back; moves the bound in.
    fn fetch(&mut self, ascending: bool) -> StoreResult<()> {
        let (pool, table) = (self.backend.pool(), self.table.clone());
        let (lo, hi) = (self.lo.clone(), self.hi.clone());
        let rows = self.backend.run(async move {
            let db = client(&pool).await?;
            // The bounds as SQL: a missing one is no condition (`$n IS NULL`).
            let (lo_key, lo_incl) = bound_parts(&lo);
            let (hi_key, hi_incl) = bound_parts(&hi);
            let order = if ascending { "ASC" } else { "DESC" };
            let sql = format!(
                "SELECT k, v FROM bw_entries WHERE tbl = $1 \
                 AND ($2::bytea IS NULL OR k > $2 OR ($3 AND k = $2)) \
                 AND ($4::bytea IS NULL OR k < $4 OR ($5 AND k = $4)) \
                 ORDER BY k {order} LIMIT {CHUNK}"
            );
            let rows =
                db.query(&sql, &[&&*table, &lo_key, &lo_incl, &hi_key, &hi_incl]).await.map_err(backend_error)?;
            Ok(rows.into_iter().map(|r| (r.get::<_, Vec<u8>>(0), r.get::<_, Vec<u8>>(1))).collect::<Vec<_>>())
        })?;
        if (rows.len() as i64) < CHUNK {
            self.exhausted = true;
        }
        if let Some((last, _)) = rows.last() {
            if ascending {
                self.lo = Bound::Excluded(last.clone());
            } else {
                self.hi = Bound::Excluded(last.clone());
            }
        }
        let rows = rows.into_iter().map(|(k, v)| (Bytes::from(k), Bytes::from(v)));
        if ascending {
            self.front.extend(rows);
        } else {
            self.back.extend(rows);
        }
        Ok(())
    }

    fn take(&mut self, ascending: bool) -> Option<StoreResult<(Bytes, Bytes)>> {
        if self.failed {
            return None;
        }
        loop {
            let near = if ascending { self.front.pop_front() } else { self.back.pop_front() };
            if let Some(entry) = near {
                return Some(Ok(entry));
            }
            if self.exhausted {
                // What is left was read from the other end.
                return if ascending { self.back.pop_back() } else { self.front.pop_back() }.map(Ok);
            }
            if let Err(e) = self.fetch(ascending) {
                self.failed = true;
                return Some(Err(e));
            }
        }
    }
}

pub(super) fn bound_parts(b: &Bound<Vec<u8>>) -> (Option<Vec<u8>>, bool) {
    match b {
        Bound::Included(k) => (Some(k.clone()), true),
        Bound::Excluded(k) => (Some(k.clone()), false),
        Bound::Unbounded => (None, false),
    }
}

impl Iterator for Range {
    type Item = StoreResult<(Bytes, Bytes)>;
    fn next(&mut self) -> Option<Self::Item> {
        self.take(true)
    }
}

impl DoubleEndedIterator for Range {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.take(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_of_a_prefix_is_the_least_key_after_it() {
        assert_eq!(after_prefix(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(after_prefix(&[1, 0xff]), Some(vec![2]));
        assert_eq!(after_prefix(&[0xff, 0xff]), None);
        assert_eq!(after_prefix(b""), None);
    }
}
