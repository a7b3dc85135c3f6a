//! The contract's Validation section: every check that turns a JSON body into a create or an
//! edit, each refusal a 422 (or 400 for a body that is not an object) naming the field.

use bw_core::body::JsonRequest;
use bw_core::repo_store::{NewRepo, RepoPatch};
use bw_core::ssh_key::ClientKey;
use bw_core::ApiError;
use serde_json::{Map, Value};

use bw_core::limits::{text_problem, ALERT_VALUES, ALIAS_MAX_CHARS, COMMENT_MAX_CHARS, STORAGE_GB};

const ALLOWED_KEYS: &[&str] =
    &["alias", "sshPublicKey", "storageSize", "comment", "alert", "lanCommand", "appendOnlyMode"];

/// Which create body: the seed's (all seven keys required) or v1's (three required).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum CreateFlavor {
    Seed,
    V1,
}

fn unexpected(detail: impl Into<String>) -> ApiError {
    ApiError::UnexpectedData(detail.into())
}

fn object<D>(body: &JsonRequest<D>) -> Result<Map<String, Value>, ApiError> {
    let map = body.object()?;
    if let Some(k) = map.keys().find(|k| !ALLOWED_KEYS.contains(&k.as_str())) {
        let shown: String = k.chars().take(40).collect();
        return Err(unexpected(format!("unknown field {shown:?}; allowed: {}", ALLOWED_KEYS.join(", "))));
    }
    Ok(map)
}

fn text(map: &Map<String, Value>, key: &str, max: usize, allow_empty: bool) -> Result<Option<String>, ApiError> {
    let Some(v) = map.get(key) else { return Ok(None) };
    let Value::String(s) = v else { return Err(unexpected(format!("{key} must be a string"))) };
    match text_problem(key, s, max, allow_empty) {
        Some(problem) => Err(unexpected(problem)),
        None => Ok(Some(s.clone())),
    }
}

fn boolean(map: &Map<String, Value>, key: &str) -> Result<Option<bool>, ApiError> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(unexpected(format!("{key} must be true or false"))),
    }
}

fn storage_size(map: &Map<String, Value>) -> Result<Option<u64>, ApiError> {
    let Some(v) = map.get("storageSize") else { return Ok(None) };
    match v.as_u64() {
        Some(n) if STORAGE_GB.contains(&n) && v.is_u64() => Ok(Some(n)),
        _ => Err(unexpected(format!(
            "storageSize must be a whole number of GB from {} to {}",
            STORAGE_GB.start(),
            STORAGE_GB.end()
        ))),
    }
}

fn alert(map: &Map<String, Value>) -> Result<Option<u64>, ApiError> {
    let Some(v) = map.get("alert") else { return Ok(None) };
    match v.as_u64() {
        Some(n) if v.is_u64() && ALERT_VALUES.contains(&n) => Ok(Some(n)),
        _ => Err(unexpected(format!(
            "alert must be one of {}",
            ALERT_VALUES.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
        ))),
    }
}

fn key(map: &Map<String, Value>) -> Result<Option<ClientKey>, ApiError> {
    let Some(v) = map.get("sshPublicKey") else { return Ok(None) };
    let Value::String(s) = v else { return Err(unexpected("sshPublicKey must be a string")) };
    ClientKey::parse(s).map(Some).map_err(unexpected)
}

fn patch_of(map: &Map<String, Value>) -> Result<RepoPatch, ApiError> {
    Ok(RepoPatch {
        alias: text(map, "alias", ALIAS_MAX_CHARS, false)?,
        key: key(map)?,
        storage_size: storage_size(map)?,
        comment: text(map, "comment", COMMENT_MAX_CHARS, true)?,
        alert: alert(map)?,
        lan_command: boolean(map, "lanCommand")?,
        append_only_mode: boolean(map, "appendOnlyMode")?,
    })
}

pub fn create<D>(body: &JsonRequest<D>, flavor: CreateFlavor) -> Result<NewRepo, ApiError> {
    let map = object(body)?;
    let required: &[&str] = match flavor {
        CreateFlavor::Seed => ALLOWED_KEYS,
        CreateFlavor::V1 => &["alias", "sshPublicKey", "storageSize"],
    };
    if let Some(missing) = required.iter().find(|k| !map.contains_key(**k)) {
        return Err(unexpected(format!("{missing} is required")));
    }
    let p = patch_of(&map)?;
    let missing = |k: &str| unexpected(format!("{k} is required"));
    Ok(NewRepo {
        alias: p.alias.ok_or_else(|| missing("alias"))?,
        key: p.key.ok_or_else(|| missing("sshPublicKey"))?,
        storage_size: p.storage_size.ok_or_else(|| missing("storageSize"))?,
        comment: p.comment.unwrap_or_default(),
        alert: p.alert.unwrap_or(0),
        lan_command: p.lan_command.unwrap_or(false),
        append_only_mode: p.append_only_mode.unwrap_or(false),
    })
}

pub fn edit<D>(body: &JsonRequest<D>) -> Result<RepoPatch, ApiError> {
    let map = object(body)?;
    if map.is_empty() {
        return Err(unexpected(format!("give at least one of {}", ALLOWED_KEYS.join(", "))));
    }
    patch_of(&map)
}
