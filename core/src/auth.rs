//! Who is calling: the administrator (HTTP Basic) or an API token (Bearer), with the contract's
//! 401/403 answers, an audit log line for every token authentication, and a throttle on
//! addresses that keep failing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use poem::Request;
use poem_openapi::auth::{ApiKey, Basic, Bearer};
use poem_openapi::SecurityScheme;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::token_store::Permission;
use crate::{ApiError, ApiResult, AppState};

/// An API token made in the token manager.
#[derive(SecurityScheme)]
#[oai(rename = "apiToken", ty = "bearer")]
pub struct TokenAuth(pub Bearer);

/// The administrator's name and password.
#[derive(SecurityScheme)]
#[oai(rename = "admin", ty = "basic")]
pub struct AdminAuth(pub Basic);

/// The credentials a repository route accepts.
#[derive(SecurityScheme)]
pub enum RepoAuth {
    Token(TokenAuth),
    Admin(AdminAuth),
    /// Missing or malformed: answered 401 by [`AppState::authorize`].
    #[oai(fallback)]
    Missing,
}

/// The credentials an administrator-only route accepts.
#[derive(SecurityScheme)]
pub enum AdminOnly {
    Admin(AdminAuth),
    #[oai(fallback)]
    Missing,
}

/// `Authorization: Bearer CRONJOB_KEY`.
#[derive(SecurityScheme)]
#[oai(rename = "cronKey", ty = "bearer")]
pub struct CronBearer(pub Bearer);

/// `?key=CRONJOB_KEY`, as BorgWarehouse's own crontab example calls the v1 cron paths.
#[derive(SecurityScheme)]
#[oai(rename = "cronKeyQuery", ty = "api_key", key_name = "key", key_in = "query")]
pub struct CronQueryKey(pub ApiKey);

/// The cron key on the seed cron paths.
#[derive(SecurityScheme)]
pub enum CronAuth {
    Bearer(CronBearer),
    #[oai(fallback)]
    Missing,
}

/// The cron key on the v1 cron paths: header or query.
#[derive(SecurityScheme)]
pub enum CronAuthV1 {
    Bearer(CronBearer),
    Query(CronQueryKey),
    #[oai(fallback)]
    Missing,
}

impl CronAuth {
    pub fn presented(&self) -> Option<&str> {
        match self {
            CronAuth::Bearer(CronBearer(b)) => Some(&b.token),
            CronAuth::Missing => None,
        }
    }
}

impl CronAuthV1 {
    pub fn presented(&self) -> Option<&str> {
        match self {
            CronAuthV1::Bearer(CronBearer(b)) => Some(&b.token),
            CronAuthV1::Query(CronQueryKey(k)) => Some(&k.key),
            CronAuthV1::Missing => None,
        }
    }
}

/// After `auth_failure_limit` failed authentications from one address within [`WINDOW`], the
/// address is refused with 429 for [`WINDOW`].
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
    fn check(&self, ip: IpAddr) -> ApiResult<()> {
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = map.get(&ip) {
            if matches!(e.blocked_until, Some(t) if t > Instant::now()) {
                return Err(ApiError::TooManyRequests);
            }
        }
        Ok(())
    }

    fn fail(&self, ip: IpAddr, limit: u32) {
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
pub fn client_ip(state: &AppState, req: &Request) -> Option<IpAddr> {
    let peer = req.remote_addr().as_socket_addr().map(|a| a.ip());
    match peer {
        Some(p) if state.config.trusted_proxies.contains(&p) => req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse().ok())
            .or(Some(p)),
        other => other,
    }
}

impl AppState {
    /// Admits the administrator, or a token holding `need`.
    pub async fn authorize(&self, auth: &RepoAuth, req: &Request, need: Permission) -> ApiResult<()> {
        let ip = client_ip(self, req);
        if let Some(ip) = ip {
            self.throttle.check(ip)?;
        }
        let result = match auth {
            RepoAuth::Missing => Err(ApiError::Unauthorized),
            RepoAuth::Admin(AdminAuth(basic)) => self.check_admin(basic).await,
            RepoAuth::Token(TokenAuth(bearer)) if bearer.token.trim().is_empty() => Err(ApiError::Unauthorized),
            RepoAuth::Token(TokenAuth(bearer)) => self.check_token(&bearer.token, req, ip, need),
        };
        if let (Err(ApiError::Unauthorized | ApiError::InvalidApiKey), Some(ip)) = (&result, ip) {
            self.throttle.fail(ip, self.config.auth_failure_limit);
        }
        result
    }

    /// Admits a caller presenting `CRONJOB_KEY`. An unset or empty key refuses everyone.
    pub fn authorize_cron(&self, presented: Option<&str>, req: &Request) -> ApiResult<()> {
        let ip = client_ip(self, req);
        if let Some(ip) = ip {
            self.throttle.check(ip).map_err(|_| ApiError::TooManyRequests)?;
        }
        let expected = self.config.cronjob_key.as_deref().unwrap_or("");
        let ok = match presented {
            Some(p) if !expected.is_empty() => {
                // Equal-length digests: the comparison time tells nothing about the key.
                bool::from(Sha256::digest(p.as_bytes()).ct_eq(&Sha256::digest(expected.as_bytes())))
            }
            _ => false,
        };
        if ok {
            return Ok(());
        }
        if expected.is_empty() {
            tracing::warn!("cron call refused: CRONJOB_KEY is not set");
        }
        if let Some(ip) = ip {
            self.throttle.fail(ip, self.config.auth_failure_limit);
        }
        Err(ApiError::CronUnauthorized)
    }

    /// Admits the administrator only.
    pub async fn authorize_admin(&self, auth: &AdminOnly, req: &Request) -> ApiResult<()> {
        let ip = client_ip(self, req);
        if let Some(ip) = ip {
            self.throttle.check(ip)?;
        }
        let result = match auth {
            AdminOnly::Missing => Err(ApiError::Unauthorized),
            AdminOnly::Admin(AdminAuth(basic)) => self.check_admin(basic).await,
        };
        if let (Err(_), Some(ip)) = (&result, ip) {
            self.throttle.fail(ip, self.config.auth_failure_limit);
        }
        result
    }

    async fn check_admin(&self, basic: &Basic) -> ApiResult<()> {
        if !self.admin.exists() {
            tracing::warn!("administrator login refused: no account yet; run `borgwarehouse admin set-password` or set BW_ADMIN_PASSWORD");
            return Err(ApiError::Unauthorized);
        }
        let state = self.clone();
        let (user, password) = (basic.username.clone(), basic.password.clone());
        let ok = tokio::task::spawn_blocking(move || state.admin.verify(&user, &password))
            .await
            .map_err(ApiError::internal)?;
        if ok {
            Ok(())
        } else {
            tracing::warn!(target: "audit", user = %basic.username, "administrator authentication failed");
            Err(ApiError::Unauthorized)
        }
    }

    fn check_token(&self, token: &str, req: &Request, ip: Option<IpAddr>, need: Permission) -> ApiResult<()> {
        let route = req.uri().path();
        let client = ip.map(|i| i.to_string()).unwrap_or_default();
        if !crate::INTEGRATIONS_COMPILED || self.config.disable_integrations {
            tracing::info!(target: "audit", route, client, outcome = "integrations disabled", "token refused");
            return Err(ApiError::InvalidApiKey);
        }
        let now = self.clock.now();
        let Some(record) = self.tokens.verify(token, now).map_err(ApiError::internal)? else {
            tracing::warn!(target: "audit", route, client, outcome = "invalid", "token refused");
            return Err(ApiError::InvalidApiKey);
        };
        self.tokens.touch(&record.name, now);
        if !record.permissions.allows(need) {
            tracing::warn!(target: "audit", token = %record.name, route, client, outcome = "insufficient permissions", "token refused");
            return Err(ApiError::InsufficientPermissions);
        }
        tracing::info!(target: "audit", token = %record.name, route, client, outcome = "accepted", "token accepted");
        Ok(())
    }
}
