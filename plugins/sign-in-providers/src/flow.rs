//! The authorization code flow with PKCE, `state` and `nonce`, bound to the browser that
//! started it: `start` makes the provider's address and a pending login the browser's cookie
//! names; `finish` takes the provider's answer back, once, checks `state`, trades the code
//! (with the PKCE verifier) and checks the ID token's signature (keys from the provider's
//! discovery document), issuer, audience, expiry and nonce.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope,
};

use crate::providers::Provider;

/// How long a browser has to come back from the provider.
const PENDING_FOR: Duration = Duration::from_secs(600);
/// Pending logins kept at most: a flood of starts cannot fill the memory.
const MAX_PENDING: usize = 10_000;
/// How long a discovery document (and the keys it names) is used before it is read again.
const DISCOVERY_FOR: Duration = Duration::from_secs(600);

struct Pending {
    provider: &'static str,
    csrf: String,
    nonce: String,
    verifier: String,
    since: Instant,
}

fn pending() -> &'static Mutex<HashMap<String, Pending>> {
    static PENDING: OnceLock<Mutex<HashMap<String, Pending>>> = OnceLock::new();
    PENDING.get_or_init(Default::default)
}

fn discovered() -> &'static Mutex<HashMap<String, (Instant, CoreProviderMetadata)>> {
    static DISCOVERED: OnceLock<Mutex<HashMap<String, (Instant, CoreProviderMetadata)>>> = OnceLock::new();
    DISCOVERED.get_or_init(Default::default)
}

/// The HTTP client: no redirect followed (a provider's answer that redirects is not one), and a
/// provider that does not answer in time is a failure, not a hang.
fn http() -> Http {
    Http(ureq::AgentBuilder::new().redirects(0).timeout(Duration::from_secs(10)).build())
}

/// ureq as openidconnect's blocking client: a request's method, headers and body, and the
/// answer's status, content type and body (an error status is an answer, for the library to
/// read the provider's error from).
pub struct Http(ureq::Agent);

impl openidconnect::SyncHttpClient for Http {
    type Error = openidconnect::HttpClientError<ureq::Error>;

    fn call(&self, request: openidconnect::HttpRequest) -> Result<openidconnect::HttpResponse, Self::Error> {
        use std::io::Read;
        let mut req = self.0.request(request.method().as_str(), &request.uri().to_string());
        for (name, value) in request.headers() {
            let value = value
                .to_str()
                .map_err(|_| openidconnect::HttpClientError::Other(format!("a header {name} that is not text")))?;
            req = req.set(name.as_str(), value);
        }
        let sent = if request.body().is_empty() { req.call() } else { req.send_bytes(request.body()) };
        let response = match sent {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => return Err(openidconnect::HttpClientError::Reqwest(Box::new(e))),
        };
        let mut builder = http::Response::builder().status(response.status());
        if let Some(kind) = response.header("content-type") {
            builder = builder.header(http::header::CONTENT_TYPE, kind);
        }
        let mut body = Vec::new();
        response.into_reader().take(1 << 20).read_to_end(&mut body).map_err(openidconnect::HttpClientError::Io)?;
        builder.body(body).map_err(openidconnect::HttpClientError::Http)
    }
}

/// The provider's discovery document, read again after [`DISCOVERY_FOR`] or when `fresh`
/// (a key the cached document did not have: the provider rotated its keys).
fn metadata(issuer: &str, fresh: bool) -> Result<CoreProviderMetadata, String> {
    if !fresh {
        let cache = discovered().lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, meta)) = cache.get(issuer) {
            if at.elapsed() < DISCOVERY_FOR {
                return Ok(meta.clone());
            }
        }
    }
    let url = IssuerUrl::new(issuer.to_string()).map_err(|e| format!("issuer {issuer}: {e}"))?;
    let meta = CoreProviderMetadata::discover(&url, &http()).map_err(|e| format!("discovery at {issuer}: {e}"))?;
    discovered().lock().unwrap_or_else(|p| p.into_inner()).insert(issuer.to_string(), (Instant::now(), meta.clone()));
    Ok(meta)
}

fn callback_url(public_url: &str, provider: &Provider) -> String {
    format!("{}/api/v1/sign-in/{}/callback", public_url.trim_end_matches('/'), provider.id)
}

type Client = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

fn client(provider: &Provider, public_url: &str, fresh: bool) -> Result<Client, String> {
    let redirect = RedirectUrl::new(callback_url(public_url, provider)).map_err(|e| format!("BW_PUBLIC_URL: {e}"))?;
    Ok(CoreClient::from_provider_metadata(
        metadata(&provider.issuer, fresh)?,
        ClientId::new(provider.client_id.clone()),
        Some(ClientSecret::new(provider.client_secret.clone())),
    )
    .set_redirect_uri(redirect))
}

/// Starts a login: the provider's address to send the browser to, and the id of the pending
/// login, for the browser's cookie. Blocking (discovery).
pub fn start(provider: &Provider, public_url: &str) -> Result<(String, String), String> {
    let client = client(provider, public_url, false)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
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
            csrf: csrf.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
            since: Instant::now(),
        },
    );
    Ok((url.to_string(), id))
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
    let client = client(provider, public_url, false).map_err(Refused)?;
    let token = client
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .map_err(|e| Refused(format!("token endpoint: {e}")))?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier))
        .request(&http())
        .map_err(|e| Refused(format!("the code was refused: {e}")))?;
    let id_token = token.extra_fields().id_token().ok_or_else(|| Refused("no ID token in the answer".into()))?;
    let nonce = Nonce::new(pending.nonce);
    let claims = match id_token.claims(&client.id_token_verifier(), &nonce) {
        Ok(claims) => claims.clone(),
        // A key the cached document did not have: read it again, once.
        Err(first) => {
            let client = client_fresh(provider, public_url)?;
            let verifier = client.id_token_verifier();
            let claims = id_token.claims(&verifier, &nonce).map_err(|_| Refused(format!("ID token: {first}")))?;
            claims.clone()
        }
    };
    // Conformant providers put the email in the ID token only when no access token is given;
    // then it is at the user info endpoint, for the same subject.
    let (email, verified) = match claims.email() {
        Some(email) => (email.as_str().to_string(), claims.email_verified()),
        None => {
            let info: openidconnect::core::CoreUserInfoClaims = client
                .user_info(token.access_token().to_owned(), Some(claims.subject().clone()))
                .map_err(|e| Refused(format!("no email in the ID token, and no user info endpoint: {e}")))?
                .request(&http())
                .map_err(|e| Refused(format!("user info: {e}")))?;
            let email = info
                .email()
                .map(|e| e.as_str().to_string())
                .ok_or_else(|| Refused("the provider gives no email".into()))?;
            (email, info.email_verified())
        }
    };
    if verified != Some(true) {
        return Err(Refused(format!("the provider has not verified {email}")));
    }
    Ok(email)
}

fn client_fresh(provider: &Provider, public_url: &str) -> Result<Client, Refused> {
    client(provider, public_url, true).map_err(Refused)
}
