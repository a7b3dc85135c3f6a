//! The fields of the user bodies, each rule said once (see `bw_api::body_fields`). A refused
//! body answers 422 `Unexpected data` with the field at fault, as the repository routes do.

use bw_api::body_fields::Rule;
use bw_store::user_store::{is_email, is_tenant_name, is_user_name, Role, MIN_PASSWORD};
use poem_openapi::registry::MetaSchema;
use serde_json::{json, Value};

fn string(value: &Value, key: &str) -> Result<String, String> {
    value.as_str().map(str::to_string).ok_or_else(|| format!("{key} must be a string"))
}

/// `name`: 1 to 64 letters, digits, `_`, `-`, `.` or `@`.
pub struct UserName;

impl Rule for UserName {
    const KEY: &'static str = "name";
    type Value = String;

    fn schema() -> MetaSchema {
        MetaSchema { pattern: Some("^[A-Za-z0-9_.@-]{1,64}$".into()), ..MetaSchema::new("string") }
    }

    fn parse(value: &Value) -> Result<String, String> {
        let name = string(value, Self::KEY)?;
        is_user_name(&name)
            .then_some(name)
            .ok_or_else(|| "name must be 1 to 64 letters, digits, '_', '-', '.' or '@'".into())
    }

    fn to_json(value: &String) -> Value {
        json!(value)
    }
}

/// `role`: `admin`, `operator` or `viewer`.
pub struct RoleField;

impl Rule for RoleField {
    const KEY: &'static str = "role";
    type Value = Role;

    fn schema() -> MetaSchema {
        MetaSchema { enum_items: Role::ALL.iter().map(|r| json!(r.as_str())).collect(), ..MetaSchema::new("string") }
    }

    fn parse(value: &Value) -> Result<Role, String> {
        value.as_str().and_then(Role::parse).ok_or_else(|| "role must be admin, operator or viewer".into())
    }

    fn to_json(value: &Role) -> Value {
        json!(value.as_str())
    }
}

/// `email`: an address, or `""` to clear it (PATCH).
pub struct Email;

impl Rule for Email {
    const KEY: &'static str = "email";
    type Value = Option<String>;

    fn schema() -> MetaSchema {
        // An address, or "" (none): `format: email` would not take the empty string.
        MetaSchema {
            pattern: Some(
                r"^(|[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s.\x00-\x1f\x7f-\x9f]+(\.[^@\s.\x00-\x1f\x7f-\x9f]+)+)$".into(),
            ),
            max_length: Some(254),
            ..MetaSchema::new("string")
        }
    }

    fn parse(value: &Value) -> Result<Option<String>, String> {
        let email = string(value, Self::KEY)?;
        if email.is_empty() {
            return Ok(None);
        }
        is_email(&email).then_some(Some(email)).ok_or_else(|| "email must be an address (name@domain)".into())
    }

    fn to_json(value: &Option<String>) -> Value {
        json!(value.as_deref().unwrap_or(""))
    }
}

/// `tenant`: a tenant's name, or `""` for the host's own (PATCH).
pub struct Tenant;

impl Rule for Tenant {
    const KEY: &'static str = "tenant";
    type Value = Option<String>;

    fn schema() -> MetaSchema {
        MetaSchema { pattern: Some("^[A-Za-z0-9_.-]{0,64}$".into()), ..MetaSchema::new("string") }
    }

    fn parse(value: &Value) -> Result<Option<String>, String> {
        let tenant = string(value, Self::KEY)?;
        if tenant.is_empty() {
            return Ok(None);
        }
        is_tenant_name(&tenant)
            .then_some(Some(tenant))
            .ok_or_else(|| "tenant must be 1 to 64 letters, digits, '_', '-' or '.'".into())
    }

    fn to_json(value: &Option<String>) -> Value {
        json!(value.as_deref().unwrap_or(""))
    }
}

/// `password`: at least [`MIN_PASSWORD`] characters.
pub struct Password;

impl Rule for Password {
    const KEY: &'static str = "password";
    type Value = String;

    fn schema() -> MetaSchema {
        MetaSchema { min_length: Some(MIN_PASSWORD), format: Some("password"), ..MetaSchema::new("string") }
    }

    fn parse(value: &Value) -> Result<String, String> {
        let password = string(value, Self::KEY)?;
        if password.chars().count() < MIN_PASSWORD {
            return Err(format!("password must have at least {MIN_PASSWORD} characters"));
        }
        Ok(password)
    }

    fn to_json(_: &String) -> Value {
        json!("********")
    }
}

/// `currentPassword`: the password the account has now (any length: an imported one may be
/// shorter than today's rule).
pub struct CurrentPassword;

impl Rule for CurrentPassword {
    const KEY: &'static str = "currentPassword";
    type Value = String;

    fn schema() -> MetaSchema {
        MetaSchema { format: Some("password"), ..MetaSchema::new("string") }
    }

    fn parse(value: &Value) -> Result<String, String> {
        string(value, Self::KEY)
    }

    fn to_json(_: &String) -> Value {
        json!("********")
    }
}

/// `code`: the one-time setup code from the server's log.
pub struct SetupCode;

impl Rule for SetupCode {
    const KEY: &'static str = "code";
    type Value = String;

    fn schema() -> MetaSchema {
        MetaSchema::new("string")
    }

    fn parse(value: &Value) -> Result<String, String> {
        string(value, Self::KEY)
    }

    fn to_json(value: &String) -> Value {
        json!(value)
    }
}
