//! Failed authentications per client address, kept in the store when several servers share
//! one database, so that N servers do not give an attacker N times the attempts: each counts
//! a failure here as well as in its own memory, and hears the others' through the database's
//! notifications (the API's throttle holds the rule; this is its shared tally).
//!
//! One entry per address: the window's start, its failures, and until when it is refused. A
//! count is a compare-and-swap, so two servers counting at once both count.

use std::sync::Arc;

use crate::backend::{SharedBackend, Table};
use crate::store_error::StoreResult;

/// The table, also named by the notifications other servers hear.
pub const TABLE: &str = "failed_attempts";

/// An address's failures in its window, and until when it is refused (0: it is not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub since: i64,
    pub failures: u32,
    pub blocked_until: i64,
}

impl Tally {
    fn encode(&self) -> [u8; 20] {
        let mut v = [0u8; 20];
        v[..8].copy_from_slice(&self.since.to_be_bytes());
        v[8..12].copy_from_slice(&self.failures.to_be_bytes());
        v[12..].copy_from_slice(&self.blocked_until.to_be_bytes());
        v
    }

    fn decode(v: &[u8]) -> Option<Tally> {
        Some(Tally {
            since: i64::from_be_bytes(v.get(..8)?.try_into().ok()?),
            failures: u32::from_be_bytes(v.get(8..12)?.try_into().ok()?),
            blocked_until: i64::from_be_bytes(v.get(12..20)?.try_into().ok()?),
        })
    }

    /// Whether the tally still stands at `now` with windows of `window` seconds.
    pub fn current(&self, now: i64, window: i64) -> bool {
        self.blocked_until > now || now - self.since < window
    }
}

pub struct FailedAttempts {
    table: Arc<dyn Table>,
}

impl FailedAttempts {
    pub fn open(db: &SharedBackend) -> StoreResult<Self> {
        Ok(FailedAttempts { table: db.table(TABLE)? })
    }

    /// Counts one failure of `who` at `now`, in windows of `window` seconds: the `limit`-th of
    /// a window refuses `who` for `window` seconds. The tally after it.
    pub fn count(&self, who: &[u8], now: i64, window: i64, limit: u32) -> StoreResult<Tally> {
        loop {
            let old = self.table.get(who)?;
            let mut tally = old
                .as_deref()
                .and_then(Tally::decode)
                .filter(|t| t.current(now, window))
                .unwrap_or(Tally { since: now, failures: 0, blocked_until: 0 });
            tally.failures = tally.failures.saturating_add(1);
            if tally.failures >= limit && tally.blocked_until <= now {
                tally.blocked_until = now + window;
            }
            if self.table.compare_and_swap(who, old.as_deref(), Some(&tally.encode()))? {
                return Ok(tally);
            }
        }
    }

    /// `who`'s tally as stored.
    pub fn read(&self, who: &[u8]) -> StoreResult<Option<Tally>> {
        Ok(self.table.get(who)?.as_deref().and_then(Tally::decode))
    }

    /// Forgets the tallies that no longer stand at `now` (each only if unchanged meanwhile).
    pub fn forget_old(&self, now: i64, window: i64) -> StoreResult<usize> {
        let mut forgotten = 0;
        for entry in self.table.iter() {
            let (k, v) = entry?;
            if Tally::decode(&v).is_none_or(|t| !t.current(now, window))
                && self.table.compare_and_swap(&k, Some(&v), None)?
            {
                forgotten += 1;
            }
        }
        Ok(forgotten)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_from_two_servers_add_up_and_refuse_for_a_window() {
        let db: SharedBackend = Arc::new(crate::backend::InMemoryBackend::default());
        let (one, two) = (FailedAttempts::open(&db).unwrap(), FailedAttempts::open(&db).unwrap());
        assert_eq!(one.count(b"10.0.0.1", 100, 60, 3).unwrap().failures, 1);
        assert_eq!(two.count(b"10.0.0.1", 101, 60, 3).unwrap().failures, 2);
        let third = one.count(b"10.0.0.1", 102, 60, 3).unwrap();
        assert_eq!((third.failures, third.blocked_until), (3, 162));
        assert_eq!(two.read(b"10.0.0.1").unwrap(), Some(third));
        assert_eq!(two.count(b"10.0.0.2", 102, 60, 3).unwrap().failures, 1, "another address");
        // Past the window and the refusal, a failure starts a new window.
        let later = two.count(b"10.0.0.1", 163, 60, 3).unwrap();
        assert_eq!((later.since, later.failures, later.blocked_until), (163, 1, 0));
        assert_eq!(one.forget_old(400, 60).unwrap(), 2);
        assert_eq!(one.read(b"10.0.0.1").unwrap(), None);
    }
}
