//! The token manager: list, create and revoke API tokens, for the administrator only, on the
//! seed-era path `/api/account/tokenManager` and the v1 path `/api/v1/integration/token-manager`.

use bw_core::auth::{Administrator, Guard};
use bw_core::body::{JsonRequest, Message};
use bw_core::refusals::{Answer, DISABLED, INVALID_BODY, NONE};
use bw_core::token_store::{Permissions, TokenRecord};
use bw_core::{ApiError, ApiResult, AppState};
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
            permissions: t.permissions,
            last_used: t.last_used,
        }
    }
}

/// A token to make: its name, what it may do, and when it stops working.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct TokenCreate {
    /// `^[A-Za-z0-9_-]{1,25}$`, unique.
    #[oai(validator(pattern = "^[A-Za-z0-9_-]{1,25}$"))]
    pub name: String,
    pub permissions: Permissions,
    /// Unix seconds after which the token is refused; absent for no expiration.
    pub expiration: Option<i64>,
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
    #[oai(validator(pattern = "^[A-Za-z0-9_-]{1,25}$"))]
    pub name: String,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::BadRequest(message.into())
}

/// Reads a token body strictly: JSON types as documented, no other keys. (poem-openapi's own
/// parsing would take `{"name": 0}` as the name "0".)
fn object<D>(body: &JsonRequest<D>, allowed: &[&str]) -> ApiResult<serde_json::Map<String, serde_json::Value>> {
    let map = body.object().map_err(|e| match e {
        ApiError::UnsupportedMediaType => e,
        other => bad(other.body().detail.unwrap_or_else(|| "Invalid request body".into())),
    })?;
    if let Some(k) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(bad(format!(
            "Unknown field {:?}; allowed: {}",
            k.chars().take(40).collect::<String>(),
            allowed.join(", ")
        )));
    }
    Ok(map)
}

fn name_of(map: &serde_json::Map<String, serde_json::Value>) -> ApiResult<String> {
    match map.get("name") {
        Some(serde_json::Value::String(n)) => Ok(n.clone()),
        _ => Err(bad("name must be a string matching ^[A-Za-z0-9_-]{1,25}$")),
    }
}

fn parse_create(body: &JsonRequest<TokenCreate>) -> ApiResult<TokenCreate> {
    let map = object(body, &["name", "permissions", "expiration"])?;
    let name = name_of(&map)?;
    let Some(serde_json::Value::Object(p)) = map.get("permissions") else {
        return Err(bad("permissions must be an object with the booleans create, read, update, delete"));
    };
    if let Some(k) = p.keys().find(|k| !["create", "read", "update", "delete"].contains(&k.as_str())) {
        return Err(bad(format!(
            "Unknown permission {:?}; use create, read, update, delete",
            k.chars().take(40).collect::<String>()
        )));
    }
    // All four are required, as the document says: a forgotten key is a mistake, not "false".
    let flag = |k: &str| match p.get(k) {
        None => Err(bad(format!("permissions.{k} is required (true or false)"))),
        Some(serde_json::Value::Bool(b)) => Ok(*b),
        Some(_) => Err(bad(format!("permissions.{k} must be true or false"))),
    };
    let permissions =
        Permissions { create: flag("create")?, read: flag("read")?, update: flag("update")?, delete: flag("delete")? };
    let expiration = match map.get("expiration") {
        None => None,
        Some(v) if v.is_i64() => v.as_i64(),
        Some(_) => Err(bad("expiration must be a whole number of unix seconds (omit it for no expiration)"))?,
    };
    Ok(TokenCreate { name, permissions, expiration })
}

fn parse_delete(body: &JsonRequest<TokenDelete>) -> ApiResult<TokenDelete> {
    let map = object(body, &["name"])?;
    Ok(TokenDelete { name: name_of(&map)? })
}

pub struct TokenApi;

impl TokenApi {
    async fn list(&self, state: &AppState) -> ApiResult<Json<Vec<TokenInfo>>> {
        Ok(Json(state.tokens.list()?.into_iter().map(TokenInfo::from).collect()))
    }

    async fn create(&self, state: &AppState, body: JsonRequest<TokenCreate>) -> ApiResult<Json<TokenCreated>> {
        let body = parse_create(&body)?;
        if state.config.auth.disable_integrations {
            return Err(ApiError::Forbidden(
                "Integrations are disabled on this server (DISABLE_INTEGRATIONS=true)".into(),
            ));
        }
        let token = state.tokens.create(&body.name, body.permissions, body.expiration, state.clock.now())?;
        tracing::info!(target: "audit", token = %body.name, permissions = ?body.permissions, "token created");
        Ok(Json(TokenCreated { token }))
    }

    async fn delete(&self, state: &AppState, body: JsonRequest<TokenDelete>) -> ApiResult<Json<Message>> {
        let body = parse_delete(&body)?;
        if !state.tokens.revoke(&body.name)? {
            return Err(ApiError::BadRequest(format!(
                "No token named {}",
                body.name.chars().take(40).collect::<String>()
            )));
        }
        tracing::info!(target: "audit", token = %body.name, "token revoked");
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

bw_core::endpoint_plugin!("tokens", TokenApi, TokenApi, document = finish_document);
