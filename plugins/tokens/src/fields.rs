//! The fields of the token bodies, each rule said once (see `bw_api::body_fields`), and how
//! the token routes answer a refused body: 400 with the reason as its message.

use bw_api::body_fields::{Refusals, Rule};
use bw_api::ApiError;
use bw_store::token_store;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use poem_openapi::Object;
use serde_json::{json, Value};

/// The token routes' answers: 400, the reason as the message; each key asked for in its turn.
pub const BAD_REQUEST: Refusals = Refusals {
    not_an_object: |e| ApiError::BadRequest(e.body().detail.unwrap_or_else(|| "Invalid request body".into())),
    refused: ApiError::BadRequest,
    unknown_key: |key, keys| format!("Unknown field {key:?}; allowed: {keys}"),
    required_first: false,
};

/// What a token name may be; the store holds every name to it.
const NAME_PATTERN: &str = "^[A-Za-z0-9_-]{1,25}$";

/// `name`: a string. Whether it matches [`NAME_PATTERN`] and is free is the store's to say
/// (the command line makes tokens too).
pub struct TokenName;

impl Rule for TokenName {
    const KEY: &'static str = "name";
    type Value = String;

    fn schema() -> MetaSchema {
        MetaSchema { pattern: Some(NAME_PATTERN.into()), ..MetaSchema::new("string") }
    }

    fn parse(value: &Value) -> Result<String, String> {
        value.as_str().map(str::to_string).ok_or_else(Self::missing)
    }

    fn missing() -> String {
        format!("name must be a string matching {NAME_PATTERN}")
    }

    fn to_json(value: &String) -> Value {
        json!(value)
    }
}

// The API's form of the store's `token_store::Permissions` (the doc line is the document's).
/// What a token may do on the repository routes; all four are required.
#[derive(Object, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permissions {
    pub create: bool,
    pub read: bool,
    pub update: bool,
    pub delete: bool,
}

impl From<token_store::Permissions> for Permissions {
    fn from(p: token_store::Permissions) -> Self {
        Permissions { create: p.create, read: p.read, update: p.update, delete: p.delete }
    }
}

impl From<Permissions> for token_store::Permissions {
    fn from(p: Permissions) -> Self {
        token_store::Permissions { create: p.create, read: p.read, update: p.update, delete: p.delete }
    }
}

const FLAGS: [&str; 4] = ["create", "read", "update", "delete"];

/// `permissions`: the four booleans, all required (a forgotten key is a mistake, not "false").
/// The document shows it as the `Permissions` schema.
pub struct PermissionSet;

impl Rule for PermissionSet {
    const KEY: &'static str = "permissions";
    type Value = token_store::Permissions;

    fn schema() -> MetaSchema {
        MetaSchema::new("object")
    }

    fn schema_ref() -> MetaSchemaRef {
        <Permissions as Type>::schema_ref()
    }

    fn register(registry: &mut Registry) {
        <Permissions as Type>::register(registry);
    }

    fn parse(value: &Value) -> Result<token_store::Permissions, String> {
        let Value::Object(p) = value else { return Err(Self::missing()) };
        if let Some(k) = p.keys().find(|k| !FLAGS.contains(&k.as_str())) {
            let shown: String = k.chars().take(40).collect();
            return Err(format!("Unknown permission {shown:?}; use {}", FLAGS.join(", ")));
        }
        let flag = |k: &str| match p.get(k) {
            None => Err(format!("permissions.{k} is required (true or false)")),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(format!("permissions.{k} must be true or false")),
        };
        let permissions = token_store::Permissions {
            create: flag("create")?,
            read: flag("read")?,
            update: flag("update")?,
            delete: flag("delete")?,
        };
        // A token that may do nothing is a mistake made in a hurry, found only when the job
        // that uses it fails.
        if permissions == token_store::Permissions::default() {
            return Err("A token needs at least one permission (create, read, update or delete)".into());
        }
        Ok(permissions)
    }

    fn missing() -> String {
        format!("permissions must be an object with the booleans {}", FLAGS.join(", "))
    }

    fn to_json(p: &token_store::Permissions) -> Value {
        json!({"create": p.create, "read": p.read, "update": p.update, "delete": p.delete})
    }
}

/// `expiration`: whole unix seconds. Whether it is in the future is the store's to say.
pub struct Expiration;

impl Rule for Expiration {
    const KEY: &'static str = "expiration";
    type Value = i64;

    fn schema() -> MetaSchema {
        MetaSchema::new_with_format("integer", "int64")
    }

    fn parse(value: &Value) -> Result<i64, String> {
        value
            .as_i64()
            .ok_or_else(|| "expiration must be a whole number of unix seconds (omit it for no expiration)".into())
    }

    fn to_json(value: &i64) -> Value {
        json!(value)
    }
}

/// `repositories`: the names (8 lowercase hex characters) a token is scoped to, 1 to 1000.
pub struct RepositoryNames;

impl Rule for RepositoryNames {
    const KEY: &'static str = "repositories";
    type Value = Vec<String>;

    fn schema() -> MetaSchema {
        MetaSchema {
            items: Some(Box::new(poem_openapi::registry::MetaSchemaRef::Inline(Box::new(MetaSchema {
                pattern: Some("^[0-9a-f]{8}$".into()),
                ..MetaSchema::new("string")
            })))),
            min_items: Some(1),
            max_items: Some(1000),
            ..MetaSchema::new("array")
        }
    }

    fn parse(value: &Value) -> Result<Vec<String>, String> {
        const RULE: &str = "repositories must be a list of 1 to 1000 repository names (8 lowercase hex characters)";
        let Value::Array(items) = value else { return Err(RULE.into()) };
        let names: Option<Vec<String>> =
            items.iter().map(|v| v.as_str().filter(|n| bw_host::pool::is_repo_name(n)).map(str::to_string)).collect();
        names.filter(|n| (1..=1000).contains(&n.len())).ok_or_else(|| RULE.into())
    }

    fn to_json(value: &Vec<String>) -> Value {
        json!(value)
    }
}
