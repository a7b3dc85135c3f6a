//! OpenID Connect: the authorization code flow with PKCE and `nonce`; the ID token's signature
//! (keys from the provider's discovery document, read again when a key is unknown: the
//! provider rotated its keys), issuer, audience, expiry and nonce are checked.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope,
};

use crate::protocol::{callback_url, http, Pending, Refused, Started};
use crate::providers::Provider;

/// How long a discovery document (and the keys it names) is used before it is read again.
const DISCOVERY_FOR: Duration = Duration::from_secs(600);

fn discovered() -> &'static Mutex<HashMap<String, (Instant, CoreProviderMetadata)>> {
    static DISCOVERED: OnceLock<Mutex<HashMap<String, (Instant, CoreProviderMetadata)>>> = OnceLock::new();
    DISCOVERED.get_or_init(Default::default)
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

type Client = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

fn client(provider: &Provider, issuer: &str, public_url: &str, fresh: bool) -> Result<Client, String> {
    let redirect = RedirectUrl::new(callback_url(public_url, provider)).map_err(|e| format!("BW_PUBLIC_URL: {e}"))?;
    Ok(CoreClient::from_provider_metadata(
        metadata(issuer, fresh)?,
        ClientId::new(provider.client_id.clone()),
        Some(ClientSecret::new(provider.client_secret.clone())),
    )
    .set_redirect_uri(redirect))
}

pub fn start(provider: &Provider, issuer: &str, public_url: &str) -> Result<Started, String> {
    let client = client(provider, issuer, public_url, false)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    Ok(Started {
        url: url.to_string(),
        csrf: csrf.secret().clone(),
        nonce: nonce.secret().clone(),
        verifier: verifier.secret().clone(),
    })
}

pub fn finish(
    provider: &Provider,
    issuer: &str,
    public_url: &str,
    code: &str,
    pending: Pending,
) -> Result<String, Refused> {
    let client = client(provider, issuer, public_url, false).map_err(Refused)?;
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
            let fresh = self::client(provider, issuer, public_url, true).map_err(Refused)?;
            let verifier = fresh.id_token_verifier();
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
