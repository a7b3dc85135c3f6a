//! Errors, by layer:
//! - the stores and the borg user's files return [`StoreError`](bw_store::store_error::StoreError)
//!   (and the token store its [`TokenError`]);
//! - configuration loading returns [`ConfigError`](crate::config::ConfigError);
//! - opening the state at start-up returns [`OpenError`](crate::opening::OpenError) (a data folder
//!   of a newer release: [`FormatError`](bw_store::format::FormatError)), never an HTTP answer;
//!   the server's start wraps it in its `StartError`;
//! - routes return [`ApiError`], defined here: each variant maps to one status and one JSON body
//!   of the contract; a route's return type says which of them it can give
//!   ([`Refusals`](crate::refusals::Refusals)). The `From` conversions below are the one place where a store error becomes
//!   an HTTP answer; internal causes are logged there and never sent to the client.

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::Object;

use bw_store::store_error::StoreError;
use bw_store::token_store::TokenError;

/// The JSON body of every error answer.
#[derive(Object, Debug, Clone, PartialEq, serde::Serialize)]
#[oai(rename = "Error")]
pub struct ErrorBody {
    /// Present on the cron and server-error answers, as in BorgWarehouse.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub message: String,
    /// A sentence naming the field at fault, when there is one.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Missing or malformed `Authorization`.
    #[error("unauthorized")]
    Unauthorized,
    /// Unknown, revoked or expired token, or integrations disabled.
    #[error("invalid API key")]
    InvalidApiKey,
    #[error("insufficient permissions")]
    InsufficientPermissions,
    /// A refusal the server's configuration makes (deletion or integrations disabled).
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    /// 422 `Unexpected data`, with the field at fault.
    #[error("unexpected data: {0}")]
    UnexpectedData(String),
    /// 422 with a message of its own (a tenant's quota).
    #[error("unprocessable: {0}")]
    Unprocessable(String),
    /// 400 `Invalid request body`: not JSON, or not an object.
    #[error("invalid request body: {0}")]
    InvalidBody(String),
    /// 400 with a message of its own (token routes).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 415: a body sent as anything but `application/json` (charset utf-8, if named).
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// Cron routes' 401, which carries a `status` field.
    #[error("cron unauthorized")]
    CronUnauthorized,
    /// Cron routes' 409 when a run is under way.
    #[error("already running: {0}")]
    AlreadyRunning(&'static str),
    #[error("too many failed authentications")]
    TooManyRequests,
    /// The cause was logged by [`ApiError::internal`]; the client sees only the status.
    #[error("internal error")]
    Internal,
    /// 503: the store's database does not answer now (logged); the request may be tried again.
    #[error("the store does not answer")]
    Unavailable,
}

pub type ApiResult<T> = Result<T, ApiError>;

/// A store refusal as a sentence of an answer: capitalised, with a full stop.
fn sentence(e: &StoreError) -> String {
    let text = e.to_string();
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect::<String>() + ".").unwrap_or_default()
}

/// The 415 answer's message.
pub const UNSUPPORTED_MEDIA_TYPE: &str = "Content-Type must be application/json";

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound("Not Found".into()),
            // BorgWarehouse 3.x's answer to an edit of an archived repository.
            StoreError::Archived => {
                ApiError::Forbidden("Repository is archived (read-only). Unarchive it first.".into())
            }
            StoreError::KeyInUse => ApiError::Conflict("The SSH key is already used in another repository.".into()),
            // The key routes name the repository in their own answer (see `bw-plugin-repo`'s keys).
            StoreError::KeyNotFound => ApiError::NotFound("Key ID not found".into()),
            StoreError::LastKey => {
                ApiError::Conflict("A repository keeps at least one key; delete the repository instead".into())
            }
            // What the caller gave breaks a rule: said as the store says it.
            e @ (StoreError::UserExists | StoreError::LastAdmin | StoreError::EmailInUse) => {
                ApiError::Conflict(sentence(&e))
            }
            e @ StoreError::TenantQuota { .. } => ApiError::Unprocessable(e.to_string()),
            e @ (StoreError::InvalidEmail | StoreError::InvalidTenantName | StoreError::TenantAdmin) => {
                ApiError::UnexpectedData(sentence(&e))
            }
            e @ (StoreError::InvalidUserName
            | StoreError::PasswordTooShort { .. }
            | StoreError::ImportRefused { .. }
            | StoreError::NotEmpty
            | StoreError::Snapshot(_)) => ApiError::BadRequest(e.to_string()),
            StoreError::TargetUnavailable(path) => {
                ApiError::Conflict(format!("Storage target {path} is not available (missing or not mounted)"))
            }
            StoreError::Unavailable(why) => {
                tracing::error!(cause = %why, "the store's database does not answer");
                ApiError::Unavailable
            }
            e @ (StoreError::Io { .. }
            | StoreError::Backend(_)
            | StoreError::Corrupt { .. }
            | StoreError::Stopped { .. }) => ApiError::internal(e),
        }
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Store(e) => e.into(),
            refusal => ApiError::BadRequest(refusal.to_string()),
        }
    }
}

impl ApiError {
    /// Logs `cause` and returns the opaque 500.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        ApiError::Internal
    }

    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            Unauthorized | CronUnauthorized => StatusCode::UNAUTHORIZED,
            InvalidApiKey | InsufficientPermissions | Forbidden(_) => StatusCode::FORBIDDEN,
            NotFound(_) => StatusCode::NOT_FOUND,
            Conflict(_) | AlreadyRunning(_) => StatusCode::CONFLICT,
            UnexpectedData(_) | Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            InvalidBody(_) | BadRequest(_) => StatusCode::BAD_REQUEST,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn body(&self) -> ErrorBody {
        use ApiError::*;
        let plain = |m: &str| ErrorBody { status: None, message: m.to_string(), detail: None };
        match self {
            Unauthorized => plain("Unauthorized"),
            InvalidApiKey => plain("Invalid API key"),
            InsufficientPermissions => plain("Insufficient permissions"),
            Forbidden(m) | NotFound(m) | Conflict(m) | BadRequest(m) | Unprocessable(m) => plain(m),
            UnexpectedData(d) => ErrorBody { detail: Some(d.clone()), ..plain("Unexpected data") },
            InvalidBody(d) => ErrorBody { detail: Some(d.clone()), ..plain("Invalid request body") },
            CronUnauthorized => ErrorBody { status: Some(401), ..plain("Unauthorized") },
            AlreadyRunning(m) => ErrorBody { status: Some(409), ..plain(m) },
            UnsupportedMediaType => plain(UNSUPPORTED_MEDIA_TYPE),
            TooManyRequests => plain("Too many failed authentications, try again later"),
            Internal => ErrorBody { status: Some(500), ..plain("Internal Server Error") },
            Unavailable => ErrorBody { status: Some(503), ..plain("Service Unavailable") },
        }
    }
}

/// Renders an error body as the JSON response every error path uses, including the ones
/// poem itself produces (see the server's error-shaping middleware).
pub fn error_response(status: StatusCode, body: &ErrorBody) -> Response {
    let json = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    Response::builder().status(status).content_type("application/json; charset=utf-8").body(json)
}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        ApiError::status(self)
    }

    fn as_response(&self) -> Response {
        error_response(self.status(), &self.body())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(self.status(), &self.body())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store task that stopped (a panic, a cancelled blocking task) is the server's fault:
    /// 500, not the 400 of a refusal.
    #[test]
    fn a_stopped_store_task_is_a_500() {
        let e: ApiError = StoreError::Stopped { what: "the history write", cause: "panicked".into() }.into();
        assert!(matches!(e, ApiError::Internal), "{e:?}");
        let refused: ApiError = StoreError::PasswordTooShort { min: 12 }.into();
        assert!(
            matches!(&refused, ApiError::BadRequest(m) if m == "the password must have at least 12 characters"),
            "{refused:?}"
        );
    }
}
