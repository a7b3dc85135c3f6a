//! How this backend talks to the database: the ways to connect (plain or TLS), the errors, a
//! pooled connection, statements prepared once per connection.

use deadpool_postgres::Pool;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::Socket;

use crate::store_error::{StoreError, StoreResult};

/// A way to connect: plain ([`NoTls`]) or TLS ([`RustlsTls`], for `sslmode=require`).
pub(super) trait Connector:
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
pub(super) fn backend_error(e: tokio_postgres::Error) -> StoreError {
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
pub(super) async fn prepared(
    db: &impl deadpool_postgres::GenericClient,
    sql: &str,
) -> StoreResult<tokio_postgres::Statement> {
    db.prepare_cached(sql).await.map_err(backend_error)
}

/// An error and its causes, one after the other: a failed TLS handshake says why only in its
/// source (an unknown issuer, a name that does not match).
pub(super) fn with_causes(e: &dyn std::error::Error) -> String {
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

pub(super) fn said(message: String) -> StoreError {
    StoreError::Backend(message.into())
}

pub(super) async fn client(pool: &Pool) -> StoreResult<deadpool_postgres::Object> {
    pool.get().await.map_err(|e| StoreError::Unavailable(format!("no database connection: {}", with_causes(&e))))
}
