//! Addresses that keep failing to authenticate are refused for a while, and where a request
//! comes from when a trusted proxy forwards it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use poem::Request;

use crate::config::ServerSettings;

/// After `limit` failed authentications from one address within [`WINDOW`], the address is
/// refused with 429 for [`WINDOW`].
const WINDOW: Duration = Duration::from_secs(60);

/// How long a password check waits for one of the [`Throttle::password_checks`] before the
/// caller is told to come back later (429): a queue of checks is bounded in time too.
const PASSWORD_CHECK_WAIT: Duration = Duration::from_secs(5);

/// Who may try credentials, and how many password checks run at once.
///
/// Every attempt is counted when it is admitted, before it is checked: checks under way count
/// against the limit as failures do, so a burst of parallel guesses gets at most `limit`
/// checks, not one per request (the check of a password, argon2, takes ~19 MiB and tens of
/// milliseconds; counting after it let 150 parallel guesses through and took 1.7 GB).
pub struct Throttle {
    entries: Mutex<HashMap<IpAddr, Entry>>,
    /// Password checks (argon2) running at once, whatever the addresses: one per core.
    password_checks: tokio::sync::Semaphore,
}

impl Default for Throttle {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Throttle { entries: Mutex::default(), password_checks: tokio::sync::Semaphore::new(cores) }
    }
}

struct Entry {
    since: Instant,
    failures: u32,
    /// Attempts admitted and not settled yet.
    in_flight: u32,
    blocked_until: Option<Instant>,
}

impl Entry {
    fn blocked(&self, now: Instant) -> bool {
        matches!(self.blocked_until, Some(t) if t > now)
    }
}

/// One attempt to authenticate, admitted by [`Throttle::admit`]. Settle it with
/// [`Attempt::succeeded`] or [`Attempt::failed`]; one dropped unsettled (the client went away
/// during the check) counts as failed.
#[must_use]
pub struct Attempt<'a> {
    throttle: &'a Throttle,
    /// `None` when the throttle is off or the address is unknown: nothing is counted.
    counted: Option<(IpAddr, u32)>,
}

impl Attempt<'_> {
    /// The credentials were right: the attempt does not count.
    pub fn succeeded(mut self) {
        self.settle(false);
    }

    /// The credentials were wrong: one failure from the address.
    pub fn failed(mut self) {
        self.settle(true);
    }

    fn settle(&mut self, failed: bool) {
        let Some((ip, limit)) = self.counted.take() else { return };
        let now = Instant::now();
        let mut map = self.throttle.entries.lock().unwrap_or_else(|p| p.into_inner());
        let Some(e) = map.get_mut(&ip) else { return };
        e.in_flight = e.in_flight.saturating_sub(1);
        if failed {
            e.failures += 1;
            if e.failures >= limit && e.blocked_until.is_none() {
                e.blocked_until = Some(now + WINDOW);
                tracing::warn!(target: "audit", client = %ip, "too many failed authentications; address refused for a minute");
            }
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        self.settle(true);
    }
}

impl Throttle {
    /// True while `ip` is refused.
    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&ip).is_some_and(|e| e.blocked(Instant::now()))
    }

    /// Admits one attempt from `ip`, counted from now on, or `None` (429) while the address is
    /// refused or `limit` attempts of its window failed or are still being checked. 0 as
    /// `limit` turns the throttle off.
    pub fn admit(&self, ip: Option<IpAddr>, limit: u32) -> Option<Attempt<'_>> {
        let Some(ip) = ip.filter(|_| limit > 0) else {
            return Some(Attempt { throttle: self, counted: None });
        };
        let now = Instant::now();
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            map.retain(|_, e| e.in_flight > 0 || now.duration_since(e.since) < WINDOW || e.blocked(now));
        }
        let e = map.entry(ip).or_insert(Entry { since: now, failures: 0, in_flight: 0, blocked_until: None });
        if now.duration_since(e.since) >= WINDOW && !e.blocked(now) {
            *e = Entry { since: now, failures: 0, in_flight: e.in_flight, blocked_until: None };
        }
        if e.blocked(now) || e.failures + e.in_flight >= limit {
            return None;
        }
        e.in_flight += 1;
        Some(Attempt { throttle: self, counted: Some((ip, limit)) })
    }

    /// A turn to check a password (argon2), one per core at a time; `None` when none came free
    /// within [`PASSWORD_CHECK_WAIT`]. Bounds the memory password checks take (~19 MiB each)
    /// whatever the number of addresses asking.
    pub async fn password_check(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        tokio::time::timeout(PASSWORD_CHECK_WAIT, self.password_checks.acquire()).await.ok()?.ok()
    }
}

/// The client's address: the socket peer, or `X-Forwarded-For`'s last hop when the peer is a
/// trusted proxy.
pub fn client_ip(server: &ServerSettings, req: &Request) -> Option<IpAddr> {
    let peer = req.remote_addr().as_socket_addr().map(|a| a.ip());
    match peer {
        Some(p) if server.trusted_proxies.contains(&p) => req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse().ok())
            .or(Some(p)),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::Throttle;
    use std::net::IpAddr;

    const IP: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

    #[test]
    fn a_burst_is_counted_before_it_is_checked() {
        let throttle = Throttle::default();
        // 5 attempts under way at once, none settled yet: the 6th is refused.
        let burst: Vec<_> = (0..5).map(|_| throttle.admit(IP, 5).expect("within the limit")).collect();
        assert!(throttle.admit(IP, 5).is_none(), "a sixth attempt was admitted while five were checked");
        assert!(!throttle.is_blocked(IP.unwrap()), "nothing failed yet");
        for attempt in burst {
            attempt.failed();
        }
        assert!(throttle.is_blocked(IP.unwrap()), "five failures block the address");
        assert!(throttle.admit(IP, 5).is_none());
        let other = Some(IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2)));
        assert!(throttle.admit(other, 5).is_some(), "another address is not held up");
    }

    #[test]
    fn successes_do_not_count_and_an_abandoned_check_does() {
        let throttle = Throttle::default();
        for _ in 0..100 {
            throttle.admit(IP, 3).expect("right credentials never use up the limit").succeeded();
        }
        // A client that went away during its check: counted as failed.
        for _ in 0..3 {
            drop(throttle.admit(IP, 3).expect("admitted"));
        }
        assert!(throttle.is_blocked(IP.unwrap()));
    }

    #[test]
    fn zero_turns_it_off() {
        let throttle = Throttle::default();
        for _ in 0..100 {
            throttle.admit(IP, 0).expect("no limit").failed();
        }
        assert!(!throttle.is_blocked(IP.unwrap()));
    }
}
