//! PostgreSQL behind the store seam (#34: several servers on one database), chosen by
//! `BW_DATABASE_URL`. Only this file names the driver's types.
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
//! - [`schema`]: the tables and their migrations; [`table`]: the seam's `Table` over them;
//! - [`notify`]: the change notifications other servers hear; [`lease`]: the lease of the
//!   periodic work and the exclusive holds; [`tls`]: TLS with `sslmode=require`.

mod lease;
mod notify;
mod schema;
mod table;
mod tls;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{NoTls, Socket};

use super::seam::{Backend, Batch, ChangeListener, DatabaseStats, FlushFuture, Hold, Table};
use crate::store_error::{StoreError, StoreResult};
use lease::{exclusive_lock, hold_lease, ExclusiveHold};
use notify::{listen, notify, only_key, Heard};
pub use schema::SCHEMA_VERSION;
use schema::{migrate, IN_SCHEMA};
use table::{apply_in, PostgresTable};
use tls::RustlsTls;

/// A way to connect: plain ([`NoTls`]) or TLS ([`RustlsTls`], for `sslmode=require`).
trait Connector:
    MakeTlsConnect<Socket, Stream: Send + Sync + 'static, TlsConnect: Send + Sync + TlsConnect<Socket, Future: Send>>
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<T> Connector for T where
    T: MakeTlsConnect<
            Socket,
            Stream: Send + Sync + 'static,
            TlsConnect: Send + Sync + TlsConnect<Socket, Future: Send>,
        > + Clone
        + Send
        + Sync
        + 'static
{
}

/// How long a call waits for a connection, or for the database to answer one.
const WAIT: Duration = Duration::from_secs(10);

/// Why PostgreSQL did not open.
#[derive(Debug, thiserror::Error)]
pub enum PostgresOpenError {
    #[error("BW_DATABASE_URL: {0}")]
    Url(String),
    #[error("the database at BW_DATABASE_URL does not answer: {0}")]
    Unreachable(String),
    #[error("TLS to the database: {0}")]
    Tls(String),
    #[error(
        "the database is at schema version {found}, written by a newer server; this server \
         (schema version {known}) would not know what it keeps: run the newer server, or restore \
         this server's last snapshot (`borgwarehouse restore`) into an empty database"
    )]
    Newer { found: i64, known: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A database that went away, or says it cannot answer now (SQLSTATE classes 08, connection,
/// and 57, operator intervention: a shutdown or a restart), is unavailable, and the same call
/// may work in a moment; anything else is the backend failing.
fn backend_error(e: tokio_postgres::Error) -> StoreError {
    let class = e.code().map(|c| &c.code()[..2]);
    let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
    if e.is_closed() || io || matches!(class, Some("08") | Some("57")) {
        return StoreError::Unavailable(e.to_string());
    }
    StoreError::Backend(Box::new(e))
}

/// `sql` prepared once per connection and kept: an unprepared statement costs one round trip
/// more each time (parse, then execute). Not for the range reads, whose bounds are planned
/// with their values (a generic plan of `$2 IS NULL OR k > $2` would read the whole table).
async fn prepared(db: &impl deadpool_postgres::GenericClient, sql: &str) -> StoreResult<tokio_postgres::Statement> {
    db.prepare_cached(sql).await.map_err(backend_error)
}

/// An error and its causes, one after the other: a failed TLS handshake says why only in its
/// source (an unknown issuer, a name that does not match).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

fn said(message: String) -> StoreError {
    StoreError::Backend(message.into())
}

struct Inner {
    pool: Pool,
    /// For the listener's own connection (LISTEN holds one).
    config: tokio_postgres::Config,
    /// TLS for that connection too, with `sslmode=require`.
    tls: Option<RustlsTls>,
    /// This process's name in the change notifications, so that it is not told of its own.
    instance: String,
    /// Whether this server holds the lease of the periodic work ([`hold_lease`]).
    leads: Arc<std::sync::atomic::AtomicBool>,
    /// Notifications heard, and the last one's lag in microseconds ([`listen`]).
    heard: Arc<Heard>,
    /// Tables known to be in `bw_tables`: a write across tables names only the others there.
    known: std::sync::Mutex<std::collections::HashSet<String>>,
    /// `Some` until dropped: a runtime is shut down in the background, since the last handle
    /// may go in an async task, where dropping a runtime would block.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

#[derive(Clone)]
pub struct PostgresBackend {
    inner: Arc<Inner>,
}

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

    /// Runs `work` on this backend's runtime and waits for its answer, from any thread (an
    /// async task's included: it waits as a sled call would, without entering a runtime).
    fn run<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: Future<Output = StoreResult<T>> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let runtime = self.inner.runtime.as_ref().ok_or_else(|| said("the database's runtime is stopped".into()))?;
        runtime.spawn(async move {
            let _ = tx.send(work.await);
        });
        rx.recv().map_err(|_| said("the database call ended without an answer".into()))?
    }

    fn pool(&self) -> Pool {
        self.inner.pool.clone()
    }
}

async fn client(pool: &Pool) -> StoreResult<deadpool_postgres::Object> {
    pool.get().await.map_err(|e| StoreError::Unavailable(format!("no database connection: {}", with_causes(&e))))
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

    fn on_changes_elsewhere(&self, changed: ChangeListener) {
        let (config, instance) = (self.inner.config.clone(), self.inner.instance.clone());
        if let Some(runtime) = self.inner.runtime.as_ref() {
            let heard = self.inner.heard.clone();
            match self.inner.tls.clone() {
                Some(tls) => runtime.spawn(listen(config, tls, instance, changed, heard)),
                None => runtime.spawn(listen(config, NoTls, instance, changed, heard)),
            };
        }
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
