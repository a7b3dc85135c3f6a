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

/// Failures waiting to be counted in the database, at most ([`Throttle::share`]).
const QUEUED_COUNTS: usize = 10_000;

/// How long a password check waits for one of the [`Throttle::password_checks`] before the
/// caller is told to come back later (429): a queue of checks is bounded in time too.
const PASSWORD_CHECK_WAIT: Duration = Duration::from_secs(5);

/// Who may try credentials, and how many password checks run at once.
///
/// Every attempt is counted when it is admitted, before it is checked: checks under way count
/// against the limit as failures do, so a burst of parallel guesses gets at most `limit`
/// checks, not one per request (the check of a password, argon2, takes ~19 MiB and tens of
/// milliseconds; counting after it let 150 parallel guesses through and took 1.7 GB).
///
/// With several servers on one database, failures are also counted in the database
/// ([`bw_store::failed_attempts`]) and each server hears the others' counts: an address
/// refused by one is refused by all, and the limit is the host's, not each server's. (Checks
/// under way are counted where they run: a burst sent to every server in the same instant
/// gets at most `limit` checks on each before the failures add up.)
pub struct Throttle {
    entries: Mutex<HashMap<IpAddr, Entry>>,
    /// Password checks (argon2) running at once, whatever the addresses: one per core.
    password_checks: tokio::sync::Semaphore,
    /// The tally the servers of one database share, once [`Throttle::share`] set it.
    shared: std::sync::OnceLock<Shared>,
}

impl Default for Throttle {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Throttle {
            entries: Mutex::default(),
            password_checks: tokio::sync::Semaphore::new(cores),
            shared: std::sync::OnceLock::new(),
        }
    }
}

/// The shared tally: failures are sent to a thread of their own that counts them in the
/// database (a request never waits for it), and what the database says of each address
/// (after this server's count, or another's) is kept in `told`.
struct Shared {
    store: std::sync::Arc<bw_store::failed_attempts::FailedAttempts>,
    /// Bounded: a burst the database cannot keep up with is counted here only (the
    /// address is still refused by this server), never queued without end.
    count: Mutex<std::sync::mpsc::SyncSender<(IpAddr, u32)>>,
    told: std::sync::Arc<Mutex<HashMap<IpAddr, bw_store::failed_attempts::Tally>>>,
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Keeps what the database said of `ip`, unless what is kept is newer; forgets what no longer
/// stands when the map is large.
///
/// Two threads tell: the one that counts this server's failures (the tally its count made)
/// and the one that reads the others' (the tally as read). Either may be held up between the
/// database's answer and this call, so an older tally can come after a newer one; kept as it
/// came, it undid a refusal (two servers, limit 4: the 4th failure's "refused" overwritten by
/// the 3rd's "not yet", and nothing came after to correct it). A tally only grows within its
/// window and a new window starts later, so the newer is the greater (window's start,
/// failures, refusal).
fn tell(
    told: &Mutex<HashMap<IpAddr, bw_store::failed_attempts::Tally>>,
    ip: IpAddr,
    tally: bw_store::failed_attempts::Tally,
) {
    let mut map = told.lock().unwrap_or_else(|p| p.into_inner());
    if map.len() > 10_000 {
        let now = unix_now();
        map.retain(|_, t| t.current(now, WINDOW.as_secs() as i64));
    }
    let order = |t: &bw_store::failed_attempts::Tally| (t.since, t.failures, t.blocked_until);
    match map.get(&ip) {
        Some(kept) if order(kept) >= order(&tally) => {}
        _ => {
            map.insert(ip, tally);
        }
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
        if let (true, Some(shared)) = (failed, self.throttle.shared.get()) {
            let _ = shared.count.lock().unwrap_or_else(|p| p.into_inner()).try_send((ip, limit));
        }
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
    /// Shares the failures with the other servers of a database through `store`: starts the
    /// thread that counts them there, and forgets old tallies every few minutes.
    pub fn share(&self, store: bw_store::failed_attempts::FailedAttempts) -> std::io::Result<()> {
        let store = std::sync::Arc::new(store);
        let told: std::sync::Arc<Mutex<HashMap<IpAddr, bw_store::failed_attempts::Tally>>> = Default::default();
        let (count, counted) = std::sync::mpsc::sync_channel::<(IpAddr, u32)>(QUEUED_COUNTS);
        let (thread_store, thread_told) = (store.clone(), told.clone());
        let window = WINDOW.as_secs() as i64;
        std::thread::Builder::new().name("bw-shared-throttle".into()).spawn(move || {
            let mut last_pruned = Instant::now();
            loop {
                match counted.recv_timeout(Duration::from_secs(60)) {
                    Ok((ip, limit)) => match thread_store.count(ip.to_string().as_bytes(), unix_now(), window, limit) {
                        Ok(tally) => tell(&thread_told, ip, tally),
                        Err(e) => tracing::warn!(error = %e, client = %ip, "a failed authentication was not counted in the database"),
                    },
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                }
                if last_pruned.elapsed() > Duration::from_secs(300) {
                    last_pruned = Instant::now();
                    if let Err(e) = thread_store.forget_old(unix_now(), window) {
                        tracing::warn!(error = %e, "old failed authentications were not forgotten");
                    }
                }
            }
        })?;
        let _ = self.shared.set(Shared { store, count: Mutex::new(count), told });
        Ok(())
    }

    /// Another server counted a failure of the address `key` (as the database's notification
    /// says): reads its tally. Blocking (a database read).
    pub fn told_elsewhere(&self, key: &[u8]) {
        let Some(shared) = self.shared.get() else { return };
        let Some(ip) = std::str::from_utf8(key).ok().and_then(|k| k.parse::<IpAddr>().ok()) else { return };
        match shared.store.read(key) {
            Ok(Some(tally)) => tell(&shared.told, ip, tally),
            Ok(None) => {
                shared.told.lock().unwrap_or_else(|p| p.into_inner()).remove(&ip);
            }
            Err(e) => tracing::warn!(error = %e, "another server's count of failed authentications was not read"),
        }
    }

    /// What the servers together counted of `ip` and still stands: its failures, and whether
    /// it is refused.
    fn shared_tally(&self, ip: IpAddr) -> (u32, bool) {
        let Some(shared) = self.shared.get() else { return (0, false) };
        let now = unix_now();
        let map = shared.told.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(&ip) {
            Some(t) if t.current(now, WINDOW.as_secs() as i64) => {
                // `current`: refused still, or within its window; either way its failures count.
                (t.failures, t.blocked_until > now)
            }
            _ => (0, false),
        }
    }

    /// True while `ip` is refused (here, or by the servers together).
    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&ip).is_some_and(|e| e.blocked(Instant::now())) || self.shared_tally(ip).1
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
        let (shared_failures, shared_blocked) = self.shared_tally(ip);
        if e.blocked(now) || shared_blocked || e.failures.max(shared_failures) + e.in_flight >= limit {
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
    fn an_older_tally_told_late_does_not_undo_a_refusal() {
        use bw_store::failed_attempts::Tally;
        let told = std::sync::Mutex::default();
        let ip = IP.unwrap();
        let now = super::unix_now();
        let refused = Tally { since: now, failures: 4, blocked_until: now + 60 };
        super::tell(&told, ip, refused);
        // The third failure's tally, told after the fourth's: kept out.
        super::tell(&told, ip, Tally { since: now, failures: 3, blocked_until: 0 });
        assert_eq!(told.lock().unwrap().get(&ip), Some(&refused));
        // A new window (later start) replaces the old one.
        let next = Tally { since: now + 61, failures: 1, blocked_until: 0 };
        super::tell(&told, ip, next);
        assert_eq!(told.lock().unwrap().get(&ip), Some(&next));
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
