//! The contract's Validation section, for what a body's own rules ([`crate::fields`]) cannot
//! say: which body becomes which create or edit, defaults, an edit's one key at least, and the
//! storage target against the settings. Each refusal is a 422 naming the field (400 for a body
//! that is not a JSON object).

use bw_api::body::JsonRequest;
use bw_api::body_fields::Fields;
use bw_api::ApiError;
use bw_host::storage_target::StorageTarget;
use bw_store::repo_store::{NewRepo, RepoPatch};
use poem_openapi::types::ParseFromJSON;

use crate::schema::{RepoCreate, RepoCreateV1, RepoEdit, RepoEditV1};

fn unexpected(detail: impl Into<String>) -> ApiError {
    ApiError::UnexpectedData(detail.into())
}

/// `storageTarget`: one of the configured targets' paths, or absent (the pool). `Some(None)`:
/// given, but not a string.
fn storage_target(given: Option<Option<String>>, targets: &[StorageTarget]) -> Result<Option<StorageTarget>, ApiError> {
    let Some(path) = given else { return Ok(None) };
    if targets.is_empty() {
        return Err(unexpected("storageTarget must be one of the configured storage targets; none is configured"));
    }
    path.and_then(|p| targets.iter().find(|t| t.path == p)).cloned().map(Some).ok_or_else(|| {
        let paths: Vec<&str> = targets.iter().map(|t| t.path.as_str()).collect();
        unexpected(format!("storageTarget must be one of the configured storage targets: {}", paths.join(", ")))
    })
}

/// The 2.x paths' create: all seven keys, required by the body itself.
pub fn create(body: &JsonRequest<RepoCreate>) -> Result<NewRepo, ApiError> {
    let b = body.fields()?.parse()?;
    Ok(NewRepo {
        alias: b.alias.into_inner(),
        key: b.ssh_public_key.into_inner(),
        storage_size: b.storage_size.into_inner(),
        comment: b.comment.into_inner(),
        alert: b.alert.into_inner(),
        lan_command: b.lan_command.into_inner(),
        append_only_mode: b.append_only_mode.into_inner(),
        icon: None,
        storage_target: None,
        tenant: None,
    })
}

/// The v1 paths' create: three keys required, the rest with their defaults, and 3.x's `icon`
/// and `storageTarget`.
pub fn create_v1(body: &JsonRequest<RepoCreateV1>, targets: &[StorageTarget]) -> Result<NewRepo, ApiError> {
    let b = body.fields()?.parse()?;
    Ok(NewRepo {
        alias: b.alias.into_inner(),
        key: b.ssh_public_key.into_inner(),
        storage_size: b.storage_size.into_inner(),
        comment: b.comment.value().unwrap_or_default(),
        alert: b.alert.value().unwrap_or(0),
        lan_command: b.lan_command.value().unwrap_or(false),
        append_only_mode: b.append_only_mode.value().unwrap_or(false),
        icon: b.icon.value(),
        storage_target: storage_target(b.storage_target.value(), targets)?,
        tenant: b.tenant.value(),
    })
}

/// A body that becomes an edit.
pub trait EditBody: ParseFromJSON {
    fn into_patch(self) -> RepoPatch;
}

impl EditBody for RepoEdit {
    fn into_patch(self) -> RepoPatch {
        RepoPatch {
            alias: self.alias.value(),
            key: self.ssh_public_key.value(),
            storage_size: self.storage_size.value(),
            comment: self.comment.value(),
            alert: self.alert.value(),
            lan_command: self.lan_command.value(),
            append_only_mode: self.append_only_mode.value(),
            icon: None,
        }
    }
}

impl EditBody for RepoEditV1 {
    fn into_patch(self) -> RepoPatch {
        RepoPatch { icon: self.icon.value(), ..self.bw2.into_patch() }
    }
}

/// An edit: one key at least, each as its rule reads it.
pub fn edit<D: EditBody>(body: &JsonRequest<D>) -> Result<RepoPatch, ApiError> {
    let fields: Fields<D> = body.fields()?;
    if fields.is_empty() {
        return Err(unexpected(format!("give at least one of {}", fields.keys())));
    }
    Ok(fields.parse()?.into_patch())
}
