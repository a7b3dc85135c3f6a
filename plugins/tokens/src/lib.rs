//! The token manager: list, create and revoke API tokens, on the seed-era path
//! `/api/account/tokenManager` and the v1 path `/api/v1/integration/token-manager`. Admins
//! manage every token; operators their own, never wider than themselves (their role's
//! permissions, their tenant). A token may be scoped to a tenant or to named repositories.

mod commands;
mod fields;

use bw_api::auth::{Guard, Principal, TokenMaker as Administrator};
use bw_api::body::{JsonRequest, Message};
use bw_api::body_fields::{Checked, Given};
use bw_api::refusals::{Answer, DISABLED, INVALID_BODY, NONE};
use bw_api::{ApiError, ApiResult, AppState};
use bw_store::scope::Scope;
use bw_store::token_store::TokenRecord;
use fields::{Expiration, PermissionSet, Permissions, RepositoryNames, TokenName, BAD_REQUEST};
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
    /// The user who made it; absent for a token of the host (made before users, by the
    /// command line, or imported).
    #[oai(skip_serializing_if_is_none)]
    pub owner: Option<String>,
    /// The tenant it is scoped to; absent: not scoped to one.
    #[oai(skip_serializing_if_is_none)]
    pub tenant: Option<String>,
    /// The repositories it is scoped to; absent: not scoped to names.
    #[oai(skip_serializing_if_is_none)]
    pub repositories: Option<Vec<String>>,
}

impl From<TokenRecord> for TokenInfo {
    fn from(t: TokenRecord) -> Self {
        TokenInfo {
            name: t.name,
            creation: t.creation,
            expiration: t.expiration,
            permissions: t.permissions.into(),
            last_used: t.last_used,
            owner: t.owner,
            tenant: t.scope.tenant,
            repositories: t.scope.repositories,
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
    /// Scopes the token to one tenant's repositories (a tenant-bound maker's tokens always are).
    pub tenant: Given<Checked<bw_api::body_fields::TenantName>>,
    /// Scopes the token to these repositories (their names); others answer 404.
    pub repositories: Given<Checked<RepositoryNames>>,
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

/// Whether `caller` manages the token `t`: an admin every token, anyone else their own.
fn manages(caller: &Principal, t: &TokenRecord) -> bool {
    caller.is_admin() || (t.owner.is_some() && t.owner.as_deref() == caller.user_name())
}

impl TokenApi {
    async fn list(&self, state: &AppState, caller: &Principal) -> ApiResult<Json<Vec<TokenInfo>>> {
        let tokens = state.tokens.list()?.into_iter().filter(|t| manages(caller, t));
        Ok(Json(tokens.map(TokenInfo::from).collect()))
    }

    async fn create(
        &self,
        state: &AppState,
        guard: &Guard<Administrator>,
        body: JsonRequest<TokenCreate>,
    ) -> ApiResult<Json<TokenCreated>> {
        let caller = &guard.principal;
        let body = body.fields_with(&BAD_REQUEST)?.parse()?;
        if state.config.auth.disable_integrations {
            return Err(ApiError::Forbidden(
                "Integrations are disabled on this server (DISABLE_INTEGRATIONS=true)".into(),
            ));
        }
        let (name, permissions) = (body.name.into_inner(), body.permissions.into_inner());
        let asked = Scope { tenant: body.tenant.value(), repositories: body.repositories.value() };
        let scope = within_maker(caller, permissions, asked)?;
        let owner = caller.user_name();
        let now = state.clock.now();
        let expiration = body.expiration.value();
        let changes = serde_json::json!({
            "permissions": {"create": permissions.create, "read": permissions.read, "update": permissions.update, "delete": permissions.delete},
            "expiration": expiration, "tenant": scope.tenant, "repositories": scope.repositories,
        });
        let audit = guard.audit(now, "token.create", &name, changes);
        let new = bw_store::token_store::NewToken { name: &name, permissions, expiration, owner, scope: scope.clone() };
        let token = state.tokens.create_for(new, now, Some(&audit))?;
        tracing::info!(target: "audit", actor = %caller.actor(), token = %name, permissions = ?permissions, scope = ?scope, "token created");
        state.events.publish(bw_api::events::Event::new("token", None, state.clock.now()));
        Ok(Json(TokenCreated { token }))
    }

    async fn delete(
        &self,
        state: &AppState,
        guard: &Guard<Administrator>,
        body: JsonRequest<TokenDelete>,
    ) -> ApiResult<Json<Message>> {
        let caller = &guard.principal;
        let name = body.fields_with(&BAD_REQUEST)?.parse()?.name.into_inner();
        let no_such = || ApiError::BadRequest(format!("No token named {}", name.chars().take(40).collect::<String>()));
        // Another user's token is answered as a missing one: an operator learns nothing of it.
        let theirs = state.tokens.list()?.into_iter().find(|t| t.name == name);
        let audit = guard.audit(state.clock.now(), "token.revoke", &name, serde_json::Value::Null);
        if !theirs.is_some_and(|t| manages(caller, &t)) || !state.tokens.revoke(&name, Some(&audit))? {
            return Err(no_such());
        }
        tracing::info!(target: "audit", actor = %caller.actor(), token = %name, "token revoked");
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
        caller: Guard<Administrator>,
    ) -> Answer<Json<Vec<TokenInfo>>, NONE> {
        Ok(self.list(&state, &caller.principal).await?)
    }

    /// Create an API token; its value is shown this once
    #[oai(path = "/api/account/tokenManager", method = "post", tag = "Tag::Tokens", operation_id = "createToken")]
    async fn bw2_create(
        &self,
        state: Data<&AppState>,
        caller: Guard<Administrator>,
        body: JsonRequest<TokenCreate>,
    ) -> Answer<Json<TokenCreated>, { INVALID_BODY | DISABLED }> {
        Ok(self.create(&state, &caller, body).await?)
    }

    /// Revoke an API token by name
    #[oai(path = "/api/account/tokenManager", method = "delete", tag = "Tag::Tokens", operation_id = "deleteToken")]
    async fn bw2_delete(
        &self,
        state: Data<&AppState>,
        caller: Guard<Administrator>,
        body: JsonRequest<TokenDelete>,
    ) -> Answer<Json<Message>, INVALID_BODY> {
        Ok(self.delete(&state, &caller, body).await?)
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
        caller: Guard<Administrator>,
    ) -> Answer<Json<Vec<TokenInfo>>, NONE> {
        Ok(self.list(&state, &caller.principal).await?)
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
        caller: Guard<Administrator>,
        body: JsonRequest<TokenCreate>,
    ) -> Answer<Json<TokenCreated>, { INVALID_BODY | DISABLED }> {
        Ok(self.create(&state, &caller, body).await?)
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
        caller: Guard<Administrator>,
        body: JsonRequest<TokenDelete>,
    ) -> Answer<Json<Message>, INVALID_BODY> {
        Ok(self.delete(&state, &caller, body).await?)
    }
}

/// The scope a token of `caller` gets: what it asked, within the maker's tenant; refused when
/// it asks for more than the maker may do (a permission its role lacks, another tenant).
fn within_maker(caller: &Principal, permissions: bw_store::token_store::Permissions, asked: Scope) -> ApiResult<Scope> {
    let Principal::User(maker) = caller else { return Err(ApiError::Unauthorized) };
    use bw_store::token_store::Permission;
    let wider = [
        (permissions.create, Permission::Create),
        (permissions.read, Permission::Read),
        (permissions.update, Permission::Update),
        (permissions.delete, Permission::Delete),
    ]
    .into_iter()
    .any(|(wanted, p)| wanted && !maker.role.allows(p));
    let reach = Scope::tenant(maker.tenant.clone());
    if wider || !asked.is_within(&reach) && asked.tenant.is_some() {
        tracing::warn!(target: "audit", user = %maker.name, outcome = "wider than its maker", "token refused");
        return Err(ApiError::Forbidden(format!(
            "A token cannot do more than the user who makes it ({}{})",
            maker.role.as_str(),
            maker.tenant.as_deref().map(|t| format!(", tenant {t}")).unwrap_or_default()
        )));
    }
    Ok(asked.within(&reach))
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
