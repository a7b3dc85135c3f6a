//! A sign-in through a provider, bound to the browser that started it: `start` makes the
//! provider's address and a pending login the browser's cookie names (`state`, the PKCE
//! verifier, the OpenID nonce); `finish` takes the provider's answer back, once, checks
//! `state`, and lets the provider's protocol ([`crate::openid`], [`crate::github`]) trade the
//! code for the person's verified email.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::protocol::{Pending, Refused};
use crate::providers::{Protocol, Provider};

/// How long a browser has to come back from the provider.
const PENDING_FOR: Duration = Duration::from_secs(600);
/// Pending logins kept at most: a flood of starts cannot fill the memory.
const MAX_PENDING: usize = 10_000;

fn pending() -> &'static Mutex<HashMap<String, Pending>> {
    static PENDING: OnceLock<Mutex<HashMap<String, Pending>>> = OnceLock::new();
    PENDING.get_or_init(Default::default)
}

/// Starts a login: the provider's address to send the browser to, and the id of the pending
/// login, for the browser's cookie. Blocking (discovery).
pub fn start(provider: &Provider, public_url: &str) -> Result<(String, String), String> {
    let started = match &provider.protocol {
        Protocol::OpenIdConnect { issuer } => crate::openid::start(provider, issuer, public_url)?,
        Protocol::GitHub { web, .. } => crate::github::start(provider, web, public_url)?,
    };
    let id = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, rand::random::<[u8; 32]>());
    let mut pending = pending().lock().unwrap_or_else(|p| p.into_inner());
    pending.retain(|_, p| p.since.elapsed() < PENDING_FOR);
    if pending.len() >= MAX_PENDING {
        return Err("too many sign-ins under way; try again in a few minutes".into());
    }
    pending.insert(
        id.clone(),
        Pending {
            provider: provider.id,
            csrf: started.csrf,
            nonce: started.nonce,
            verifier: started.verifier,
            since: Instant::now(),
        },
    );
    Ok((started.url, id))
}

/// The provider's answer, taken back once for the browser whose pending login `browser` names:
/// the verified email of the person. Blocking (token endpoint).
pub fn finish(
    provider: &Provider,
    public_url: &str,
    browser: Option<&str>,
    code: &str,
    state: &str,
) -> Result<String, Refused> {
    let taken = browser.and_then(|id| pending().lock().unwrap_or_else(|p| p.into_inner()).remove(id));
    let pending = taken.ok_or_else(|| Refused("no sign-in under way for this browser (or it expired)".into()))?;
    if pending.since.elapsed() >= PENDING_FOR {
        return Err(Refused("the sign-in took too long".into()));
    }
    let state_matches: bool = subtle::ConstantTimeEq::ct_eq(pending.csrf.as_bytes(), state.as_bytes()).into();
    if pending.provider != provider.id || !state_matches {
        return Err(Refused("the state does not match the one this browser was given".into()));
    }
    match &provider.protocol {
        Protocol::OpenIdConnect { issuer } => crate::openid::finish(provider, issuer, public_url, code, pending),
        Protocol::GitHub { web, api } => crate::github::finish(provider, web, api, public_url, code, pending),
    }
}
