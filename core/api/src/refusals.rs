//! What an operation can refuse, declared in its return type so that the OpenAPI document lists
//! exactly the error answers it can give.
//!
//! A handler returns `Answer<T, { NOT_FOUND | CONFLICT }>`: the set names the refusals of the
//! handler itself. What the layers around it can answer is added by the document from facts it
//! sees: credentials (401, 403 for tokens, 429), a request body (400, 408, 413), and 500 and
//! 503 (the store's database not answering) for every operation. Every error answer is a reference to `components.responses` ([`ERROR_RESPONSES`]).
//! An error outside the declared set is a bug: it is logged, and debug builds (the tests) panic.

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;
use poem_openapi::ApiResponse;

use crate::error::ApiError;
use crate::error::{error_response, ErrorBody};
use bw_store::store_error::StoreError;
use bw_store::token_store::TokenError;

/// 400: the body is not a JSON object, a token route's own refusal, or a bad query parameter.
pub const INVALID_BODY: u32 = 1 << 0;
/// 403: refused by the server's configuration (deletion or integrations disabled).
pub const DISABLED: u32 = 1 << 1;
/// 404: no such repository.
pub const NOT_FOUND: u32 = 1 << 2;
/// 409: the key is in use, the check already runs, or the storage target is not available.
pub const CONFLICT: u32 = 1 << 3;
/// 422: JSON that the contract's validation refuses.
pub const UNEXPECTED_DATA: u32 = 1 << 4;
/// 429: a route without credentials that counts its own attempts (the first run's code).
pub const THROTTLED: u32 = 1 << 5;
/// Nothing of its own.
pub const NONE: u32 = 0;

/// Every error answer of the API: status, name in `components.responses`, description.
pub const ERROR_RESPONSES: &[(u16, &str, &str)] = &[
    (
        400,
        "InvalidRequestBody",
        "The body is not a JSON object, a token route refused it, or a query parameter is out of range",
    ),
    (401, "Unauthorized", "Missing or malformed credentials (cron routes: a wrong or missing cron key)"),
    (403, "Forbidden", "Invalid API key, insufficient permissions, or refused by the server's configuration"),
    (404, "NotFound", "No repository (or user) with that id or name, or none within the caller's reach"),
    (408, "RequestTimeout", "The request body did not arrive in time"),
    (
        409,
        "Conflict",
        "The SSH key is already used by another repository, the check is already running, the storage target is not available, or a user change that cannot be (a name or email taken, the last admin)",
    ),
    (413, "PayloadTooLarge", "The request body is larger than 64 KiB"),
    (
        415,
        "UnsupportedMediaType",
        "The body was not sent as `Content-Type: application/json` (a charset, if named, must be utf-8)",
    ),
    (422, "UnexpectedData", "The body breaks the contract's validation (`detail` names the field), or a tenant's quota"),
    (429, "TooManyRequests", "Too many failed authentications from this address; try again in a minute"),
    (500, "InternalServerError", "Something unexpected; the cause is in the server's log"),
    (
        503,
        "ServiceUnavailable",
        "The store does not answer now (its database is down or unreachable, or it refuses writes); try again shortly. The cause is in the server's log",
    ),
];

/// The statuses a set declares.
pub fn statuses(set: u32) -> Vec<u16> {
    [(INVALID_BODY, 400), (DISABLED, 403), (NOT_FOUND, 404), (CONFLICT, 409), (UNEXPECTED_DATA, 422), (THROTTLED, 429)]
        .into_iter()
        .filter(|(bit, _)| set & bit != 0)
        .map(|(_, status)| status)
        .collect()
}

/// An error a handler with the declared set `SET` gives.
#[derive(Debug)]
pub struct Refusals<const SET: u32>(pub ApiError);

/// A handler's result: `T`, or one of the refusals in `SET`.
pub type Answer<T, const SET: u32> = Result<T, Refusals<SET>>;

impl<const SET: u32> Refusals<SET> {
    fn declared(&self) -> bool {
        use ApiError::*;
        let bit = match &self.0 {
            InvalidBody(_) | BadRequest(_) => INVALID_BODY,
            Forbidden(_) => DISABLED,
            NotFound(_) => NOT_FOUND,
            Conflict(_) | AlreadyRunning(_) => CONFLICT,
            UnexpectedData(_) | Unprocessable(_) => UNEXPECTED_DATA,
            // Answered by the layers around the handler, or always possible.
            Unauthorized
            | InvalidApiKey
            | InsufficientPermissions
            | CronUnauthorized
            | TooManyRequests
            | UnsupportedMediaType
            | Internal
            | Unavailable => return true,
        };
        SET & bit != 0
    }

    fn response(&self) -> Response {
        if !self.declared() {
            tracing::error!(error = %self.0, "an operation gave an error its document does not list");
            debug_assert!(false, "undeclared refusal {:?} for the set {SET:#b}", self.0);
        }
        error_response(self.0.status(), &self.0.body())
    }
}

impl<const SET: u32> From<ApiError> for Refusals<SET> {
    fn from(e: ApiError) -> Self {
        Refusals(e)
    }
}

impl<const SET: u32> From<StoreError> for Refusals<SET> {
    fn from(e: StoreError) -> Self {
        Refusals(e.into())
    }
}

impl<const SET: u32> From<TokenError> for Refusals<SET> {
    fn from(e: TokenError) -> Self {
        Refusals(e.into())
    }
}

impl<const SET: u32> std::fmt::Display for Refusals<SET> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<const SET: u32> std::error::Error for Refusals<SET> {}

impl<const SET: u32> poem::error::ResponseError for Refusals<SET> {
    fn status(&self) -> StatusCode {
        self.0.status()
    }

    fn as_response(&self) -> Response {
        self.response()
    }
}

impl<const SET: u32> IntoResponse for Refusals<SET> {
    fn into_response(self) -> Response {
        self.response()
    }
}

impl<const SET: u32> ApiResponse for Refusals<SET> {
    /// The declared statuses, inline; the document finisher turns them into references.
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: statuses(SET)
                .into_iter()
                .map(|status| MetaResponse {
                    description: ERROR_RESPONSES.iter().find(|(s, _, _)| *s == status).map_or("", |(_, _, d)| d),
                    status: Some(status),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: "application/json; charset=utf-8",
                        schema: ErrorBody::schema_ref(),
                    }],
                    headers: vec![],
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        ErrorBody::register(registry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_lists_its_statuses_and_admits_only_them() {
        assert_eq!(statuses(NOT_FOUND | CONFLICT), [404, 409]);
        assert_eq!(statuses(NONE), Vec::<u16>::new());
        assert!(Refusals::<{ NOT_FOUND }>(ApiError::NotFound("x".into())).declared());
        assert!(!Refusals::<{ NOT_FOUND }>(ApiError::Conflict("x".into())).declared());
        assert!(Refusals::<{ NONE }>(ApiError::Internal).declared());
        for status in [400, 401, 403, 404, 408, 409, 413, 415, 422, 429, 500] {
            assert!(ERROR_RESPONSES.iter().any(|(s, _, _)| *s == status), "{status}");
        }
    }
}
