//! The count of changes made under the database's lock, as the store keeps it: what a server's
//! index shows is told by it ([`super::change_lock`], [`super::following`]). Apart from the
//! store's type, so that opening the store can read it without going through the lock.

/// The count of changes made under the database's lock (`META_TABLE`), 8 bytes, then a ninth
/// that stands (1) while a change is under way: one standing when the lock is taken was cut
/// off between the database and its key file. One value, so that each change reads it once
/// and writes it twice.
pub(super) const CHANGES: &[u8] = b"changes";

/// The count and whether a change is under way (or was cut off), from the stored value.
pub(super) fn changes_of(value: Option<&[u8]>) -> (u64, bool) {
    let Some(v) = value else { return (0, false) };
    let count = v.get(..8).and_then(|c| <[u8; 8]>::try_from(c).ok()).map_or(0, u64::from_be_bytes);
    (count, v.get(8).is_some_and(|&f| f != 0))
}

pub(super) fn changes_value(count: u64, under_way: bool) -> [u8; 9] {
    let mut v = [0u8; 9];
    v[..8].copy_from_slice(&count.to_be_bytes());
    v[8] = u8::from(under_way);
    v
}

/// How often the lease holder looks for a change cut off ([`super::RepoStore::repair_cut_off_change`]).
pub const REPAIR_EVERY: std::time::Duration = std::time::Duration::from_secs(2);
