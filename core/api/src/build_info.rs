//! What this build is: its version and the features compiled in.

/// This server's own version, answered by `/api/version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Whether API tokens are compiled in (cargo feature `integrations`).
pub const INTEGRATIONS_COMPILED: bool = cfg!(feature = "integrations");
