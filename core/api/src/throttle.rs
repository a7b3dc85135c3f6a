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

#[derive(Default)]
pub struct Throttle {
    entries: Mutex<HashMap<IpAddr, Entry>>,
}

struct Entry {
    since: Instant,
    failures: u32,
    blocked_until: Option<Instant>,
}

impl Throttle {
    /// True while `ip` is refused.
    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        matches!(map.get(&ip).and_then(|e| e.blocked_until), Some(t) if t > Instant::now())
    }

    /// Counts one failure from `ip`; 0 as `limit` turns the throttle off.
    pub fn fail(&self, ip: IpAddr, limit: u32) {
        if limit == 0 {
            return;
        }
        let now = Instant::now();
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            map.retain(|_, e| now.duration_since(e.since) < WINDOW || matches!(e.blocked_until, Some(t) if t > now));
        }
        let e = map.entry(ip).or_insert(Entry { since: now, failures: 0, blocked_until: None });
        if now.duration_since(e.since) >= WINDOW && !matches!(e.blocked_until, Some(t) if t > now) {
            *e = Entry { since: now, failures: 0, blocked_until: None };
        }
        e.failures += 1;
        if e.failures >= limit && e.blocked_until.is_none() {
            e.blocked_until = Some(now + WINDOW);
            tracing::warn!(target: "audit", client = %ip, "too many failed authentications; address refused for a minute");
        }
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
