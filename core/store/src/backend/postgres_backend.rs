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

use std::collections::VecDeque;
use std::future::Future;
use std::ops::Bound;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{NoTls, Socket};

use super::postgres_tls::RustlsTls;
use super::seam::{Backend, Batch, Bytes, ChangeListener, DatabaseStats, Entries, FlushFuture, Hold, Table};
use crate::store_error::{StoreError, StoreResult};

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

/// The schema this build writes. A database migrated by a newer server is refused, with both
/// versions named: an older server would not know what the newer one keeps.
pub const SCHEMA_VERSION: i64 = 2;

/// Each migration, in order: `MIGRATIONS[n]` takes a database from version `n` to `n + 1`.
const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE bw_entries (
        tbl text NOT NULL,
        k bytea NOT NULL,
        v bytea NOT NULL,
        PRIMARY KEY (tbl, k)
    );
    CREATE TABLE bw_tables (name text PRIMARY KEY);
    CREATE SEQUENCE bw_ids;
",
    "
    -- Large values (a check run's points, a few MiB) are read in parts (`substring`): kept out
    -- of line and uncompressed, a part is read without reading the rest.
    ALTER TABLE bw_entries ALTER COLUMN v SET STORAGE EXTERNAL;
",
];

/// Advisory locks are the database's, whatever the schema: every lock here is taken in the
/// two-number form, the first number being the schema's (hosts kept in schemas of one database
/// have a lease and locks each), the second the lock's own.
const IN_SCHEMA: &str = "hashtext(current_schema()::text)";

/// The advisory lock the migrations are made under (any number, the same in every server).
const MIGRATION_LOCK: i32 = 0x6d69_6772;

/// Rows read at a time by a range, from either end.
const CHUNK: i64 = 512;

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

/// The channel of the change notifications: `INSTANCE@MICROS TABLE [KEY]`, sent with the
/// write's commit: the sender, the database's clock at the commit, the table, and the key (in
/// hex) when the write was of one key.
const CHANGES: &str = "bw_changes";

fn hex_id() -> String {
    let bytes: [u8; 8] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Tells the other servers that `table` changed (at `key`, for a write of one key); inside a
/// transaction, at its commit.
async fn notify(
    db: &impl deadpool_postgres::GenericClient,
    instance: &str,
    table: &str,
    key: Option<&[u8]>,
) -> StoreResult<()> {
    let mut payload = format!("{instance}@{{}} {table}");
    // A notification carries 8,000 bytes at most: a longer key is told as a whole table.
    if let Some(k) = key.filter(|k| k.len() <= 1024) {
        payload.push(' ');
        payload.push_str(&k.iter().map(|b| format!("{b:02x}")).collect::<String>());
    }
    // The time is the database's (one clock for every server): the lag heard is the
    // notification's own, not the difference between two servers' clocks.
    let sql = "SELECT pg_notify($1, replace($2, '{}', (extract(epoch from clock_timestamp()) * 1000000)::int8::text))";
    db.execute(&prepared(db, sql).await?, &[&CHANGES, &payload]).await.map_err(backend_error)?;
    Ok(())
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    s.len()
        .is_multiple_of(2)
        .then(|| (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect())
        .flatten()
}

/// What [`listen`] heard: how many notifications, and the last one's lag.
#[derive(Default)]
struct Heard {
    count: std::sync::atomic::AtomicU64,
    lag_micros: std::sync::atomic::AtomicU64,
}

/// Listens for the other servers' changes on a connection of its own, and tells `changed` of
/// each table another server wrote. A lost connection is made again after a second; changes
/// made meanwhile were not heard, so `changed` is told of every table (`*`) once it is back.
async fn listen(
    config: tokio_postgres::Config,
    tls: impl Connector,
    instance: String,
    changed: ChangeListener,
    heard: Arc<Heard>,
) {
    let mut heard_before = false;
    loop {
        match config.connect(tls.clone()).await {
            Ok((client, mut connection)) => {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
                let driver = tokio::spawn(async move {
                    while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                        match message {
                            Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                                let _ = tx.send(n.payload().to_string());
                            }
                            Ok(_) => {}
                            Err(_) => break,
                        }
                    }
                });
                if client.batch_execute(&format!("LISTEN {CHANGES}")).await.is_ok() {
                    if heard_before {
                        changed("*", None);
                    }
                    heard_before = true;
                    while let Some(payload) = rx.recv().await {
                        let mut parts = payload.split(' ');
                        let (sender, table, key) = (parts.next(), parts.next(), parts.next().and_then(unhex));
                        let (from, sent) = sender.and_then(|s| s.split_once('@')).unzip();
                        if let Some(sent) = sent.and_then(|s| s.parse::<i64>().ok()) {
                            let now = std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .map_or(0, |d| d.as_micros() as i64);
                            let order = std::sync::atomic::Ordering::Relaxed;
                            heard.lag_micros.store(now.saturating_sub(sent).max(0) as u64, order);
                            heard.count.fetch_add(1, order);
                        }
                        match (from, table) {
                            (Some(from), Some(table)) if from != instance => changed(table, key.as_deref()),
                            _ => {}
                        }
                    }
                }
                driver.abort();
                tracing::warn!("the database's change notifications were cut off; listening again");
            }
            Err(e) => tracing::warn!(error = %e, "no connection for the database's change notifications"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The advisory lock of the changes named `name` ([`Backend::hold_exclusive`]): a number of
/// the name's, the same in every server (FNV-1a, in a range of its own).
fn exclusive_lock(name: &str) -> i32 {
    let hash = name.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    (0x4000_0000 | (hash & 0x0fff_ffff)) as i32
}

/// A held advisory lock, on the pooled connection that took it. Dropped, it is let go on that
/// connection in the background; a connection that fails to let it go is closed (PostgreSQL
/// then lets it go), never put back in the pool with the lock.
struct ExclusiveHold {
    db: Option<deadpool_postgres::Object>,
    key: i32,
    runtime: tokio::runtime::Handle,
}

impl Drop for ExclusiveHold {
    fn drop(&mut self) {
        let (Some(db), key) = (self.db.take(), self.key) else { return };
        self.runtime.spawn(async move {
            let unlock = format!("SELECT pg_advisory_unlock({IN_SCHEMA}, $1)");
            if db.execute(&unlock, &[&key]).await.is_err() {
                drop(deadpool_postgres::Object::take(db));
            }
        });
    }
}

/// The advisory lock whose holder runs the periodic work (any number, the same everywhere).
const LEASE: i32 = 0x6c65_6173;
/// How often a server tries for the lease, and its holder checks it still has it.
const LEASE_EVERY: Duration = Duration::from_secs(2);

/// Holds the lease of the periodic work while it can: a session-level advisory lock on a
/// connection of its own. PostgreSQL lets it go when that connection ends (the server stops,
/// is killed, or loses the database), and another server's next try, within
/// [`LEASE_EVERY`], takes it over. `leads` turns false as soon as the connection fails.
/// `tried` is told once the first try is over, whatever it gave.
async fn hold_lease(
    config: tokio_postgres::Config,
    tls: impl Connector,
    leads: Arc<std::sync::atomic::AtomicBool>,
    tried: tokio::sync::oneshot::Sender<()>,
) {
    use std::sync::atomic::Ordering;
    let mut tried = Some(tried);
    loop {
        let connected = config.connect(tls.clone()).await;
        if connected.is_err() {
            tried.take().map(|t| t.send(()));
        }
        if let Ok((client, connection)) = connected {
            let driver = tokio::spawn(connection);
            // A holder whose machine vanishes (no FIN, no RST) keeps the lock until PostgreSQL
            // notices its connection is dead: these make the database probe this connection
            // after 3 s of silence and drop it within about 10 s (ignored over a Unix socket).
            let _ = client
                .batch_execute(
                    "SET tcp_keepalives_idle = 3; SET tcp_keepalives_interval = 1; \
                     SET tcp_keepalives_count = 3; SET tcp_user_timeout = 6000",
                )
                .await;
            loop {
                let ask = async {
                    if leads.load(Ordering::Acquire) {
                        client.query_one("SELECT true", &[]).await
                    } else {
                        client.query_one(&format!("SELECT pg_try_advisory_lock({IN_SCHEMA}, $1)"), &[&LEASE]).await
                    }
                };
                // An answer that does not come is a lost lease: the holder cut off from the
                // database stops the work before the database lets another server take it.
                let Ok(asked) = tokio::time::timeout(LEASE_EVERY, ask).await else { break };
                match asked {
                    Ok(row) if row.get::<_, bool>(0) => {
                        if !leads.swap(true, Ordering::AcqRel) {
                            tracing::info!("this server holds the lease: it runs the periodic work");
                        }
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
                tried.take().map(|t| t.send(()));
                tokio::time::sleep(LEASE_EVERY).await;
            }
            if leads.swap(false, Ordering::AcqRel) {
                tracing::warn!("this server lost the lease of the periodic work (its database connection failed)");
            }
            driver.abort();
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn migrate(pool: &Pool) -> Result<(), PostgresOpenError> {
    let mut db = pool.get().await.map_err(|e| PostgresOpenError::Unreachable(with_causes(&e)))?;
    let tx = db.transaction().await.map_err(backend_error)?;
    tx.execute(&format!("SELECT pg_advisory_xact_lock({IN_SCHEMA}, $1)"), &[&MIGRATION_LOCK])
        .await
        .map_err(backend_error)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS bw_schema (version bigint NOT NULL)").await.map_err(backend_error)?;
    let found: i64 =
        tx.query_one("SELECT coalesce(max(version), 0) FROM bw_schema", &[]).await.map_err(backend_error)?.get(0);
    if found > SCHEMA_VERSION {
        return Err(PostgresOpenError::Newer { found, known: SCHEMA_VERSION });
    }
    for (n, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.batch_execute(sql).await.map_err(backend_error)?;
        tracing::info!(version = n + 1, "database schema migrated");
    }
    tx.execute("DELETE FROM bw_schema", &[]).await.map_err(backend_error)?;
    tx.execute("INSERT INTO bw_schema (version) VALUES ($1)", &[&SCHEMA_VERSION]).await.map_err(backend_error)?;
    tx.commit().await.map_err(backend_error)?;
    Ok(())
}

/// The key of a batch that writes one.
fn only_key(batch: &Batch) -> Option<&[u8]> {
    let mut writes = batch.writes();
    match (writes.next(), writes.next()) {
        (Some((k, _)), None) => Some(k),
        _ => None,
    }
}

/// Applies `batch` to `table` inside `tx`, in order.
async fn apply_in(tx: &deadpool_postgres::Transaction<'_>, table: &str, batch: &Batch) -> StoreResult<()> {
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

struct PostgresTable {
    backend: PostgresBackend,
    name: Arc<str>,
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

    fn insert_raw(&self, key: &[u8], value: &[u8]) -> StoreResult<()> {
        let mut batch = Batch::default();
        batch.insert(key, value);
        self.apply(batch)
    }

    fn remove_raw(&self, key: &[u8]) -> StoreResult<bool> {
        let (key, instance) = (key.to_vec(), self.instance());
        self.with(move |db, tbl| async move {
            let delete = prepared(&db, "DELETE FROM bw_entries WHERE tbl = $1 AND k = $2").await?;
            let n = db.execute(&delete, &[&&*tbl, &key]).await.map_err(backend_error)?;
            if n > 0 {
                notify(&db, &instance, &tbl, Some(&key)).await?;
            }
            Ok(n > 0)
        })
    }

    fn compare_and_swap_raw(&self, key: &[u8], old: Option<&[u8]>, new: Option<&[u8]>) -> StoreResult<bool> {
        let (key, old, new) = (key.to_vec(), old.map(<[u8]>::to_vec), new.map(<[u8]>::to_vec));
        let instance = self.instance();
        self.with(move |db, tbl| async move {
            let tbl = &*tbl;
            // Each case is one statement, atomic in itself: a value changed meanwhile makes
            // it touch no row.
            let n = match (old, new) {
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
                notify(&db, &instance, tbl, Some(&key)).await?;
            }
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
        self.with(move |db, tbl| async move {
            db.execute("DELETE FROM bw_entries WHERE tbl = $1", &[&&*tbl]).await.map_err(backend_error)?;
            notify(&db, &instance, &tbl, None).await
        })
    }
}

fn owned(b: Bound<&[u8]>) -> Bound<Vec<u8>> {
    match b {
        Bound::Included(k) => Bound::Included(k.to_vec()),
        Bound::Excluded(k) => Bound::Excluded(k.to_vec()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// The least key after every key that starts with `prefix`; `None` when there is none (a
/// prefix of 0xff bytes only).
fn after_prefix(prefix: &[u8]) -> Option<Vec<u8>> {
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
struct Range {
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

fn bound_parts(b: &Bound<Vec<u8>>) -> (Option<Vec<u8>>, bool) {
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
