//! The credential check on the request head, before any body is read: who is calling, or the
//! contract's 401/403. It runs in a middleware for every documented operation that declares a
//! security scheme; the route's [`Guard`](super::Guard) then checks the permission.

use base64::Engine;
use poem::Request;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{Person, Principal, SCHEME_ADMIN, SCHEME_CRON, SCHEME_CRON_QUERY, SCHEME_SIGN_IN, SCHEME_TOKEN};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::throttle::client_ip;

/// The cookie `POST /api/v1/sign-in` sets for the page: the sign-in token, `HttpOnly` (no
/// script reads it) and `SameSite=Strict` (no other site's page sends it), so a sign-in holds
/// across the tabs of one browser.
pub const SIGN_IN_COOKIE: &str = "bw_sign_in";
/// The header a request signed in by the cookie must carry on an unsafe method: a form of
/// another site cannot send it, and a script of another site cannot without a CORS preflight
/// this server never grants (against cross-site request forgery).
pub const CSRF_HEADER: &str = "x-bw-csrf";

/// What the request presents: the `Authorization` header, else the sign-in cookie.
enum Presented {
    Bearer(String),
    Basic {
        user: String,
        password: String,
    },
    /// The sign-in cookie (a sign-in token), with no `Authorization` header.
    Cookie(String),
    /// Missing, another scheme, or not decodable.
    Nothing,
}

/// The value of the request's cookie `name`, if it has one.
pub fn cookie_of(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get_all(poem::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_string())
}

/// The sign-in cookie's value, if the request has one that holds a sign-in token.
fn sign_in_cookie(req: &Request) -> Option<String> {
    cookie_of(req, SIGN_IN_COOKIE).filter(|value| value.starts_with(bw_store::sign_ins::PREFIX))
}

fn presented(req: &Request) -> Presented {
    let Some(value) = req.headers().get(poem::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return sign_in_cookie(req).map_or(Presented::Nothing, Presented::Cookie);
    };
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim();
    if rest.is_empty() {
        return Presented::Nothing;
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        return Presented::Bearer(rest.to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded =
            base64::engine::general_purpose::STANDARD.decode(rest).ok().and_then(|b| String::from_utf8(b).ok());
        if let Some((user, password)) = decoded.as_deref().and_then(|d| d.split_once(':')) {
            return Presented::Basic { user: user.to_string(), password: password.to_string() };
        }
    }
    Presented::Nothing
}

/// The sign-in token the request presented, as the credential check read it: the bearer token
/// of its `Authorization` header, or the sign-in cookie (sign-out ends the very token that was
/// admitted).
pub fn bearer_token(req: &Request) -> Option<String> {
    match presented(req) {
        Presented::Bearer(token) | Presented::Cookie(token) => Some(token),
        _ => None,
    }
}

/// Whether a request signed in by the cookie may go on: a safe method, or the CSRF header.
fn csrf_safe(req: &Request) -> bool {
    let method = req.method();
    method == poem::http::Method::GET
        || method == poem::http::Method::HEAD
        || method == poem::http::Method::OPTIONS
        || req.headers().contains_key(CSRF_HEADER)
}

/// Identifies the caller of an operation that admits `schemes`. Every attempt is counted
/// against the address before it is checked (the throttle's one counting rule), and every
/// refusal that says the credentials were wrong counts as a failure.
pub async fn authenticate(state: &AppState, req: &Request, schemes: &[&'static str]) -> ApiResult<Principal> {
    let ip = client_ip(&state.config.server, req);
    let Some(attempt) = state.throttle.admit(ip, state.config.auth.failure_limit) else {
        state.telemetry.auth_failure("throttled");
        return Err(ApiError::TooManyRequests);
    };
    let result = identify(state, req, schemes, ip).await;
    let reason = match &result {
        Err(ApiError::Unauthorized) => Some("unauthorized"),
        Err(ApiError::InvalidApiKey) => Some("invalid_api_key"),
        Err(ApiError::CronUnauthorized) => Some("cron_key"),
        _ => None,
    };
    match reason {
        Some(reason) => {
            state.telemetry.auth_failure(reason);
            attempt.failed();
        }
        None => attempt.succeeded(),
    }
    result
}

async fn identify(
    state: &AppState,
    req: &Request,
    schemes: &[&'static str],
    ip: Option<std::net::IpAddr>,
) -> ApiResult<Principal> {
    if schemes.contains(&SCHEME_CRON) {
        // An operation that also takes a token or the administrator (the metrics) admits the
        // cron key as one more bearer: a bearer that is not the key is checked as a token.
        if schemes.contains(&SCHEME_TOKEN) || schemes.contains(&SCHEME_ADMIN) {
            if let Presented::Bearer(t) = presented(req) {
                if cron_key_matches(state, &t) {
                    return Ok(Principal::Cron);
                }
            }
            return identify_user(state, req, schemes, ip).await;
        }
        let from_query = || {
            schemes
                .contains(&SCHEME_CRON_QUERY)
                .then(|| req.params::<std::collections::HashMap<String, String>>().ok()?.remove("key"))
                .flatten()
        };
        let key = match presented(req) {
            Presented::Bearer(t) => Some(t),
            _ => from_query(),
        };
        return check_cron(state, key.as_deref());
    }
    identify_user(state, req, schemes, ip).await
}

/// A token or a user.
async fn identify_user(
    state: &AppState,
    req: &Request,
    schemes: &[&'static str],
    ip: Option<std::net::IpAddr>,
) -> ApiResult<Principal> {
    match presented(req) {
        // A sign-in token says what it is by its prefix: no API token starts so.
        Presented::Bearer(token)
            if schemes.contains(&SCHEME_SIGN_IN) && token.starts_with(bw_store::sign_ins::PREFIX) =>
        {
            check_sign_in(state, &token)
        }
        Presented::Bearer(token) if schemes.contains(&SCHEME_TOKEN) => check_token(state, &token, req, ip),
        Presented::Cookie(token) if schemes.contains(&SCHEME_SIGN_IN) => {
            if !csrf_safe(req) {
                tracing::warn!(target: "audit", route = req.uri().path(), "cookie sign-in refused: no CSRF header on an unsafe method");
                return Err(ApiError::Forbidden(format!(
                    "A request signed in by the page's cookie must send the {CSRF_HEADER} header on {}",
                    req.method()
                )));
            }
            check_sign_in(state, &token)
        }
        Presented::Basic { user, password } if schemes.contains(&SCHEME_ADMIN) => {
            check_password(state, req, user, password).await
        }
        _ => Err(ApiError::Unauthorized),
    }
}

/// `CRONJOB_KEY`; an unset or empty key refuses everyone.
fn check_cron(state: &AppState, presented: Option<&str>) -> ApiResult<Principal> {
    let expected = state.config.auth.cronjob_key.as_ref().map(|k| k.expose()).unwrap_or("");
    if expected.is_empty() {
        tracing::warn!("cron call refused: CRONJOB_KEY is not set");
        return Err(ApiError::CronUnauthorized);
    }
    if presented.is_some_and(|p| cron_key_matches(state, p)) {
        Ok(Principal::Cron)
    } else {
        Err(ApiError::CronUnauthorized)
    }
}

/// Whether `presented` is the configured, non-empty `CRONJOB_KEY`.
fn cron_key_matches(state: &AppState, presented: &str) -> bool {
    let expected = state.config.auth.cronjob_key.as_ref().map(|k| k.expose()).unwrap_or("");
    // Equal-length digests: the comparison time tells nothing about the key.
    !expected.is_empty() && bool::from(Sha256::digest(presented.as_bytes()).ct_eq(&Sha256::digest(expected.as_bytes())))
}

async fn check_password(state: &AppState, req: &Request, user: String, password: String) -> ApiResult<Principal> {
    if !state.users.exists()? {
        tracing::warn!("sign-in refused: no user yet; open the page with the setup code from this log, run `borgwarehouse admin set-password`, or set BW_ADMIN_PASSWORD");
        return Err(ApiError::Unauthorized);
    }
    // Credentials already proven against the current hash cost a digest, not argon2.
    let found = match state.users.verified_before(&user, &password)? {
        Some(found) => Some(found),
        None => {
            // One argon2 check per core at a time: each takes ~19 MiB.
            let Some(_turn) = state.throttle.password_check().await else {
                tracing::warn!(target: "audit", "password check put off: too many password checks at once");
                return Err(ApiError::TooManyRequests);
            };
            let verifier = state.clone();
            let name = user.clone();
            tokio::task::spawn_blocking(move || verifier.users.verify(&name, &password))
                .await
                .map_err(ApiError::internal)??
        }
    };
    match found {
        Some(u) => Ok(Principal::User(Person { name: u.name, role: u.role, tenant: u.tenant, signed_in_until: None })),
        None => {
            tracing::warn!(target: "audit", user = %user, "password authentication failed");
            // The name tried and the address, never the password.
            let client = crate::throttle::client_ip(&state.config.server, req);
            let entry =
                crate::audit::anonymous(state.clock.now(), client, "sign-in.failed", &user, serde_json::Value::Null);
            if let Err(e) = state.audit.record_soon(&entry) {
                tracing::error!(error = %e, "the audit entry was not written");
            }
            Err(ApiError::Unauthorized)
        }
    }
}

/// A page's sign-in: live, of a user who still exists, and this use moves its expiry.
fn check_sign_in(state: &AppState, token: &str) -> ApiResult<Principal> {
    let ttl = state.config.auth.sign_in_ttl.as_secs() as i64;
    let signed_in = state.users.sign_ins.use_token(token, state.clock.now(), ttl)?;
    let found = match signed_in {
        Some((expires_at, name)) => state.users.get(&name)?.map(|u| (u, expires_at)),
        None => None,
    };
    match found {
        Some((u, expires_at)) => Ok(Principal::User(Person {
            name: u.name,
            role: u.role,
            tenant: u.tenant,
            signed_in_until: Some(expires_at),
        })),
        None => {
            tracing::info!(target: "audit", outcome = "unknown, ended or expired", "sign-in refused");
            Err(ApiError::InvalidApiKey)
        }
    }
}

/// A token's rights now: its own, within its maker's current role and tenant; `None` when its
/// maker is gone.
fn token_rights(
    state: &AppState,
    record: &bw_store::token_store::TokenRecord,
) -> ApiResult<Option<(bw_store::token_store::Permissions, bw_store::scope::Scope)>> {
    let Some(owner) = &record.owner else { return Ok(Some((record.permissions, record.scope.clone()))) };
    let Some(user) = state.users.get(owner)? else { return Ok(None) };
    use bw_store::token_store::{Permission, Permissions};
    let p = record.permissions;
    let role = user.role;
    let permissions = Permissions {
        create: p.create && role.allows(Permission::Create),
        read: p.read && role.allows(Permission::Read),
        update: p.update && role.allows(Permission::Update),
        delete: p.delete && role.allows(Permission::Delete),
    };
    Ok(Some((permissions, record.scope.within(&bw_store::scope::Scope::tenant(user.tenant)))))
}

fn check_token(state: &AppState, token: &str, req: &Request, ip: Option<std::net::IpAddr>) -> ApiResult<Principal> {
    let route = req.uri().path();
    let client = ip.map(|i| i.to_string()).unwrap_or_default();
    if !crate::build_info::INTEGRATIONS_COMPILED || state.config.auth.disable_integrations {
        tracing::info!(target: "audit", route, client, outcome = "integrations disabled", "token refused");
        return Err(ApiError::InvalidApiKey);
    }
    let now = state.clock.now();
    let Some(record) = state.tokens.verify(token, now)? else {
        tracing::warn!(target: "audit", route, client, outcome = "invalid", "token refused");
        return Err(ApiError::InvalidApiKey);
    };
    let Some((permissions, scope)) = token_rights(state, &record)? else {
        tracing::warn!(target: "audit", token = %record.name, route, client, outcome = "its maker was removed", "token refused");
        return Err(ApiError::InvalidApiKey);
    };
    state.tokens.touch(&record.name, now);
    tracing::info!(target: "audit", token = %record.name, route, client, outcome = "accepted", "token accepted");
    Ok(Principal::Token { name: record.name, permissions, scope, owner: record.owner })
}

/// The credential a request presented, kept by a long answer (a stream of live updates) to ask
/// again, now and then, whether it still stands: a revoked token, a signed-out or expired
/// sign-in, a changed password, role or tenant, or a removed user ends the stream.
pub struct HeldCredential(Presented);

impl HeldCredential {
    pub fn of(req: &Request) -> Self {
        HeldCredential(presented(req))
    }

    /// Whether the credential still admits `principal` at `now`; never counts as a use (a
    /// sign-in's expiry does not move).
    pub fn still_valid(&self, state: &AppState, principal: &Principal, now: i64) -> bool {
        let same_user = |u: Option<bw_store::user_store::User>, p: &Person| {
            u.is_some_and(|u| u.name == p.name && u.role == p.role && u.tenant == p.tenant)
        };
        match (&self.0, principal) {
            (Presented::Bearer(token) | Presented::Cookie(token), Principal::User(p))
                if p.signed_in_until.is_some() =>
            {
                let live = state.users.sign_ins.live_user(token, now).ok().flatten();
                live.is_some_and(|name| same_user(state.users.get(&name).ok().flatten(), p))
            }
            (Presented::Bearer(token), Principal::Token { permissions, scope, .. }) => {
                match state.tokens.verify(token, now) {
                    Ok(Some(record)) => {
                        matches!(token_rights(state, &record), Ok(Some((pm, s))) if pm == *permissions && s == *scope)
                    }
                    _ => false,
                }
            }
            (Presented::Basic { user, password }, Principal::User(p)) => {
                same_user(state.users.verified_before(user, password).ok().flatten(), p)
            }
            _ => false,
        }
    }
}
