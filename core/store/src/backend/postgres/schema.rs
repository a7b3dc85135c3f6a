//! The database's tables, and the migrations that make them, run at start under an advisory lock.

use super::connection::{backend_error, with_causes, PostgresOpenError};
use deadpool_postgres::Pool;

/// The schema this build writes. A database migrated by a newer server is refused, with both
/// versions named: an older server would not know what the newer one keeps.
pub const SCHEMA_VERSION: i64 = 2;

/// Each migration, in order: `MIGRATIONS[n]` takes a database from version `n` to `n + 1`.
pub(super) const MIGRATIONS: &[&str] = &[
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
pub(super) const IN_SCHEMA: &str = "hashtext(current_schema()::text)";

/// The advisory lock the migrations are made under (any number, the same in every server).
pub(super) const MIGRATION_LOCK: i32 = 0x6d69_6772;

pub(super) async fn migrate(pool: &Pool) -> Result<(), PostgresOpenError> {
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
