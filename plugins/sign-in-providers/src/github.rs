//! GitHub: plain OAuth2 (no ID token, so no nonce), with PKCE and `state`. The person's email
//! is the verified primary one from `GET /user/emails` (scope `user:email`): a public profile
//! email is whatever its owner typed, and a secondary one is not what GitHub vouches for as
//! the person's.

use std::io::Read;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, TokenResponse, TokenUrl,
};
use serde::Deserialize;

use crate::protocol::{agent, callback_url, http, Pending, Refused, Started};
use crate::providers::Provider;

type Client = BasicClient<
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

fn client(provider: &Provider, web: &str, public_url: &str) -> Result<Client, String> {
    let url = |path: &str| format!("{web}/login/oauth/{path}");
    Ok(BasicClient::new(ClientId::new(provider.client_id.clone()))
        .set_client_secret(ClientSecret::new(provider.client_secret.clone()))
        // GitHub reads the client's credentials from the form.
        .set_auth_type(AuthType::RequestBody)
        .set_auth_uri(AuthUrl::new(url("authorize")).map_err(|e| format!("BW_GITHUB_URL: {e}"))?)
        .set_token_uri(TokenUrl::new(url("access_token")).map_err(|e| format!("BW_GITHUB_URL: {e}"))?)
        .set_redirect_uri(
            RedirectUrl::new(callback_url(public_url, provider)).map_err(|e| format!("BW_PUBLIC_URL: {e}"))?,
        ))
}

pub fn start(provider: &Provider, web: &str, public_url: &str) -> Result<Started, String> {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf) = client(provider, web, public_url)?
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("user:email".into()))
        .set_pkce_challenge(challenge)
        .url();
    Ok(Started {
        url: url.to_string(),
        csrf: csrf.secret().clone(),
        nonce: String::new(),
        verifier: verifier.secret().clone(),
    })
}

/// One of the account's addresses, as `GET /user/emails` lists them.
#[derive(Deserialize)]
struct Email {
    email: String,
    primary: bool,
    verified: bool,
}

pub fn finish(
    provider: &Provider,
    web: &str,
    api: &str,
    public_url: &str,
    code: &str,
    pending: Pending,
) -> Result<String, Refused> {
    let client = client(provider, web, public_url).map_err(Refused)?;
    // GitHub answers a bad code with 200 and an `error` field: the library reads it as an
    // answer without a token, which is a refusal all the same.
    let token = client
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier))
        .request(&http())
        .map_err(|e| Refused(format!("the code was refused: {e}")))?;
    let answer = agent()
        .get(&format!("{api}/user/emails"))
        .set("Authorization", &format!("Bearer {}", token.access_token().secret()))
        .set("Accept", "application/vnd.github+json")
        .set("X-GitHub-Api-Version", "2022-11-28")
        // GitHub refuses requests without one.
        .set("User-Agent", concat!("borgwarehouse/", env!("CARGO_PKG_VERSION")))
        .call()
        .map_err(|e| Refused(format!("GitHub's emails: {e}")))?;
    let mut body = Vec::new();
    answer.into_reader().take(1 << 20).read_to_end(&mut body).map_err(|e| Refused(format!("GitHub's emails: {e}")))?;
    let emails: Vec<Email> =
        serde_json::from_slice(&body).map_err(|e| Refused(format!("GitHub's emails are not a list: {e}")))?;
    let primary =
        emails.into_iter().find(|e| e.primary).ok_or_else(|| Refused("GitHub gives no primary email".into()))?;
    if !primary.verified {
        return Err(Refused(format!("GitHub has not verified {}", primary.email)));
    }
    Ok(primary.email)
}
