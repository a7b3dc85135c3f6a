//! People: users with roles (`admin`, `operator`, `viewer`), one's own account, and the first
//! run, on the contract's "People, tenants and scopes" paths; and the `user` command.
//!
//! The store (`bw_store::user_store`) keeps the rules that hold whoever calls (the last admin,
//! unique names and emails); this plugin says who may call and answers in the contract's shape.

mod commands;
mod fields;

use bw_api::auth::{client_ip, Administrator, AnyUser, Guard};
use bw_api::body::{JsonRequest, Message};
use bw_api::body_fields::{Checked, Given};
use bw_api::refusals::{Answer, CONFLICT, DISABLED, INVALID_BODY, NOT_FOUND, THROTTLED, UNEXPECTED_DATA};
use bw_api::{ApiError, ApiResult, AppState};
use bw_store::store_error::StoreError;
use bw_store::user_store::{NewUser, User, UserChange};
use fields::{CurrentPassword, Email, Password, RoleField, SetupCode, Tenant, UserName};
use poem::web::Data;
use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};

#[derive(Tags)]
enum Tag {
    /// Users, one's own account, and the first run.
    #[oai(rename = "People, tenants and scopes (this server, v1 paths)")]
    People,
}

/// A user, never its password.
#[derive(Object, Debug)]
#[oai(rename = "User", rename_all = "camelCase")]
pub struct UserInfo {
    pub name: String,
    /// `admin`, `operator` or `viewer`.
    pub role: String,
    #[oai(skip_serializing_if_is_none)]
    pub email: Option<String>,
    /// The tenant the user is bound to; absent: the whole host.
    #[oai(skip_serializing_if_is_none)]
    pub tenant: Option<String>,
    /// Unix seconds (0 for the administrator account of 0.2).
    pub created_at: i64,
}

impl From<User> for UserInfo {
    fn from(u: User) -> Self {
        UserInfo {
            name: u.name,
            role: u.role.as_str().into(),
            email: u.email,
            tenant: u.tenant,
            created_at: u.created_at,
        }
    }
}

/// A new user.
#[derive(Object)]
#[oai(rename = "UserNew", deny_unknown_fields)]
pub struct UserNew {
    pub name: Checked<UserName>,
    pub role: Checked<RoleField>,
    pub email: Given<Checked<Email>>,
    /// Binds the user to a tenant: it sees and changes only that tenant's repositories.
    pub tenant: Given<Checked<Tenant>>,
    pub password: Checked<Password>,
}

/// A change to a user; an absent field stays as it is, `""` clears email or tenant.
#[derive(Object)]
#[oai(rename = "UserEdit", deny_unknown_fields)]
pub struct UserEdit {
    pub role: Given<Checked<RoleField>>,
    pub email: Given<Checked<Email>>,
    pub tenant: Given<Checked<Tenant>>,
    pub password: Given<Checked<Password>>,
}

/// A change to one's own account; a new password needs the current one.
#[derive(Object)]
#[oai(rename = "AccountEdit", rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountEdit {
    pub email: Given<Checked<Email>>,
    pub password: Given<Checked<Password>>,
    pub current_password: Given<Checked<CurrentPassword>>,
}

/// The first admin, with the setup code from the server's log.
#[derive(Object)]
#[oai(rename = "Setup", deny_unknown_fields)]
pub struct Setup {
    pub code: Checked<SetupCode>,
    pub name: Checked<UserName>,
    pub password: Checked<Password>,
    pub email: Given<Checked<Email>>,
}

/// Whether the first run is open: no user yet, and a setup code in the server's log.
#[derive(Object)]
#[oai(rename = "SetupState", rename_all = "camelCase")]
pub struct SetupState {
    pub needed: bool,
}

fn no_user(name: &str) -> ApiError {
    ApiError::NotFound(format!("No user named {}", name.chars().take(64).collect::<String>()))
}

/// An audit entry's changes of an email and a password: the new email, and only that the
/// password changed (never the password).
fn changed(email: &Option<Option<String>>, password_changed: bool) -> serde_json::Map<String, serde_json::Value> {
    let mut changes = serde_json::Map::new();
    if let Some(e) = email {
        changes.insert("email".into(), serde_json::json!(e));
    }
    if password_changed {
        changes.insert("passwordChanged".into(), true.into());
    }
    changes
}

/// Runs blocking store work (argon2) off the async threads.
async fn blocking<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&AppState) -> Result<T, StoreError> + Send + 'static,
) -> ApiResult<T> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || work(&state)).await.map_err(ApiError::internal)?.map_err(ApiError::from)
}

pub struct UsersApi;

#[OpenApi]
impl UsersApi {
    /// List users (admin)
    #[oai(path = "/api/v1/users", method = "get", tag = "Tag::People", operation_id = "listUsers")]
    async fn list(&self, state: Data<&AppState>, _caller: Guard<Administrator>) -> Answer<Json<Vec<UserInfo>>, 0> {
        Ok(Json(state.users.list()?.into_iter().map(UserInfo::from).collect()))
    }

    /// Add a user (admin)
    #[oai(path = "/api/v1/users", method = "post", tag = "Tag::People", operation_id = "addUser")]
    async fn add(
        &self,
        state: Data<&AppState>,
        caller: Guard<Administrator>,
        body: JsonRequest<UserNew>,
    ) -> Answer<Json<UserInfo>, { INVALID_BODY | UNEXPECTED_DATA | CONFLICT }> {
        let b = body.fields()?.parse()?;
        let (name, role, password) = (b.name.into_inner(), b.role.into_inner(), b.password.into_inner());
        let (email, tenant) = (b.email.value().flatten(), b.tenant.value().flatten());
        let now = state.clock.now();
        let changes = serde_json::json!({"role": role.as_str(), "email": email, "tenant": tenant});
        let audit = caller.audit(now, "user.add", &name, changes);
        let user = blocking(&state, move |s| {
            let new =
                NewUser { name: &name, role, email: email.as_deref(), tenant: tenant.as_deref(), password: &password };
            s.users.add(new, now, Some(&audit))
        })
        .await?;
        tracing::info!(target: "audit", actor = %caller.principal.actor(), user = %user.name, role = user.role.as_str(), tenant = ?user.tenant, "user added");
        Ok(Json(user.into()))
    }

    /// Change a user's role, email, tenant or password (admin)
    #[oai(path = "/api/v1/users/:name", method = "patch", tag = "Tag::People", operation_id = "editUser")]
    async fn edit(
        &self,
        state: Data<&AppState>,
        caller: Guard<Administrator>,
        name: Path<String>,
        body: JsonRequest<UserEdit>,
    ) -> Answer<Json<UserInfo>, { INVALID_BODY | NOT_FOUND | UNEXPECTED_DATA | CONFLICT }> {
        let b = body.fields()?.parse()?;
        let (role, email, tenant, password) = (b.role.value(), b.email.value(), b.tenant.value(), b.password.value());
        let who = name.0.clone();
        let mut changes = changed(&email, password.is_some());
        if let Some(r) = role {
            changes.insert("role".into(), r.as_str().into());
        }
        if let Some(t) = &tenant {
            changes.insert("tenant".into(), serde_json::json!(t));
        }
        let audit = caller.audit(state.clock.now(), "user.edit", &who, changes.into());
        let changed = blocking(&state, move |s| {
            let change = UserChange {
                role,
                email: email.as_ref().map(|e| e.as_deref()),
                tenant: tenant.as_ref().map(|t| t.as_deref()),
                password: password.as_deref(),
            };
            s.users.change(&who, change, Some(&audit))
        })
        .await;
        let user = changed.map_err(|e| match e {
            ApiError::NotFound(_) => no_user(&name),
            other => other,
        })?;
        tracing::info!(target: "audit", actor = %caller.principal.actor(), user = %user.name, role = user.role.as_str(), tenant = ?user.tenant, "user changed");
        Ok(Json(user.into()))
    }

    /// Remove a user; its sign-ins end and its tokens stop working (admin)
    #[oai(path = "/api/v1/users/:name", method = "delete", tag = "Tag::People", operation_id = "removeUser")]
    async fn remove(
        &self,
        state: Data<&AppState>,
        caller: Guard<Administrator>,
        name: Path<String>,
    ) -> Answer<Json<Message>, { NOT_FOUND | CONFLICT }> {
        let audit = caller.audit(state.clock.now(), "user.remove", &name, serde_json::Value::Null);
        let removed = state.users.remove(&name, Some(&audit)).map_err(|e| match e {
            StoreError::NotFound => no_user(&name),
            other => other.into(),
        })?;
        tracing::info!(target: "audit", actor = %caller.principal.actor(), user = %removed.name, "user removed");
        Ok(Message::success())
    }

    /// One's own account
    #[oai(path = "/api/v1/account", method = "get", tag = "Tag::People", operation_id = "getAccount")]
    async fn account(&self, state: Data<&AppState>, caller: Guard<AnyUser>) -> Answer<Json<UserInfo>, 0> {
        let name = caller.principal.user_name().unwrap_or_default().to_string();
        // The credential check found the user a moment ago; gone since, it is as if it never was.
        let user = state.users.get(&name)?.ok_or(ApiError::InvalidApiKey)?;
        Ok(Json(user.into()))
    }

    /// Change one's own email or password (the current password is required for a new one)
    #[oai(path = "/api/v1/account", method = "patch", tag = "Tag::People", operation_id = "editAccount")]
    async fn edit_account(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Guard<AnyUser>,
        body: JsonRequest<AccountEdit>,
    ) -> Answer<Json<UserInfo>, { INVALID_BODY | UNEXPECTED_DATA | CONFLICT | DISABLED }> {
        let b = body.fields()?.parse()?;
        let name = caller.principal.user_name().unwrap_or_default().to_string();
        let (email, password, current) = (b.email.value(), b.password.value(), b.current_password.value());
        if password.is_some() {
            let Some(current) = current else {
                return Err(ApiError::UnexpectedData("currentPassword is required to set a new password".into()).into());
            };
            check_current_password(&state, req, &name, current).await?;
        }
        let who = name.clone();
        let audit = caller.audit(state.clock.now(), "account.edit", &name, changed(&email, password.is_some()).into());
        let user = blocking(&state, move |s| {
            let change = UserChange {
                email: email.as_ref().map(|e| e.as_deref()),
                password: password.as_deref(),
                ..Default::default()
            };
            s.users.change(&who, change, Some(&audit))
        })
        .await?;
        tracing::info!(target: "audit", actor = %name, "account changed");
        Ok(Json(user.into()))
    }

    /// Whether the first run is open (no credentials)
    #[oai(path = "/api/v1/setup", method = "get", tag = "Tag::People", operation_id = "getSetup")]
    async fn setup_state(&self, state: Data<&AppState>) -> Answer<Json<SetupState>, 0> {
        Ok(Json(SetupState { needed: !state.users.exists()? && state.first_run.is_open() }))
    }

    /// Create the first admin with the one-time setup code from the server's log (no
    /// credentials; 403 with a wrong code, 409 once a user exists)
    #[oai(path = "/api/v1/setup", method = "post", tag = "Tag::People", operation_id = "setup")]
    async fn setup(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonRequest<Setup>,
    ) -> Answer<Json<UserInfo>, { INVALID_BODY | UNEXPECTED_DATA | CONFLICT | DISABLED | THROTTLED }> {
        // Every attempt counts against the address, as a password does: the code is a secret.
        let ip = client_ip(&state.config.server, req);
        let Some(attempt) = state.throttle.admit(ip, state.config.auth.failure_limit) else {
            return Err(ApiError::TooManyRequests.into());
        };
        if state.users.exists()? {
            attempt.succeeded();
            return Err(ApiError::Conflict("A user exists already: sign in".into()).into());
        }
        let b = body.fields()?.parse()?;
        if !state.first_run.matches(&b.code.into_inner()) {
            attempt.failed();
            let entry = bw_api::audit::anonymous(
                state.clock.now(),
                ip,
                "setup.failed",
                &b.name.into_inner(),
                serde_json::Value::Null,
            );
            if let Err(e) = state.audit.record(&entry) {
                tracing::error!(error = %e, "the audit entry was not written");
            }
            tracing::warn!(target: "audit", client = ?ip, "first run refused: wrong setup code");
            return Err(ApiError::Forbidden("Wrong setup code: it is in the server's log".into()).into());
        }
        attempt.succeeded();
        let (name, password, email) = (b.name.into_inner(), b.password.into_inner(), b.email.value().flatten());
        let now = state.clock.now();
        let audit =
            bw_api::audit::anonymous(now, ip, "setup", &name, serde_json::json!({"role": "admin", "email": email}));
        let user =
            blocking(&state, move |s| s.users.add_first(&name, email.as_deref(), &password, now, Some(&audit))).await?;
        state.first_run.close();
        tracing::info!(target: "audit", user = %user.name, client = ?ip, "first admin created with the setup code");
        Ok(Json(user.into()))
    }
}

/// Checks `current` against `name`'s password, counted by the throttle as a sign-in is.
async fn check_current_password(state: &AppState, req: &Request, name: &str, current: String) -> ApiResult<()> {
    let ip = client_ip(&state.config.server, req);
    let Some(attempt) = state.throttle.admit(ip, state.config.auth.failure_limit) else {
        return Err(ApiError::TooManyRequests);
    };
    let Some(_turn) = state.throttle.password_check().await else { return Err(ApiError::TooManyRequests) };
    let who = name.to_string();
    let ok = blocking(state, move |s| s.users.verify(&who, &current)).await?.is_some();
    if ok {
        attempt.succeeded();
        Ok(())
    } else {
        attempt.failed();
        tracing::warn!(target: "audit", user = %name, "account change refused: wrong current password");
        Err(ApiError::Forbidden("The current password is wrong".into()))
    }
}

/// Unknown keys are refused in the people bodies, and a user's name in a path follows the name
/// rule: the document says both, so that a client (or a fuzzer) knows.
fn finish_document(doc: &mut serde_json::Value) {
    for name in ["UserNew", "UserEdit", "AccountEdit", "Setup"] {
        if let Some(schema) = doc.pointer_mut(&format!("/components/schemas/{name}")) {
            schema["additionalProperties"] = serde_json::json!(false);
        }
    }
    for method in ["patch", "delete"] {
        if let Some(params) = doc
            .pointer_mut(&format!("/paths/~1api~1v1~1users~1{{name}}/{method}/parameters"))
            .and_then(|p| p.as_array_mut())
        {
            for p in params.iter_mut().filter(|p| p["name"] == "name") {
                p["schema"] = serde_json::json!({"type": "string", "pattern": "^[A-Za-z0-9_.@-]{1,64}$"});
            }
        }
    }
}

bw_api::endpoint_plugin!("users", UsersApi, UsersApi, document = finish_document);
