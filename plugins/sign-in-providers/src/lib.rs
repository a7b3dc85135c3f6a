//! Sign-in through providers, as BorgWarehouse 3.6 does (its setting names): generic OpenID
//! Connect (Keycloak, Authentik…), GitHub, Google, Microsoft and GitLab. A provider's verified email
//! selects an existing user; nobody is created by signing in. The page lists the providers
//! (`GET /api/v1/auth/providers`), sends the browser to one (`GET /api/v1/sign-in/ID`), and the
//! provider sends it back (`.../callback`), signed in with the page's cookie.

mod flow;
mod github;
mod openid;
mod protocol;
mod providers;
mod settings;

use bw_api::auth::{client_ip, cookie_of};
use bw_api::refusals::{Answer, NOT_FOUND, THROTTLED};
use bw_api::{ApiError, AppState};
use poem::web::Data;
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
pub use settings::ProviderSettings;

#[derive(Tags)]
enum Tag {
    /// Signing in through OpenID Connect and GitHub.
    #[oai(rename = "People, tenants and scopes (this server, v1 paths)")]
    People,
}

/// The pending login's cookie: which browser started it. `SameSite=Lax`: the provider sends the
/// browser back by a top-level navigation from its own site, which a Strict cookie would miss.
const PENDING_COOKIE: &str = "bw_sign_in_pending";

/// A provider on the page.
#[derive(Object, Debug)]
#[oai(rename = "SignInProvider")]
pub struct ProviderInfo {
    /// In the paths: `oidc`, `github`, `google`, `microsoft`, `gitlab`.
    pub id: String,
    /// Its name on the page.
    pub name: String,
}

/// How people may sign in.
#[derive(Object, Debug)]
#[oai(rename = "SignInMethods")]
pub struct SignInMethods {
    /// Whether a name and password may sign in on the page.
    pub password: bool,
    pub providers: Vec<ProviderInfo>,
}

/// A redirect, with the cookie it sets.
#[derive(ApiResponse)]
pub enum Redirect {
    /// To the provider, or back to the page.
    #[oai(status = 302)]
    Found(#[oai(header = "Location")] String, #[oai(header = "Set-Cookie")] String),
}

fn settings(state: &AppState) -> ProviderSettings {
    state.config.group::<ProviderSettings>()
}

fn provider(state: &AppState, id: &str) -> Option<(providers::Provider, String)> {
    let s = settings(state);
    let public_url = s.public_url.clone()?;
    providers::configured(&s).into_iter().find(|p| p.id == id).map(|p| (p, public_url))
}

fn page(public_url: &str, hash: &str) -> String {
    format!("{}/#/{hash}", public_url.trim_end_matches('/'))
}

fn secure(public_url: &str) -> &'static str {
    if public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    }
}

pub struct ProvidersApi;

#[OpenApi]
impl ProvidersApi {
    /// How people may sign in: by password, and through which providers (no credentials)
    #[oai(path = "/api/v1/auth/providers", method = "get", tag = "Tag::People", operation_id = "listSignInProviders")]
    async fn providers(&self, state: Data<&AppState>) -> Answer<Json<SignInMethods>, 0> {
        let s = settings(&state);
        let providers: Vec<ProviderInfo> =
            providers::configured(&s).into_iter().map(|p| ProviderInfo { id: p.id.into(), name: p.name }).collect();
        let password = !s.disable_password_login || providers.is_empty();
        Ok(Json(SignInMethods { password, providers }))
    }

    /// Go to a provider to sign in (a browser follows the redirect)
    #[oai(
        path = "/api/v1/sign-in/:provider",
        method = "get",
        tag = "Tag::People",
        operation_id = "startProviderSignIn"
    )]
    async fn start(&self, state: Data<&AppState>, provider: Path<String>) -> Answer<Redirect, NOT_FOUND> {
        let Some((chosen, public_url)) = self::provider(&state, &provider) else {
            return Err(ApiError::NotFound(format!(
                "No sign-in provider {}",
                provider.0.chars().take(40).collect::<String>()
            ))
            .into());
        };
        let url = public_url.clone();
        let started =
            tokio::task::spawn_blocking(move || flow::start(&chosen, &url)).await.map_err(ApiError::internal)?;
        match started {
            Ok((to, browser)) => {
                let cookie = format!(
                    "{PENDING_COOKIE}={browser}; Path=/api/v1/sign-in; HttpOnly; SameSite=Lax; Max-Age=600{}",
                    secure(&public_url)
                );
                Ok(Redirect::Found(to, cookie))
            }
            Err(why) => {
                tracing::error!(provider = %provider.0, error = %why, "sign-in through a provider could not start");
                let clear = format!("{PENDING_COOKIE}=; Path=/api/v1/sign-in; Max-Age=0");
                Ok(Redirect::Found(page(&public_url, "sign-in?provider=unavailable"), clear))
            }
        }
    }

    /// Where the provider sends the browser back: signed in, back to the page
    #[oai(
        path = "/api/v1/sign-in/:provider/callback",
        method = "get",
        tag = "Tag::People",
        operation_id = "finishProviderSignIn"
    )]
    async fn callback(
        &self,
        state: Data<&AppState>,
        req: &Request,
        provider: Path<String>,
        /// The authorization code.
        code: Query<Option<String>>,
        /// The state this server gave.
        #[oai(name = "state")]
        csrf: Query<Option<String>>,
        /// The provider's refusal, if it refused.
        error: Query<Option<String>>,
    ) -> Answer<Redirect, { NOT_FOUND | THROTTLED }> {
        let Some((chosen, public_url)) = self::provider(&state, &provider) else {
            return Err(ApiError::NotFound(format!(
                "No sign-in provider {}",
                provider.0.chars().take(40).collect::<String>()
            ))
            .into());
        };
        // A failed callback counts toward the address's throttle, as a wrong password does.
        let ip = client_ip(&state.config.server, req);
        let Some(attempt) = state.throttle.admit(ip, state.config.auth.failure_limit) else {
            return Err(ApiError::TooManyRequests.into());
        };
        let clear = format!("{PENDING_COOKIE}=; Path=/api/v1/sign-in; Max-Age=0");
        let fail = |why: String, what: &str, tried: &str| {
            tracing::warn!(target: "audit", provider = %chosen.id, client = ?ip, why = %why, "sign-in through a provider refused");
            let entry = bw_api::audit::anonymous(
                state.clock.now(),
                ip,
                "sign-in.failed",
                tried,
                serde_json::json!({"provider": chosen.id}),
            );
            if let Err(e) = state.audit.record_soon(&entry) {
                tracing::error!(error = %e, "the audit entry was not written");
            }
            Redirect::Found(page(&public_url, &format!("sign-in?provider={what}")), clear.clone())
        };
        let (Some(code), Some(csrf)) = (code.0.clone(), csrf.0.clone()) else {
            attempt.failed();
            let why = error.0.clone().unwrap_or_else(|| "no code or state".into());
            return Ok(fail(why, "refused", ""));
        };
        let browser = cookie_of(req, PENDING_COOKIE);
        let (p, url) = (chosen.clone(), public_url.clone());
        let finished = tokio::task::spawn_blocking(move || flow::finish(&p, &url, browser.as_deref(), &code, &csrf))
            .await
            .map_err(ApiError::internal)?;
        let email = match finished {
            Ok(email) => email,
            Err(protocol::Refused(why)) => {
                attempt.failed();
                return Ok(fail(why, "refused", ""));
            }
        };
        // A verified email selects an existing user; nobody is created by signing in.
        let Some(user) = state.users.by_email(&email)? else {
            attempt.failed();
            return Ok(fail(format!("no user has the email {email}"), "no-account", &email));
        };
        attempt.succeeded();
        let ttl = state.config.auth.sign_in_ttl.as_secs() as i64;
        let (token, _) = state.users.sign_ins.create(&user.name, state.clock.now(), ttl)?;
        let entry = bw_store::audit_log::AuditEntry::new(
            state.clock.now(),
            (user.name.clone(), bw_store::audit_log::ActorKind::User),
            ip.map(|i| i.to_string()).unwrap_or_default(),
            "sign-in",
            &user.name,
            serde_json::Map::from_iter([("provider".to_string(), serde_json::json!(chosen.id))]),
        );
        if let Err(e) = state.audit.record(&entry) {
            tracing::error!(error = %e, "the audit entry was not written");
        }
        tracing::info!(target: "audit", user = %user.name, provider = %chosen.id, "signed in through a provider");
        let cookie = format!(
            "{}={token}; Path=/; HttpOnly; SameSite=Strict{}",
            bw_api::auth::SIGN_IN_COOKIE,
            secure(&public_url)
        );
        Ok(Redirect::Found(page(&public_url, "signed-in"), cookie))
    }
}

/// `DISABLE_PASSWORD_LOGIN`: passwords refused on the page's sign-in while a provider is
/// configured; with none, ignored (a host nobody could sign in to would help no one).
fn refuses_passwords(state: &AppState) -> Option<String> {
    let s = settings(state);
    if !s.disable_password_login {
        return None;
    }
    if providers::configured(&s).is_empty() {
        tracing::warn!("DISABLE_PASSWORD_LOGIN is set but no sign-in provider is configured: passwords still sign in");
        return None;
    }
    Some("Signing in with a password is disabled on this server: sign in through a provider".into())
}

bw_api::endpoint_plugin!("sign-in-providers", ProvidersApi, ProvidersApi);
bw_api::password_policy!(refuses_passwords);
