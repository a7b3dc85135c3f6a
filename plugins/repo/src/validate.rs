//! The contract's Validation section: every check that turns a JSON body into a create or an
//! edit, each refusal a 422 (or 400 for a body that is not an object) naming the field.

use bw_core::body::JsonRequest;
use bw_core::repo_store::{NewRepo, PathFamily, RepoPatch};
use bw_core::ssh_key::ClientKey;
use bw_core::storage_target::StorageTarget;
use bw_core::ApiError;
use serde_json::{Map, Value};

use bw_core::limits::{text_problem, Blank, ALERT_VALUES, ALIAS_MAX_CHARS, COMMENT_MAX_CHARS, STORAGE_GB};

/// The seven keys the BorgWarehouse 2.x paths take (the contract's "seed" paths).
const BW2_KEYS: &[&str] = &["alias", "sshPublicKey", "storageSize", "comment", "alert", "lanCommand", "appendOnlyMode"];
/// BorgWarehouse 3.x's additions on v1 edit (and add).
const V1_EDIT_KEYS: &[&str] =
    &["alias", "sshPublicKey", "storageSize", "comment", "alert", "lanCommand", "appendOnlyMode", "icon"];
const V1_ADD_KEYS: &[&str] = &[
    "alias",
    "sshPublicKey",
    "storageSize",
    "comment",
    "alert",
    "lanCommand",
    "appendOnlyMode",
    "icon",
    "storageTarget",
];

/// `icon`: BorgWarehouse 3.x's icon names.
pub const ICON_PATTERN: &str = "^Icon[A-Za-z0-9]{1,40}$";

fn unexpected(detail: impl Into<String>) -> ApiError {
    ApiError::UnexpectedData(detail.into())
}

fn object<D>(body: &JsonRequest<D>, allowed: &[&str]) -> Result<Map<String, Value>, ApiError> {
    let map = body.object()?;
    if let Some(k) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        let shown: String = k.chars().take(40).collect();
        return Err(unexpected(format!("unknown field {shown:?}; allowed: {}", allowed.join(", "))));
    }
    Ok(map)
}

fn icon(map: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    let Some(v) = map.get("icon") else { return Ok(None) };
    let ok = v.as_str().filter(|s| {
        s.len() <= 44
            && s.strip_prefix("Icon")
                .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
    });
    ok.map(|s| Some(s.to_string())).ok_or_else(|| unexpected(format!("icon must be a string matching {ICON_PATTERN}")))
}

/// `storageTarget`: one of the configured targets' paths, or absent (the pool).
fn storage_target(map: &Map<String, Value>, targets: &[StorageTarget]) -> Result<Option<StorageTarget>, ApiError> {
    let Some(v) = map.get("storageTarget") else { return Ok(None) };
    if targets.is_empty() {
        return Err(unexpected("storageTarget must be one of the configured storage targets; none is configured"));
    }
    v.as_str().and_then(|p| targets.iter().find(|t| t.path == p)).cloned().map(Some).ok_or_else(|| {
        let paths: Vec<&str> = targets.iter().map(|t| t.path.as_str()).collect();
        unexpected(format!("storageTarget must be one of the configured storage targets: {}", paths.join(", ")))
    })
}

fn text(map: &Map<String, Value>, key: &str, max: usize, blank: Blank) -> Result<Option<String>, ApiError> {
    let Some(v) = map.get(key) else { return Ok(None) };
    let Value::String(s) = v else { return Err(unexpected(format!("{key} must be a string"))) };
    match text_problem(key, s, max, blank) {
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
        alias: text(map, "alias", ALIAS_MAX_CHARS, Blank::Refused)?,
        key: key(map)?,
        storage_size: storage_size(map)?,
        comment: text(map, "comment", COMMENT_MAX_CHARS, Blank::Allowed)?,
        alert: alert(map)?,
        lan_command: boolean(map, "lanCommand")?,
        append_only_mode: boolean(map, "appendOnlyMode")?,
        icon: icon(map)?,
    })
}

/// The 2.x paths require all seven keys on add; the v1 paths three, and take 3.x's `icon` and
/// `storageTarget` too.
pub fn create<D>(body: &JsonRequest<D>, family: PathFamily, targets: &[StorageTarget]) -> Result<NewRepo, ApiError> {
    let (allowed, required): (&[&str], &[&str]) = match family {
        PathFamily::BorgWarehouse2 => (BW2_KEYS, BW2_KEYS),
        PathFamily::V1 => (V1_ADD_KEYS, &["alias", "sshPublicKey", "storageSize"]),
    };
    let map = object(body, allowed)?;
    if let Some(missing) = required.iter().find(|k| !map.contains_key(**k)) {
        return Err(unexpected(format!("{missing} is required")));
    }
    let p = patch_of(&map)?;
    let storage_target = storage_target(&map, targets)?;
    let missing = |k: &str| unexpected(format!("{k} is required"));
    Ok(NewRepo {
        alias: p.alias.ok_or_else(|| missing("alias"))?,
        key: p.key.ok_or_else(|| missing("sshPublicKey"))?,
        storage_size: p.storage_size.ok_or_else(|| missing("storageSize"))?,
        comment: p.comment.unwrap_or_default(),
        alert: p.alert.unwrap_or(0),
        lan_command: p.lan_command.unwrap_or(false),
        append_only_mode: p.append_only_mode.unwrap_or(false),
        icon: p.icon,
        storage_target,
    })
}

pub fn edit<D>(body: &JsonRequest<D>, family: PathFamily) -> Result<RepoPatch, ApiError> {
    let allowed = match family {
        PathFamily::BorgWarehouse2 => BW2_KEYS,
        PathFamily::V1 => V1_EDIT_KEYS,
    };
    let map = object(body, allowed)?;
    if map.is_empty() {
        return Err(unexpected(format!("give at least one of {}", allowed.join(", "))));
    }
    patch_of(&map)
}
