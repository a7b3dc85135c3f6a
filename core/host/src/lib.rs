//! The host side of a BorgBackup server: what sshd and borg read, and the folders on disk.
//!
//! The borg user's `authorized_keys` and the key folder of command mode, the pool and the
//! storage targets, reading a repository folder's last backup and disk usage, SSH public keys,
//! and the URLs a client gives borg. It knows nothing of HTTP or of the store: the crates above
//! it (`bw-store`, `bw-api`) decide what to write; this one writes it so sshd reads it.

pub mod authorized_keys;
pub mod folder_scan;
pub mod home_lock;
pub mod key_lookup;
pub mod paths;
pub mod pool;
pub mod session_spool;
pub mod ssh_key;
pub mod ssh_url;
pub mod storage_target;
pub mod users;
