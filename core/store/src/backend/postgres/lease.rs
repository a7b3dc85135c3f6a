//! Who runs the periodic work (the lease: a session-level advisory lock on a connection of its
//! own), and the exclusive holds changes take across servers.

use std::sync::Arc;
use std::time::Duration;

use super::connection::Connector;
use super::schema::IN_SCHEMA;

/// The advisory lock of the changes named `name` ([`Backend::hold_exclusive`]): a number of
/// the name's, the same in every server (FNV-1a, in a range of its own).
pub(super) fn exclusive_lock(name: &str) -> i32 {
    let hash = name.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    (0x4000_0000 | (hash & 0x0fff_ffff)) as i32
}

/// A held advisory lock, on the pooled connection that took it. Dropped, it is let go on that
/// connection in the background; a connection that fails to let it go is closed (PostgreSQL
/// then lets it go), never put back in the pool with the lock.
pub(super) struct ExclusiveHold {
    pub(super) db: Option<deadpool_postgres::Object>,
    pub(super) key: i32,
    pub(super) runtime: tokio::runtime::Handle,
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
pub(super) const LEASE: i32 = 0x6c65_6173;
/// How often a server tries for the lease, and its holder checks it still has it.
pub(super) const LEASE_EVERY: Duration = Duration::from_secs(2);

/// Holds the lease of the periodic work while it can: a session-level advisory lock on a
/// connection of its own. PostgreSQL lets it go when that connection ends (the server stops,
/// is killed, or loses the database), and another server's next try, within
/// [`LEASE_EVERY`], takes it over. `leads` turns false as soon as the connection fails.
/// `tried` is told once the first try is over, whatever it gave.
pub(super) async fn hold_lease(
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
