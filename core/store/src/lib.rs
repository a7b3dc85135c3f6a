//! The store: the truth the server keeps, by default in its sled database under `DATA_DIR`.
//!
//! Every store here writes through the store seam ([`backend`]): named tables of bytes, with
//! atomic writes across them. sled is its first implementation.
//!
//! Repositories (with the checks' figures beside them), API tokens, users, and the
//! snapshot that exports and restores them all. A repository change also rewrites its key line
//! through `bw-host`, so the store and what sshd reads move together. Errors are the store's own
//! ([`store_error::StoreError`]); `bw-api` is the one place that turns them into HTTP answers,
//! and no HTTP type appears here.

pub mod alert_log;
pub mod audit_log;
pub mod backend;
pub mod bulk;
pub mod clock;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod failed_attempts;
pub mod format;
pub mod health_marks;
pub mod history;
pub mod key_sink;
pub mod memory;
pub mod page_settings;
pub mod repo_store;
pub mod scope;
pub mod session_store;
pub mod sign_ins;
pub mod snapshot;
pub mod store_error;
pub mod tenant_store;
pub mod token_store;
pub mod user_store;
pub mod verify_results;
