//! Sign-in for people: a page trades a user's name and password, once, for a token that
//! expires when left unused (`BW_SIGN_IN_TTL`), so the password is never kept in a tab.
//! The token is checked by `bw_api::auth` like any credential; this plugin makes and ends them,
//! and tells any caller who it is and what it may do (`GET /api/v1/whoami`), so a page shows a
//! token only the views its permissions allow.

use bw_api::auth::{bearer_token, AnyCaller, Guard, Principal, SignedIn, UserPassword};
use bw_api::refusals::{Answer, DISABLED, NONE};
use bw_api::{ApiError, AppState};
use bw_store::user_store::Role;
use poem::web::Data;
use poem::Request;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags};

#[derive(Tags)]
enum Tag {
    /// A page's sign-in: a short-lived token in place of a user's password.
    #[oai(rename = "Sign-in for people (this server, v1 paths)")]
    SignIn,
}

/// A new sign-in.
#[derive(Object)]
#[oai(rename = "SignInToken", rename_all = "camelCase")]
pub struct SignInToken {
    /// A Bearer credential with the user's rights, shown this once.
    pub token: String,
    /// Unix seconds; each use moves it `BW_SIGN_IN_TTL` seconds past that use.
    pub expires_at: i64,
}

/// What kind of credential called.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "CallerKind", rename_all = "camelCase")]
pub enum CallerKind {
    /// A user's name and password (`administrator` for an admin, as before there were users).
    Administrator,
    /// A user's name and password (an operator or a viewer).
    User,
    /// A sign-in token: a user, from a page.
    SignIn,
    /// An API token.
    Token,
}

/// What the caller may do.
#[derive(Object, Debug, Clone, Copy)]
#[oai(rename = "CallerPermissions")]
pub struct CallerPermissions {
    pub create: bool,
    pub read: bool,
    pub update: bool,
    pub delete: bool,
    /// Whether the caller may manage API tokens (admins, and operators their own).
    pub tokens: bool,
    /// Whether the caller may manage users and tenants and read the audit log (admins).
    pub users: bool,
    /// Whether the caller reads the whole host (may read, and is bound to no tenant nor scoped
    /// to names): the host's history and `/metrics` are for it.
    pub host: bool,
}

/// Who is calling.
#[derive(Object)]
#[oai(rename = "Caller", rename_all = "camelCase")]
pub struct Caller {
    pub kind: CallerKind,
    /// The user's or the API token's name.
    #[oai(skip_serializing_if_is_none)]
    pub name: Option<String>,
    /// The user's role (`admin`, `operator`, `viewer`); absent for a token.
    #[oai(skip_serializing_if_is_none)]
    pub role: Option<String>,
    /// The tenant the caller is bound to; absent for the whole host.
    #[oai(skip_serializing_if_is_none)]
    pub tenant: Option<String>,
    pub permissions: CallerPermissions,
    /// When a sign-in token expires if left unused (unix seconds); absent otherwise.
    #[oai(skip_serializing_if_is_none)]
    pub expires_at: Option<i64>,
}

/// `{"message":"Signed out"}`: the token is refused from now on.
#[derive(Object)]
#[oai(rename = "SignedOut")]
pub struct SignedOut {
    pub message: String,
}

/// A sign-in, and the page's cookie that carries it across tabs.
#[derive(ApiResponse)]
pub enum SignInAnswer {
    /// The sign-in token and when it expires if left unused; the `bw_sign_in` cookie holds the
    /// same token for the page (`HttpOnly`, `SameSite=Strict`, `Secure` behind HTTPS).
    #[oai(status = 200)]
    SignedIn(Json<SignInToken>, #[oai(header = "Set-Cookie")] String),
}

/// A sign-out, and the page's cookie cleared.
#[derive(ApiResponse)]
pub enum SignOutAnswer {
    /// `{"message":"Signed out"}`; the cookie is cleared.
    #[oai(status = 200)]
    SignedOut(Json<SignedOut>, #[oai(header = "Set-Cookie")] String),
}

/// Whether the request came over HTTPS, as a trusted proxy says (`X-Forwarded-Proto`): the
/// cookie is then `Secure`, so a browser never sends it in clear.
fn over_https(state: &AppState, req: &Request) -> bool {
    let peer = req.remote_addr().as_socket_addr().map(|a| a.ip());
    let trusted = peer.is_some_and(|p| state.config.server.trusted_proxies.contains(&p));
    trusted && req.header("x-forwarded-proto").is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// The cookie's attributes: a script cannot read it, another site's page never sends it.
fn cookie(value: &str, secure: bool, clear: bool) -> String {
    format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Strict{}{}",
        bw_api::auth::SIGN_IN_COOKIE,
        if secure { "; Secure" } else { "" },
        if clear { "; Max-Age=0" } else { "" }
    )
}

pub struct SignInApi;

#[OpenApi]
impl SignInApi {
    /// Sign in with a user's name and password, for a token that expires when unused
    #[oai(path = "/api/v1/sign-in", method = "post", tag = "Tag::SignIn", operation_id = "signIn")]
    async fn sign_in(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Guard<UserPassword>,
    ) -> Answer<SignInAnswer, DISABLED> {
        if let Some(why) = bw_api::password_policy::password_sign_in_refused(&state) {
            return Err(ApiError::Forbidden(why).into());
        }
        let ttl = state.config.auth.sign_in_ttl.as_secs() as i64;
        let name = caller.principal.user_name().ok_or(ApiError::Unauthorized)?;
        let (token, expires_at) = state.users.sign_ins.create(name, state.clock.now(), ttl)?;
        tracing::info!(target: "audit", user = %name, "signed in from a page");
        record(&state, caller.audit(state.clock.now(), "sign-in", name, serde_json::Value::Null));
        let set = cookie(&token, over_https(&state, req), false);
        Ok(SignInAnswer::SignedIn(Json(SignInToken { token, expires_at }), set))
    }

    /// End this sign-in: its token is refused from now on
    #[oai(path = "/api/v1/sign-out", method = "post", tag = "Tag::SignIn", operation_id = "signOut")]
    async fn sign_out(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Guard<SignedIn>,
    ) -> Answer<SignOutAnswer, NONE> {
        // The guard admitted a live sign-in, so the header holds one.
        let token = bearer_token(req).ok_or(ApiError::Unauthorized)?;
        state.users.sign_ins.end(&token)?;
        // Its streams end now, not at their next ping.
        state.events.credentials_changed();
        tracing::info!(target: "audit", user = %caller.principal.actor(), "signed out");
        record(&state, caller.audit(state.clock.now(), "sign-out", &caller.principal.actor(), serde_json::Value::Null));
        let clear = cookie("", over_https(&state, req), true);
        Ok(SignOutAnswer::SignedOut(Json(SignedOut { message: "Signed out".into() }), clear))
    }

    /// Who is calling, and what they may do
    #[oai(path = "/api/v1/whoami", method = "get", tag = "Tag::SignIn", operation_id = "whoami")]
    async fn whoami(&self, caller: Guard<AnyCaller>) -> Answer<Json<Caller>, NONE> {
        Ok(Json(match caller.principal {
            Principal::User(p) => {
                let may = |perm| p.role.allows(perm);
                use bw_store::token_store::Permission;
                let kind = match (p.signed_in_until, p.role) {
                    (Some(_), _) => CallerKind::SignIn,
                    (None, Role::Admin) => CallerKind::Administrator,
                    (None, _) => CallerKind::User,
                };
                Caller {
                    kind,
                    permissions: CallerPermissions {
                        create: may(Permission::Create),
                        read: may(Permission::Read),
                        update: may(Permission::Update),
                        delete: may(Permission::Delete),
                        tokens: p.role != Role::Viewer,
                        users: p.role == Role::Admin,
                        host: p.tenant.is_none(),
                    },
                    name: Some(p.name),
                    role: Some(p.role.as_str().to_string()),
                    tenant: p.tenant,
                    expires_at: p.signed_in_until,
                }
            }
            Principal::Token { name, permissions: p, scope, .. } => Caller {
                kind: CallerKind::Token,
                name: Some(name),
                role: None,
                tenant: scope.tenant.clone(),
                permissions: CallerPermissions {
                    create: p.create,
                    read: p.read,
                    update: p.update,
                    delete: p.delete,
                    tokens: false,
                    users: false,
                    host: p.read && scope.is_whole_host(),
                },
                expires_at: None,
            },
            // `AnyCaller` refuses the cron key.
            Principal::Cron => return Err(ApiError::Unauthorized.into()),
        }))
    }
}

/// Records a sign-in or sign-out (they change no other record): a failed write is logged.
fn record(state: &AppState, entry: bw_store::audit_log::AuditEntry) {
    if let Err(e) = state.audit.record(&entry) {
        tracing::error!(action = %entry.action, error = %e, "the audit entry was not written");
    }
}

bw_api::endpoint_plugin!("sign-in", SignInApi, SignInApi);
