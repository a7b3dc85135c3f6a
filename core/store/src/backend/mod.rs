//! The store seam: what every store of this crate writes through. A backend is a set of named
//! tables, each an ordered map of bytes to bytes, with atomic writes within a table and across
//! tables, ids that only grow, and a flush that makes writes durable.
//!
//! The stores above it ([`crate::repo_store`], [`crate::token_store`], the history, sessions,
//! alerts, verify results) hold the rules once for every backend: the records' encoding, the
//! in-memory index, the key lines, the caches. A backend holds bytes only. [`SledBackend`] is
//! the embedded default; [`InMemoryBackend`] keeps nothing past the process (tests, and the
//! proof that the stores depend on the seam only); [`PostgresBackend`] (feature `postgres`)
//! is one database shared by several servers. Each passes [`crate::conformance`], which
//! checks the seam's promises and runs the stores over it. The seam itself is [`seam`]'s.

mod in_memory;
#[cfg(feature = "postgres")]
mod postgres;
mod seam;
mod sled_backend;

pub use in_memory::InMemoryBackend;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresBackend, PostgresOpenError, SCHEMA_VERSION};
pub use seam::{
    Backend, Batch, Bytes, Change, ChangeListener, DatabaseStats, Entries, FlushFuture, Hold, SharedBackend, Table,
};
pub use sled_backend::{SledBackend, SledOpenError};

/// A sled store removed when dropped, as the stores hold one (tests).
#[cfg(any(test, feature = "conformance"))]
pub fn temporary_sled() -> SharedBackend {
    std::sync::Arc::new(SledBackend::temporary().expect("a temporary sled store"))
}
