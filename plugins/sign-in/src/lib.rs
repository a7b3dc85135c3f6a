//! Sign-in for people: a page trades the administrator's name and password, once, for a token
//! that expires when left unused (`BW_SIGN_IN_TTL`), so the password is never kept in a tab.
//! The token is checked by `bw_api::auth` like any credential; this plugin makes and ends them,
//! and tells any caller who it is and what it may do (`GET /api/v1/whoami`), so a page shows a
//! token only the views its permissions allow.

use bw_api::auth::{bearer_token, AdministratorPassword, AnyCaller, Guard, Principal, SignedIn};
use bw_api::refusals::{Answer, NONE};
use bw_api::{ApiError, AppState};
use poem::web::Data;
use poem::Request;
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi, Tags};

#[derive(Tags)]
enum Tag {
    /// A page's sign-in: a short-lived token in place of the administrator's password.
    #[oai(rename = "Sign-in for people (this server, v1 paths)")]
    SignIn,
}

/// A new sign-in.
#[derive(Object)]
#[oai(rename = "SignInToken", rename_all = "camelCase")]
pub struct SignInToken {
    /// A Bearer credential with the administrator's rights, shown this once.
    pub token: String,
    /// Unix seconds; each use moves it `BW_SIGN_IN_TTL` seconds past that use.
    pub expires_at: i64,
}

/// What kind of credential called.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "CallerKind", rename_all = "camelCase")]
pub enum CallerKind {
    /// The administrator's name and password.
    Administrator,
    /// A sign-in token: the administrator, from a page.
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
    /// Whether the caller may manage API tokens (the administrator only).
    pub tokens: bool,
}

/// Who is calling.
#[derive(Object)]
#[oai(rename = "Caller", rename_all = "camelCase")]
pub struct Caller {
    pub kind: CallerKind,
    /// The API token's name; absent for the administrator.
    #[oai(skip_serializing_if_is_none)]
    pub name: Option<String>,
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

pub struct SignInApi;

#[OpenApi]
impl SignInApi {
    /// Sign in with the administrator's name and password, for a token that expires when unused
    #[oai(path = "/api/v1/sign-in", method = "post", tag = "Tag::SignIn", operation_id = "signIn")]
    async fn sign_in(
        &self,
        state: Data<&AppState>,
        _caller: Guard<AdministratorPassword>,
    ) -> Answer<Json<SignInToken>, NONE> {
        let ttl = state.config.auth.sign_in_ttl.as_secs() as i64;
        let (token, expires_at) = state.admin.sign_ins.create(state.clock.now(), ttl)?;
        tracing::info!(target: "audit", "administrator signed in from a page");
        Ok(Json(SignInToken { token, expires_at }))
    }

    /// End this sign-in: its token is refused from now on
    #[oai(path = "/api/v1/sign-out", method = "post", tag = "Tag::SignIn", operation_id = "signOut")]
    async fn sign_out(
        &self,
        state: Data<&AppState>,
        req: &Request,
        _caller: Guard<SignedIn>,
    ) -> Answer<Json<SignedOut>, NONE> {
        // The guard admitted a live sign-in, so the header holds one.
        let token = bearer_token(req).ok_or(ApiError::Unauthorized)?;
        state.admin.sign_ins.end(&token)?;
        tracing::info!(target: "audit", "administrator signed out");
        Ok(Json(SignedOut { message: "Signed out".into() }))
    }

    /// Who is calling, and what they may do
    #[oai(path = "/api/v1/whoami", method = "get", tag = "Tag::SignIn", operation_id = "whoami")]
    async fn whoami(&self, caller: Guard<AnyCaller>) -> Answer<Json<Caller>, NONE> {
        let all = CallerPermissions { create: true, read: true, update: true, delete: true, tokens: true };
        Ok(Json(match caller.principal {
            Principal::Administrator => {
                Caller { kind: CallerKind::Administrator, name: None, permissions: all, expires_at: None }
            }
            Principal::SignedIn { expires_at } => {
                Caller { kind: CallerKind::SignIn, name: None, permissions: all, expires_at: Some(expires_at) }
            }
            Principal::Token { name, permissions: p } => Caller {
                kind: CallerKind::Token,
                name: Some(name),
                permissions: CallerPermissions {
                    create: p.create,
                    read: p.read,
                    update: p.update,
                    delete: p.delete,
                    tokens: false,
                },
                expires_at: None,
            },
            // `AnyCaller` refuses the cron key.
            Principal::Cron => return Err(ApiError::Unauthorized.into()),
        }))
    }
}

bw_api::endpoint_plugin!("sign-in", SignInApi, SignInApi);
