//! PostgreSQL behind the store seam (#34: several servers on one database), chosen by
//! `BW_DATABASE_URL`. Only this folder names the driver's types.
//!
//! The seam is tables of bytes, so the database holds them as such: one table of entries
//! `(tbl, k, v)` ordered by `(tbl, k)` (bytea compares byte by byte, as sled orders its keys),
//! the names of the tables, and a sequence for the ids. The rules that make the stores fast
//! (records' encoding, the in-memory index, the cached list) stay above the seam, written once.
//!
//! The driver is `tokio-postgres` with the `deadpool-postgres` pool: the maintained async
//! driver of the Rust ecosystem and a small pool made for it. sqlx was the other choice; its
//! checked queries need a database (or saved metadata) at build time, and this backend has a
//! dozen fixed statements over one table, which its own conformance suite checks instead.
//!
//! The seam's methods are blocking (sled's are), and the stores call them from the server's
//! async tasks as they call sled: each call runs on this backend's own small runtime, and the
//! caller waits for its answer on a channel, never by entering a runtime from inside another.
//!
//! Plain PostgreSQL SQL (no extension); the start takes an advisory lock to migrate, so two
//! servers starting at once migrate once.
//!
//! - [`connection`]: the ways to connect, the errors, pooled connections, prepared statements;
//!   [`handle`]: the backend's pool and runtime;
//! - [`schema`]: the tables and their migrations; [`table`]: the seam's `Table` over them;
//! - [`notify`]: the change notifications other servers hear; [`lease`]: the lease of the
//!   periodic work and the exclusive holds; [`tls`]: TLS with `sslmode=require`.

mod connection;
mod handle;
mod lease;
mod notify;
mod schema;
mod table;
mod tls;

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

pub use connection::PostgresOpenError;
use connection::{backend_error, client, prepared, said};
use handle::Inner;
pub use handle::PostgresBackend;

use super::seam::{Backend, Batch, ChangeListener, DatabaseStats, FlushFuture, Hold, Table};
use crate::store_error::{StoreError, StoreResult};
use lease::{exclusive_lock, hold_lease, ExclusiveHold};
use notify::{listen, notify, only_key};
pub use schema::SCHEMA_VERSION;
use schema::{migrate, IN_SCHEMA};
use table::{apply_in, PostgresTable};
use tls::RustlsTls;

/// How long a call waits for a connection, or for the database to answer one.
const WAIT: Duration = Duration::from_secs(10);

impl PostgresBackend {
    /// Connects to `url` (`postgres://user:password@host:port/database`, and any parameter
    /// tokio-postgres reads, such as `options=-c search_path=NAME`), and migrates the schema.
    pub fn open(url: &str) -> Result<Self, PostgresOpenError> {
        Self::open_with_ca(url, None)
    }

    /// [`PostgresBackend::open`], trusting the certificates of the PEM file `ca` too
    /// (`BW_DATABASE_CA`); TLS with `sslmode=require` in `url` ([`super::postgres_tls`]).
    pub fn open_with_ca(url: &str, ca: Option<&std::path::Path>) -> Result<Self, PostgresOpenError> {
        let config: tokio_postgres::Config = url.parse().map_err(|e| PostgresOpenError::Url(format!("{e}")))?;
        let tls = match config.get_ssl_mode() {
            tokio_postgres::config::SslMode::Require => Some(RustlsTls::new(ca).map_err(PostgresOpenError::Tls)?),
            _ if ca.is_some() => {
                return Err(PostgresOpenError::Tls(
                    "BW_DATABASE_CA is set but BW_DATABASE_URL does not ask for TLS: add sslmode=require".into(),
                ))
            }
            _ => None,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("bw-postgres")
            .enable_all()
            .build()
            .map_err(|e| PostgresOpenError::Store(StoreError::io(std::path::Path::new("runtime"), e)))?;
        let fast = || ManagerConfig { recycling_method: RecyclingMethod::Fast };
        let manager = match &tls {
            Some(tls) => Manager::from_config(config.clone(), tls.clone(), fast()),
            None => Manager::from_config(config.clone(), NoTls, fast()),
        };
        let pool = Pool::builder(manager)
            .max_size(16)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(WAIT))
            .create_timeout(Some(WAIT))
            .recycle_timeout(Some(WAIT))
            .build()
            .map_err(|e| PostgresOpenError::Url(format!("{e}")))?;
        let instance = hex_id();
        let leads = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (tried, first_try) = tokio::sync::oneshot::channel();
        match &tls {
            Some(tls) => runtime.spawn(hold_lease(config.clone(), tls.clone(), leads.clone(), tried)),
            None => runtime.spawn(hold_lease(config.clone(), NoTls, leads.clone(), tried)),
        };
        let heard = Arc::default();
        let backend = PostgresBackend {
            inner: Arc::new(Inner {
                pool,
                config,
                tls,
                instance,
                leads,
                heard,
                known: Default::default(),
                runtime: Some(runtime),
            }),
        };
        let pool = backend.inner.pool.clone();
        let migrated = backend.run(async move { Ok(migrate(&pool).await) })?;
        migrated?;
        // A server alone on its database leads from its first answer on (its /healthz says so):
        // the first try for the lease is waited for, briefly.
        backend.run(async move {
            let _ = tokio::time::timeout(Duration::from_secs(3), first_try).await;
            Ok(())
        })?;
        Ok(backend)
    }
}

fn hex_id() -> String {
    let bytes: [u8; 8] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Backend for PostgresBackend {
    fn table(&self, name: &str) -> StoreResult<Arc<dyn Table>> {
        let (pool, table) = (self.pool(), name.to_string());
        self.run(async move {
            let db = client(&pool).await?;
            db.execute("INSERT INTO bw_tables (name) VALUES ($1) ON CONFLICT DO NOTHING", &[&table])
                .await
                .map_err(backend_error)?;
            Ok(())
        })?;
        self.inner.known.lock().unwrap_or_else(|p| p.into_inner()).insert(name.to_string());
        Ok(Arc::new(PostgresTable { backend: self.clone(), name: name.into() }))
    }

    fn apply_across(&self, batches: Vec<(&str, Batch)>) -> StoreResult<()> {
        let unknown: Vec<String> = {
            let known = self.inner.known.lock().unwrap_or_else(|p| p.into_inner());
            batches.iter().map(|(t, _)| t.to_string()).filter(|t| !known.contains(t)).collect()
        };
        let batches: Vec<(String, Batch)> = batches.into_iter().map(|(t, b)| (t.to_string(), b)).collect();
        let (pool, instance) = (self.pool(), self.inner.instance.clone());
        let named = unknown.clone();
        self.run(async move {
            let mut db = client(&pool).await?;
            let tx = db.transaction().await.map_err(backend_error)?;
            for table in &named {
                let sql = "INSERT INTO bw_tables (name) VALUES ($1) ON CONFLICT DO NOTHING";
                tx.execute(&prepared(&tx, sql).await?, &[table]).await.map_err(backend_error)?;
            }
            for (table, batch) in &batches {
                apply_in(&tx, table, batch).await?;
                notify(&tx, &instance, table, only_key(batch)).await?;
            }
            tx.commit().await.map_err(backend_error)
        })?;
        self.inner.known.lock().unwrap_or_else(|p| p.into_inner()).extend(unknown);
        Ok(())
    }

    fn generate_id(&self) -> StoreResult<u64> {
        let pool = self.pool();
        self.run(async move {
            let db = client(&pool).await?;
            let row =
                db.query_one(&prepared(&db, "SELECT nextval('bw_ids')").await?, &[]).await.map_err(backend_error)?;
            Ok(row.get::<_, i64>(0) as u64)
        })
    }

    /// Every write is durable once its statement commits: nothing to do.
    fn flush(&self) -> StoreResult<()> {
        Ok(())
    }

    fn flush_async(&self) -> FlushFuture<'_> {
        Box::pin(async { Ok(()) })
    }

    /// Asked by `/healthz` (load balancers poll it): answered within two seconds either way.
    fn healthy(&self) -> bool {
        let pool = self.pool();
        self.run(async move {
            let probe = async {
                let db = client(&pool).await?;
                db.query_one("SELECT 1", &[]).await.map_err(backend_error)?;
                Ok(())
            };
            tokio::time::timeout(Duration::from_secs(2), probe)
                .await
                .unwrap_or_else(|_| Err(StoreError::Unavailable("no answer within 2 s".into())))
        })
        .is_ok()
    }

    fn kind(&self) -> &'static str {
        "postgresql"
    }

    fn shared_by_servers(&self) -> bool {
        true
    }

    fn database_stats(&self) -> Option<DatabaseStats> {
        let status = self.inner.pool.status();
        let order = std::sync::atomic::Ordering::Relaxed;
        Some(DatabaseStats {
            pool_max: status.max_size as u64,
            pool_open: status.size as u64,
            pool_in_use: status.size.saturating_sub(status.available) as u64,
            pool_waiting: status.waiting as u64,
            notifications: self.inner.heard.count.load(order),
            notification_lag_seconds: self.inner.heard.lag_micros.load(order) as f64 / 1e6,
        })
    }

    /// A session-level advisory lock on a pooled connection, waited for [`WAIT`] at most
    /// (then the database is as good as unavailable: 503). A server killed while it holds the
    /// lock loses its connection, and PostgreSQL lets the lock go with it.
    fn hold_exclusive(&self, name: &str) -> StoreResult<Option<Hold>> {
        let (pool, key) = (self.pool(), exclusive_lock(name));
        let runtime = self.inner.runtime.as_ref().ok_or_else(|| said("the database's runtime is stopped".into()))?;
        let handle = runtime.handle().clone();
        let what = name.to_string();
        let db = self.run(async move {
            let db = client(&pool).await?;
            let lock = format!("SELECT pg_advisory_lock({IN_SCHEMA}, $1)");
            match tokio::time::timeout(WAIT, db.execute(&lock, &[&key])).await {
                Ok(Ok(_)) => Ok(db),
                Ok(Err(e)) => Err(backend_error(e)),
                Err(_) => {
                    // The request may still be granted later: the connection goes, not back
                    // to the pool with a lock nobody holds on purpose.
                    drop(deadpool_postgres::Object::take(db));
                    Err(StoreError::Unavailable(format!(
                        "another server kept the {what} changes for more than {} s",
                        WAIT.as_secs()
                    )))
                }
            }
        })?;
        Ok(Some(Box::new(ExclusiveHold { db: Some(db), key, runtime: handle })))
    }

    fn leads(&self) -> bool {
        self.inner.leads.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Returns once the listening connection listens (3 s at most): what other servers change
    /// after a server's start is heard by it.
    fn on_changes_elsewhere(&self, changed: ChangeListener) {
        let (config, instance) = (self.inner.config.clone(), self.inner.instance.clone());
        let Some(runtime) = self.inner.runtime.as_ref() else { return };
        let heard = self.inner.heard.clone();
        let (listening, listens) = tokio::sync::oneshot::channel();
        match self.inner.tls.clone() {
            Some(tls) => runtime.spawn(listen(config, tls, instance, changed, heard, listening)),
            None => runtime.spawn(listen(config, NoTls, instance, changed, heard, listening)),
        };
        let _ = self.run(async move {
            let _ = tokio::time::timeout(Duration::from_secs(3), listens).await;
            Ok(())
        });
    }

    fn table_names(&self) -> StoreResult<Vec<String>> {
        let pool = self.pool();
        self.run(async move {
            let db = client(&pool).await?;
            let rows = db.query("SELECT name FROM bw_tables ORDER BY name", &[]).await.map_err(backend_error)?;
            Ok(rows.into_iter().map(|r| r.get::<_, String>(0)).collect())
        })
    }
}
