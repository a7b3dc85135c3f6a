//! The backend's handle: its pool, its own small runtime, and what its tasks share; each call
//! runs on that runtime and the caller waits for the answer.

use std::future::Future;
use std::sync::Arc;

use deadpool_postgres::Pool;

use super::connection::said;
use super::notify::Heard;
use super::tls::RustlsTls;
use crate::store_error::StoreResult;

pub(super) struct Inner {
    pub(super) pool: Pool,
    /// For the listener's own connection (LISTEN holds one).
    pub(super) config: tokio_postgres::Config,
    /// TLS for that connection too, with `sslmode=require`.
    pub(super) tls: Option<RustlsTls>,
    /// This process's name in the change notifications, so that it is not told of its own.
    pub(super) instance: String,
    /// Whether this server holds the lease of the periodic work ([`hold_lease`]).
    pub(super) leads: Arc<std::sync::atomic::AtomicBool>,
    /// Notifications heard, and the last one's lag in microseconds ([`listen`]).
    pub(super) heard: Arc<Heard>,
    /// Tables known to be in `bw_tables`: a write across tables names only the others there.
    pub(super) known: std::sync::Mutex<std::collections::HashSet<String>>,
    /// `Some` until dropped: a runtime is shut down in the background, since the last handle
    /// may go in an async task, where dropping a runtime would block.
    pub(super) runtime: Option<tokio::runtime::Runtime>,
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
    pub(super) inner: Arc<Inner>,
}

impl PostgresBackend {
    /// Runs `work` on this backend's runtime and waits for its answer, from any thread (an
    /// async task's included: it waits as a sled call would, without entering a runtime).
    pub(super) fn run<T, F>(&self, work: F) -> StoreResult<T>
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

    pub(super) fn pool(&self) -> Pool {
        self.inner.pool.clone()
    }
}
