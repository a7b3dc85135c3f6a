//! The token manager: list, create and revoke API tokens, for the administrator only, on the
//! seed-era path `/api/account/tokenManager` and the v1 path `/api/v1/integration/token-manager`.

mod commands;
mod fields;

use bw_api::auth::{Administrator, Guard};
use bw_api::body::{JsonRequest, Message};
use bw_api::body_fields::{Checked, Given};
use bw_api::refusals::{Answer, DISABLED, INVALID_BODY, NONE};
use bw_api::{ApiError, ApiResult, AppState};
use bw_store::token_store::TokenRecord;
use fields::{Expiration, PermissionSet, Permissions, TokenName, BAD_REQUEST};
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};

#[derive(Tags)]
enum Tag {
    /// API tokens (administrator only), on the token manager path of BorgWarehouse 2.x.
    #[oai(rename = "Tokens (2.x paths)")]
    Tokens,
    /// API tokens (administrator only), on the v1 path of BorgWarehouse 3.x.
    #[oai(rename = "Tokens (v1, 3.x paths)")]
    TokensV1,
}

/// A token as listed, never its value.
#[derive(Object)]
#[oai(rename = "TokenInfo", rename_all = "camelCase")]
pub struct TokenInfo {
    pub name: String,
    /// Unix seconds.
    pub creation: i64,
    /// Unix seconds; absent for a token that does not expire.
    #[oai(skip_serializing_if_is_none)]
    pub expiration: Option<i64>,
    pub permissions: Permissions,
    /// Unix seconds of the last use, to the minute; absent when never used.
    #[oai(skip_serializing_if_is_none)]
    pub last_used: Option<i64>,
}

impl From<TokenRecord> for TokenInfo {
    fn from(t: TokenRecord) -> Self {
        TokenInfo {
            name: t.name,
            creation: t.creation,
            expiration: t.expiration,
            permissions: t.permissions.into(),
            last_used: t.last_used,
        }
    }
}

/// A token to make: its name, what it may do, and when it stops working.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct TokenCreate {
    /// `^[A-Za-z0-9_-]{1,25}$`, unique.
    pub name: Checked<TokenName>,
    pub permissions: Checked<PermissionSet>,
    /// Unix seconds after which the token is refused; absent for no expiration.
    pub expiration: Given<Checked<Expiration>>,
}

/// The new token, shown this once.
#[derive(Object)]
pub struct TokenCreated {
    /// The token, shown this once.
    pub token: String,
}

/// The token to revoke, by name.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct TokenDelete {
    pub name: Checked<TokenName>,
}

pub struct TokenApi;

impl TokenApi {
    async fn list(&self, state: &AppState) -> ApiResult<Json<Vec<TokenInfo>>> {
        Ok(Json(state.tokens.list()?.into_iter().map(TokenInfo::from).collect()))
    }

    async fn create(&self, state: &AppState, body: JsonRequest<TokenCreate>) -> ApiResult<Json<TokenCreated>> {
        let body = body.fields_with(&BAD_REQUEST)?.parse()?;
        if state.config.auth.disable_integrations {
            return Err(ApiError::Forbidden(
                "Integrations are disabled on this server (DISABLE_INTEGRATIONS=true)".into(),
            ));
        }
        let (name, permissions) = (body.name.into_inner(), body.permissions.into_inner());
        let token = state.tokens.create(&name, permissions, body.expiration.value(), state.clock.now())?;
        tracing::info!(target: "audit", token = %name, permissions = ?permissions, "token created");
        state.events.publish(bw_api::events::Event::new("token", None, state.clock.now()));
        Ok(Json(TokenCreated { token }))
    }

    async fn delete(&self, state: &AppState, body: JsonRequest<TokenDelete>) -> ApiResult<Json<Message>> {
        let name = body.fields_with(&BAD_REQUEST)?.parse()?.name.into_inner();
        if !state.tokens.revoke(&name)? {
            return Err(ApiError::BadRequest(format!("No token named {}", name.chars().take(40).collect::<String>())));
        }
        tracing::info!(target: "audit", token = %name, "token revoked");
        state.events.publish(bw_api::events::Event::new("token", None, state.clock.now()));
        Ok(Message::success())
    }
}

#[OpenApi]
impl TokenApi {
    /// List API tokens (never their values)
    #[oai(path = "/api/account/tokenManager", method = "get", tag = "Tag::Tokens", operation_id = "listTokens")]
    async fn bw2_list(
        &self,
        state: Data<&AppState>,
        _caller: Guard<Administrator>,
    ) -> Answer<Json<Vec<TokenInfo>>, NONE> {
        Ok(self.list(&state).await?)
    }

    /// Create an API token; its value is shown this once
    #[oai(path = "/api/account/tokenManager", method = "post", tag = "Tag::Tokens", operation_id = "createToken")]
    async fn bw2_create(
        &self,
        state: Data<&AppState>,
        _caller: Guard<Administrator>,
        body: JsonRequest<TokenCreate>,
    ) -> Answer<Json<TokenCreated>, { INVALID_BODY | DISABLED }> {
        Ok(self.create(&state, body).await?)
    }

    /// Revoke an API token by name
    #[oai(path = "/api/account/tokenManager", method = "delete", tag = "Tag::Tokens", operation_id = "deleteToken")]
    async fn bw2_delete(
        &self,
        state: Data<&AppState>,
        _caller: Guard<Administrator>,
        body: JsonRequest<TokenDelete>,
    ) -> Answer<Json<Message>, INVALID_BODY> {
        Ok(self.delete(&state, body).await?)
    }

    /// List API tokens
    #[oai(
        path = "/api/v1/integration/token-manager",
        method = "get",
        tag = "Tag::TokensV1",
        operation_id = "listIntegrationTokens"
    )]
    async fn v1_list(
        &self,
        state: Data<&AppState>,
        _caller: Guard<Administrator>,
    ) -> Answer<Json<Vec<TokenInfo>>, NONE> {
        Ok(self.list(&state).await?)
    }

    /// Create an API token
    #[oai(
        path = "/api/v1/integration/token-manager",
        method = "post",
        tag = "Tag::TokensV1",
        operation_id = "createIntegrationToken"
    )]
    async fn v1_create(
        &self,
        state: Data<&AppState>,
        _caller: Guard<Administrator>,
        body: JsonRequest<TokenCreate>,
    ) -> Answer<Json<TokenCreated>, { INVALID_BODY | DISABLED }> {
        Ok(self.create(&state, body).await?)
    }

    /// Revoke an API token by name
    #[oai(
        path = "/api/v1/integration/token-manager",
        method = "delete",
        tag = "Tag::TokensV1",
        operation_id = "deleteIntegrationToken"
    )]
    async fn v1_delete(
        &self,
        state: Data<&AppState>,
        _caller: Guard<Administrator>,
        body: JsonRequest<TokenDelete>,
    ) -> Answer<Json<Message>, INVALID_BODY> {
        Ok(self.delete(&state, body).await?)
    }
}

/// Unknown keys are refused in the token bodies.
fn finish_document(doc: &mut serde_json::Value) {
    for name in ["TokenCreate", "TokenDelete", "Permissions"] {
        if let Some(schema) = doc.pointer_mut(&format!("/components/schemas/{name}")) {
            schema["additionalProperties"] = serde_json::json!(false);
        }
    }
    if let Some(schema) = doc.pointer_mut("/components/schemas/TokenCreate") {
        schema["example"] = serde_json::json!({
            "name": "ci", "permissions": {"create": true, "read": true, "update": false, "delete": false},
            // 2100-01-01: an example must stay valid (a date in the past is refused).
            "expiration": 4102444800u64
        });
    }
}

bw_api::endpoint_plugin!("tokens", TokenApi, TokenApi, document = finish_document);
