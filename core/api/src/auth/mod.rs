//! Who is calling, and may they do this.
//!
//! Two steps, so that a handler cannot forget either:
//! 1. [`authenticate`] runs in a middleware on the request head, before any body is read, for
//!    every documented operation that declares a security scheme: missing or malformed
//!    credentials get 401, unknown ones 403 (`Invalid API key`), and the caller is put in the
//!    request as a [`Principal`].
//! 2. Each handler takes a [`Guard`] naming what it needs (`Guard<Read>`, `Guard<Administrator>`,
//!    `Guard<CronKey>`...). The guard also declares the operation's security schemes in the
//!    OpenAPI document, so the middleware and the document cannot disagree.

mod credentials;

use std::marker::PhantomData;

use poem::Request;
use poem_openapi::auth::{ApiKey, Basic, Bearer};
use poem_openapi::registry::Registry;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions, SecurityScheme};

pub use crate::throttle::{client_ip, Throttle};
pub use credentials::{authenticate, bearer_token, cookie_of, HeldCredential, CSRF_HEADER, SIGN_IN_COOKIE};

use crate::error::ApiError;
use bw_store::audit_log::AuditEntry;
use bw_store::scope::Scope;
use bw_store::token_store::{Permission, Permissions};
use bw_store::user_store::Role;

pub const SCHEME_TOKEN: &str = "apiToken";
pub const SCHEME_ADMIN: &str = "admin";
pub const SCHEME_SIGN_IN: &str = "signIn";
pub const SCHEME_CRON: &str = "cronKey";
pub const SCHEME_CRON_QUERY: &str = "cronKeyQuery";

/// A caller whose credentials were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A user, by name and password (HTTP Basic) or signed in from a page.
    User(Person),
    /// An API token, its rights already within its maker's current role and tenant.
    Token { name: String, permissions: Permissions, scope: Scope, owner: Option<String> },
    /// A caller presenting `CRONJOB_KEY`.
    Cron,
}

/// A user as the credential check found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    pub role: Role,
    pub tenant: Option<String>,
    /// Signed in from a page (`POST /api/v1/sign-in`): when that sign-in expires, as this use
    /// moved it. `None`: name and password.
    pub signed_in_until: Option<i64>,
}

impl Principal {
    /// The repositories the caller may reach; the cron key reaches the whole host.
    pub fn scope(&self) -> Scope {
        match self {
            Principal::User(p) => Scope::tenant(p.tenant.clone()),
            Principal::Token { scope, .. } => scope.clone(),
            Principal::Cron => Scope::HOST,
        }
    }

    /// Who acted, as the audit log names them: a user's name, or `token:NAME`.
    pub fn actor(&self) -> String {
        match self {
            Principal::User(p) => p.name.clone(),
            Principal::Token { name, .. } => format!("token:{name}"),
            Principal::Cron => "cron".into(),
        }
    }

    /// The user this caller is or acts for (a token's maker), if any.
    pub fn user_name(&self) -> Option<&str> {
        match self {
            Principal::User(p) => Some(&p.name),
            Principal::Token { owner, .. } => owner.as_deref(),
            Principal::Cron => None,
        }
    }

    pub fn is_admin(&self) -> bool {
        matches!(self, Principal::User(p) if p.role == Role::Admin)
    }
}

// The security schemes as the document shows them. They are only declarations: the checks are
// in [`authenticate`].

/// An API token made in the token manager.
#[derive(SecurityScheme)]
#[oai(rename = "apiToken", ty = "bearer")]
pub struct TokenScheme(pub Bearer);

/// A user's name and password.
#[derive(SecurityScheme)]
#[oai(rename = "admin", ty = "basic")]
pub struct AdminScheme(pub Basic);

/// A sign-in token from `POST /api/v1/sign-in` (a user, from a page); it expires when left
/// unused. The page sends it as the `bw_sign_in` cookie the sign-in sets (`HttpOnly`,
/// `SameSite=Strict`), with an `X-BW-CSRF` header on every unsafe method.
#[derive(SecurityScheme)]
#[oai(rename = "signIn", ty = "bearer")]
pub struct SignInScheme(pub Bearer);

/// `Authorization: Bearer CRONJOB_KEY`.
#[derive(SecurityScheme)]
#[oai(rename = "cronKey", ty = "bearer")]
pub struct CronScheme(pub Bearer);

/// `?key=CRONJOB_KEY`, as BorgWarehouse's own crontab example calls the v1 cron paths.
#[derive(SecurityScheme)]
#[oai(rename = "cronKeyQuery", ty = "api_key", key_name = "key", key_in = "query")]
pub struct CronQueryScheme(pub ApiKey);

/// What an operation needs from its caller.
pub trait Requirement: Send + Sync + 'static {
    /// The security schemes that can admit a caller, in the document's order.
    fn schemes() -> Vec<&'static str>;
    /// Registers those schemes in the document.
    fn register(registry: &mut Registry);
    /// Admits `principal`, or says why not.
    fn admit(principal: &Principal) -> Result<(), ApiError>;
}

/// A repository route's permission: a user whose role holds it, or a token that holds it.
pub struct Needs<const P: u8>;
pub type Read = Needs<0>;
pub type Create = Needs<1>;
pub type Update = Needs<2>;
pub type Delete = Needs<3>;

const fn permission(p: u8) -> Permission {
    match p {
        0 => Permission::Read,
        1 => Permission::Create,
        2 => Permission::Update,
        _ => Permission::Delete,
    }
}

impl<const P: u8> Requirement for Needs<P> {
    fn schemes() -> Vec<&'static str> {
        vec![SCHEME_TOKEN, SCHEME_SIGN_IN, SCHEME_ADMIN]
    }

    fn register(registry: &mut Registry) {
        <TokenScheme as ApiExtractor>::register(registry);
        <SignInScheme as ApiExtractor>::register(registry);
        <AdminScheme as ApiExtractor>::register(registry);
    }

    fn admit(principal: &Principal) -> Result<(), ApiError> {
        match principal {
            Principal::User(p) if p.role.allows(permission(P)) => Ok(()),
            Principal::User(p) => {
                tracing::warn!(target: "audit", user = %p.name, role = p.role.as_str(), need = ?permission(P), outcome = "insufficient permissions", "user refused");
                Err(ApiError::InsufficientPermissions)
            }
            Principal::Token { permissions, .. } if permissions.allows(permission(P)) => Ok(()),
            Principal::Token { name, .. } => {
                tracing::warn!(target: "audit", token = %name, need = ?permission(P), outcome = "insufficient permissions", "token refused");
                Err(ApiError::InsufficientPermissions)
            }
            Principal::Cron => Err(ApiError::Unauthorized),
        }
    }
}

/// `R`, by a caller who sees the whole host: figures summed over every repository (the host's
/// history, the alerts, the server's storage) would tell a tenant-bound or scoped caller about
/// repositories out of its reach. Such a caller gets 403 `Insufficient permissions`.
pub struct WholeHost<R>(PhantomData<fn() -> R>);

impl<R: Requirement> Requirement for WholeHost<R> {
    fn schemes() -> Vec<&'static str> {
        R::schemes()
    }

    fn register(registry: &mut Registry) {
        R::register(registry);
    }

    fn admit(principal: &Principal) -> Result<(), ApiError> {
        R::admit(principal)?;
        if principal.scope().is_whole_host() {
            Ok(())
        } else {
            tracing::warn!(target: "audit", actor = %principal.actor(), outcome = "scoped caller on a host-wide route", "refused");
            Err(ApiError::InsufficientPermissions)
        }
    }
}

/// A user with one of `roles`, by password or signed in from a page. An API token gets 401
/// here, as the contract has it for the token manager: tokens do not manage tokens (nor users).
fn admit_user(principal: &Principal, roles: &[Role]) -> Result<(), ApiError> {
    match principal {
        Principal::User(p) if roles.contains(&p.role) => Ok(()),
        Principal::User(p) => {
            tracing::warn!(target: "audit", user = %p.name, role = p.role.as_str(), outcome = "insufficient permissions", "user refused");
            Err(ApiError::InsufficientPermissions)
        }
        _ => Err(ApiError::Unauthorized),
    }
}

fn user_schemes() -> Vec<&'static str> {
    vec![SCHEME_SIGN_IN, SCHEME_ADMIN]
}

fn register_user_schemes(registry: &mut Registry) {
    <SignInScheme as ApiExtractor>::register(registry);
    <AdminScheme as ApiExtractor>::register(registry);
}

/// An admin user: users, tenants, the audit log, test alerts.
pub struct Administrator;

impl Requirement for Administrator {
    fn schemes() -> Vec<&'static str> {
        user_schemes()
    }

    fn register(registry: &mut Registry) {
        register_user_schemes(registry);
    }

    fn admit(principal: &Principal) -> Result<(), ApiError> {
        admit_user(principal, &[Role::Admin])
    }
}

/// A user who may make tokens: an admin (any token), an operator (its own, no wider than
/// itself). A viewer gets 403.
pub struct TokenMaker;

impl Requirement for TokenMaker {
    fn schemes() -> Vec<&'static str> {
        user_schemes()
    }

    fn register(registry: &mut Registry) {
        register_user_schemes(registry);
    }

    fn admit(principal: &Principal) -> Result<(), ApiError> {
        admit_user(principal, &[Role::Admin, Role::Operator])
    }
}

/// Any user, by password or signed in from a page (one's own account).
pub struct AnyUser;

impl Requirement for AnyUser {
    fn schemes() -> Vec<&'static str> {
        user_schemes()
    }

    fn register(registry: &mut Registry) {
        register_user_schemes(registry);
    }

    fn admit(principal: &Principal) -> Result<(), ApiError> {
        admit_user(principal, &Role::ALL)
    }
}

/// A user's name and password, and nothing else (signing in).
pub struct UserPassword;

impl Requirement for UserPassword {
    fn schemes() -> Vec<&'static str> {
        vec![SCHEME_ADMIN]
    }

    fn register(registry: &mut Registry) {
        <AdminScheme as ApiExtractor>::register(registry);
    }

    fn admit(principal: &Principal) -> Result<(), ApiError> {
        match principal {
            Principal::User(Person { signed_in_until: None, .. }) => Ok(()),
            _ => Err(ApiError::Unauthorized),
        }
    }
}

/// A sign-in token, and nothing else (signing out).
pub struct SignedIn;

impl Requirement for SignedIn {
    fn schemes() -> Vec<&'static str> {
        vec![SCHEME_SIGN_IN]
    }

    fn register(registry: &mut Registry) {
        <SignInScheme as ApiExtractor>::register(registry);
    }

    fn admit(principal: &Principal) -> Result<(), ApiError> {
        match principal {
            Principal::User(Person { signed_in_until: Some(_), .. }) => Ok(()),
            _ => Err(ApiError::Unauthorized),
        }
    }
}

/// Anyone with valid credentials, whatever their permissions (saying who they are).
pub struct AnyCaller;

impl Requirement for AnyCaller {
    fn schemes() -> Vec<&'static str> {
        Needs::<0>::schemes()
    }

    fn register(registry: &mut Registry) {
        Needs::<0>::register(registry);
    }

    fn admit(principal: &Principal) -> Result<(), ApiError> {
        match principal {
            Principal::Cron => Err(ApiError::Unauthorized),
            _ => Ok(()),
        }
    }
}

/// The cron key in the `Authorization` header (seed cron paths).
pub struct CronKey;

/// The cron key in the header or as `?key=` (v1 cron paths).
pub struct CronKeyOrQuery;

fn admit_cron(principal: &Principal) -> Result<(), ApiError> {
    match principal {
        Principal::Cron => Ok(()),
        _ => Err(ApiError::CronUnauthorized),
    }
}

impl Requirement for CronKey {
    fn schemes() -> Vec<&'static str> {
        vec![SCHEME_CRON]
    }

    fn register(registry: &mut Registry) {
        <CronScheme as ApiExtractor>::register(registry);
    }

    fn admit(principal: &Principal) -> Result<(), ApiError> {
        admit_cron(principal)
    }
}

impl Requirement for CronKeyOrQuery {
    fn schemes() -> Vec<&'static str> {
        vec![SCHEME_CRON, SCHEME_CRON_QUERY]
    }

    fn register(registry: &mut Registry) {
        <CronScheme as ApiExtractor>::register(registry);
        <CronQueryScheme as ApiExtractor>::register(registry);
    }

    fn admit(principal: &Principal) -> Result<(), ApiError> {
        admit_cron(principal)
    }
}

/// A handler argument that admits only callers meeting `R`. The caller was identified by the
/// credential middleware; a request that did not pass it (no [`Principal`]) is refused.
pub struct Guard<R: Requirement> {
    pub principal: Principal,
    /// The caller's address, as the throttle counts it (behind a trusted proxy, the one it
    /// forwarded).
    pub client: Option<std::net::IpAddr>,
    _requirement: PhantomData<fn() -> R>,
}

impl<R: Requirement> Guard<R> {
    /// The repositories the caller may reach.
    pub fn scope(&self) -> Scope {
        self.principal.scope()
    }

    /// The audit entry of what this caller does now: `action` on `target` (empty when the store
    /// names it: a new repository), with the fields it `changes`.
    pub fn audit(&self, at: i64, action: &str, target: &str, changes: serde_json::Value) -> AuditEntry {
        use bw_store::audit_log::ActorKind;
        let kind = match &self.principal {
            Principal::User(_) => ActorKind::User,
            Principal::Token { .. } => ActorKind::Token,
            Principal::Cron => ActorKind::Cron,
        };
        let client = self.client.map(|c| c.to_string()).unwrap_or_default();
        let changes = crate::audit::changes_of(changes);
        AuditEntry::new(at, (self.principal.actor(), kind), client, action, target, changes)
    }
}

impl<'a, R: Requirement> ApiExtractor<'a> for Guard<R> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        R::register(registry);
    }

    fn security_schemes() -> Vec<&'static str> {
        R::schemes()
    }

    async fn from_request(
        request: &'a Request,
        _body: &mut poem::RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let principal = request.extensions().get::<Principal>().cloned().ok_or(ApiError::Unauthorized)?;
        R::admit(&principal)?;
        let client = request.data::<crate::AppState>().and_then(|state| client_ip(&state.config.server, request));
        Ok(Guard { principal, client, _requirement: PhantomData })
    }
}
