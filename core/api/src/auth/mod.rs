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
pub use credentials::{authenticate, bearer_token, HeldCredential};

use crate::error::ApiError;
use bw_store::token_store::{Permission, Permissions};

pub const SCHEME_TOKEN: &str = "apiToken";
pub const SCHEME_ADMIN: &str = "admin";
pub const SCHEME_SIGN_IN: &str = "signIn";
pub const SCHEME_CRON: &str = "cronKey";
pub const SCHEME_CRON_QUERY: &str = "cronKeyQuery";

/// A caller whose credentials were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The administrator (HTTP Basic): every permission.
    Administrator,
    /// The administrator, signed in from a page (`POST /api/v1/sign-in`): every permission,
    /// until `expires_at` (which this use moved forward).
    SignedIn { expires_at: i64 },
    /// An API token.
    Token { name: String, permissions: Permissions },
    /// A caller presenting `CRONJOB_KEY`.
    Cron,
}

// The security schemes as the document shows them. They are only declarations: the checks are
// in [`authenticate`].

/// An API token made in the token manager.
#[derive(SecurityScheme)]
#[oai(rename = "apiToken", ty = "bearer")]
pub struct TokenScheme(pub Bearer);

/// The administrator's name and password.
#[derive(SecurityScheme)]
#[oai(rename = "admin", ty = "basic")]
pub struct AdminScheme(pub Basic);

/// A sign-in token from `POST /api/v1/sign-in` (the administrator, from a page); it expires
/// when left unused.
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

/// A repository route's permission: the administrator, or a token that holds it.
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
            Principal::Administrator | Principal::SignedIn { .. } => Ok(()),
            Principal::Token { permissions, .. } if permissions.allows(permission(P)) => Ok(()),
            Principal::Token { name, .. } => {
                tracing::warn!(target: "audit", token = %name, need = ?permission(P), outcome = "insufficient permissions", "token refused");
                Err(ApiError::InsufficientPermissions)
            }
            Principal::Cron => Err(ApiError::Unauthorized),
        }
    }
}

/// The administrator only (the token manager), by password or signed in from a page. An API
/// token gets 401 here, as the contract has it: tokens do not manage tokens.
pub struct Administrator;

impl Requirement for Administrator {
    fn schemes() -> Vec<&'static str> {
        vec![SCHEME_SIGN_IN, SCHEME_ADMIN]
    }

    fn register(registry: &mut Registry) {
        <SignInScheme as ApiExtractor>::register(registry);
        <AdminScheme as ApiExtractor>::register(registry);
    }

    fn admit(principal: &Principal) -> Result<(), ApiError> {
        match principal {
            Principal::Administrator | Principal::SignedIn { .. } => Ok(()),
            _ => Err(ApiError::Unauthorized),
        }
    }
}

/// The administrator's name and password, and nothing else (signing in).
pub struct AdministratorPassword;

impl Requirement for AdministratorPassword {
    fn schemes() -> Vec<&'static str> {
        vec![SCHEME_ADMIN]
    }

    fn register(registry: &mut Registry) {
        <AdminScheme as ApiExtractor>::register(registry);
    }

    fn admit(principal: &Principal) -> Result<(), ApiError> {
        match principal {
            Principal::Administrator => Ok(()),
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
            Principal::SignedIn { .. } => Ok(()),
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
    _requirement: PhantomData<fn() -> R>,
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
        Ok(Guard { principal, _requirement: PhantomData })
    }
}
