//! The token manager: list, create and revoke API tokens, for the administrator only, on the
//! seed-era path `/api/account/tokenManager` and the v1 path `/api/v1/integration/token-manager`.

use bw_core::auth::AdminOnly;
use bw_core::body::Message;
use bw_core::token_store::{Permissions, TokenError, TokenRecord};
use bw_core::{ApiError, ApiResult, AppState};
use poem::web::Data;
use poem::Request;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};

#[derive(Tags)]
enum Tag {
    /// API tokens (administrator only).
    Tokens,
}

/// A token as listed: never its value.
#[derive(Object)]
#[oai(rename = "TokenInfo", rename_all = "camelCase")]
pub struct TokenInfo {
    pub name: String,
    /// Unix seconds.
    pub creation: i64,
    /// Unix seconds; null for a token that does not expire.
    pub expiration: Option<i64>,
    pub permissions: Permissions,
    /// Unix seconds of the last use, to the minute; null when never used.
    pub last_used: Option<i64>,
}

impl From<TokenRecord> for TokenInfo {
    fn from(t: TokenRecord) -> Self {
        TokenInfo { name: t.name, creation: t.creation, expiration: t.expiration, permissions: t.permissions, last_used: t.last_used }
    }
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct TokenCreate {
    /// `^[A-Za-z0-9_-]{1,25}$`, unique.
    pub name: String,
    pub permissions: Permissions,
    /// Unix seconds after which the token is refused; absent for no expiration.
    pub expiration: Option<i64>,
}

#[derive(Object)]
pub struct TokenCreated {
    /// The token, shown this once.
    pub token: String,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct TokenDelete {
    pub name: String,
}

fn from_store(e: TokenError) -> ApiError {
    match e {
        TokenError::Store(cause) => ApiError::internal(cause),
        other => ApiError::BadRequest(other.to_string()),
    }
}

pub struct TokenApi;

impl TokenApi {
    async fn list(&self, state: &AppState, auth: &AdminOnly, req: &Request) -> ApiResult<Json<Vec<TokenInfo>>> {
        state.authorize_admin(auth, req).await?;
        Ok(Json(state.tokens.list().map_err(from_store)?.into_iter().map(TokenInfo::from).collect()))
    }

    async fn create(&self, state: &AppState, auth: &AdminOnly, req: &Request, body: TokenCreate) -> ApiResult<Json<TokenCreated>> {
        state.authorize_admin(auth, req).await?;
        if state.config.disable_integrations {
            return Err(ApiError::Forbidden("Integrations are disabled on this server (DISABLE_INTEGRATIONS=true)".into()));
        }
        let token = state.tokens.create(&body.name, body.permissions, body.expiration, state.clock.now()).map_err(from_store)?;
        tracing::info!(target: "audit", token = %body.name, permissions = ?body.permissions, "token created");
        Ok(Json(TokenCreated { token }))
    }

    async fn delete(&self, state: &AppState, auth: &AdminOnly, req: &Request, body: TokenDelete) -> ApiResult<Json<Message>> {
        state.authorize_admin(auth, req).await?;
        if !state.tokens.revoke(&body.name).map_err(from_store)? {
            return Err(ApiError::BadRequest(format!("No token named {}", body.name.chars().take(40).collect::<String>())));
        }
        tracing::info!(target: "audit", token = %body.name, "token revoked");
        Ok(Message::success())
    }
}

#[OpenApi]
impl TokenApi {
    /// List API tokens (never their values)
    #[oai(path = "/api/account/tokenManager", method = "get", tag = "Tag::Tokens", operation_id = "listTokens")]
    async fn seed_list(&self, state: Data<&AppState>, auth: AdminOnly, req: &Request) -> ApiResult<Json<Vec<TokenInfo>>> {
        self.list(&state, &auth, req).await
    }

    /// Create an API token; its value is shown this once
    #[oai(path = "/api/account/tokenManager", method = "post", tag = "Tag::Tokens", operation_id = "createToken")]
    async fn seed_create(&self, state: Data<&AppState>, auth: AdminOnly, req: &Request, body: Json<TokenCreate>) -> ApiResult<Json<TokenCreated>> {
        self.create(&state, &auth, req, body.0).await
    }

    /// Revoke an API token by name
    #[oai(path = "/api/account/tokenManager", method = "delete", tag = "Tag::Tokens", operation_id = "deleteToken")]
    async fn seed_delete(&self, state: Data<&AppState>, auth: AdminOnly, req: &Request, body: Json<TokenDelete>) -> ApiResult<Json<Message>> {
        self.delete(&state, &auth, req, body.0).await
    }

    /// List API tokens (v1 path)
    #[oai(path = "/api/v1/integration/token-manager", method = "get", tag = "Tag::Tokens", operation_id = "listTokensV1")]
    async fn v1_list(&self, state: Data<&AppState>, auth: AdminOnly, req: &Request) -> ApiResult<Json<Vec<TokenInfo>>> {
        self.list(&state, &auth, req).await
    }

    /// Create an API token (v1 path)
    #[oai(path = "/api/v1/integration/token-manager", method = "post", tag = "Tag::Tokens", operation_id = "createTokenV1")]
    async fn v1_create(&self, state: Data<&AppState>, auth: AdminOnly, req: &Request, body: Json<TokenCreate>) -> ApiResult<Json<TokenCreated>> {
        self.create(&state, &auth, req, body.0).await
    }

    /// Revoke an API token by name (v1 path)
    #[oai(path = "/api/v1/integration/token-manager", method = "delete", tag = "Tag::Tokens", operation_id = "deleteTokenV1")]
    async fn v1_delete(&self, state: Data<&AppState>, auth: AdminOnly, req: &Request, body: Json<TokenDelete>) -> ApiResult<Json<Message>> {
        self.delete(&state, &auth, req, body.0).await
    }
}

bw_core::endpoint_plugin!("tokens", TokenApi, TokenApi);
