//! A sign-in through a provider, bound to the browser that started it: `start` makes the
//! provider's address and a pending login the browser's cookie names (`state`, the PKCE
//! verifier, the OpenID nonce); `finish` takes the provider's answer back, once, checks
//! `state`, and lets the provider's protocol ([`crate::openid`], [`crate::github`]) trade the
//! code for the person's verified email.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::providers::{Protocol, Provider};

/// How long a browser has to come back from the provider.
const PENDING_FOR: Duration = Duration::from_secs(600);
/// Pending logins kept at most: a flood of starts cannot fill the memory.
const MAX_PENDING: usize = 10_000;

/// What a started login keeps until the browser comes back.
pub struct Pending {
    pub provider: &'static str,
    pub csrf: String,
    /// OpenID Connect's nonce; empty for plain OAuth2.
    pub nonce: String,
    pub verifier: String,
    pub since: Instant,
}

fn pending() -> &'static Mutex<HashMap<String, Pending>> {
    static PENDING: OnceLock<Mutex<HashMap<String, Pending>>> = OnceLock::new();
    PENDING.get_or_init(Default::default)
}

/// The HTTP client: no redirect followed (a provider's answer that redirects is not one), and a
/// provider that does not answer in time is a failure, not a hang.
pub fn http() -> Http {
    Http(agent())
}

pub fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new().redirects(0).timeout(Duration::from_secs(10)).build()
}

/// ureq as oauth2's (and openidconnect's) blocking client: a request's method, headers and
/// body, and the answer's status, content type and body (an error status is an answer, for the
/// library to read the provider's error from).
pub struct Http(ureq::Agent);

impl oauth2::SyncHttpClient for Http {
    type Error = oauth2::HttpClientError<ureq::Error>;

    fn call(&self, request: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, Self::Error> {
        use std::io::Read;
        let mut req = self.0.request(request.method().as_str(), &request.uri().to_string());
        for (name, value) in request.headers() {
            let value = value
                .to_str()
                .map_err(|_| oauth2::HttpClientError::Other(format!("a header {name} that is not text")))?;
            req = req.set(name.as_str(), value);
        }
        let sent = if request.body().is_empty() { req.call() } else { req.send_bytes(request.body()) };
        let response = match sent {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => return Err(oauth2::HttpClientError::Reqwest(Box::new(e))),
        };
        let mut builder = http::Response::builder().status(response.status());
        if let Some(kind) = response.header("content-type") {
            builder = builder.header(http::header::CONTENT_TYPE, kind);
        }
        let mut body = Vec::new();
        response.into_reader().take(1 << 20).read_to_end(&mut body).map_err(oauth2::HttpClientError::Io)?;
        builder.body(body).map_err(oauth2::HttpClientError::Http)
    }
}

pub fn callback_url(public_url: &str, provider: &Provider) -> String {
    format!("{}/api/v1/sign-in/{}/callback", public_url.trim_end_matches('/'), provider.id)
}

/// What a protocol's start gives: the provider's address, `state`, the nonce (or ""), the PKCE
/// verifier.
pub struct Started {
    pub url: String,
    pub csrf: String,
    pub nonce: String,
    pub verifier: String,
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

/// Why a provider's answer was refused (said in the log; the page says less).
#[derive(Debug)]
pub struct Refused(pub String);

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
