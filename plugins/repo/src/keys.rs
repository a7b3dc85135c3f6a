//! A repository's keys (the contract's "Keys and sessions"): list, add, change the mode or name
//! of, and remove one. Each key is its own `authorized_keys` line (or key file in command mode);
//! a change takes effect at the client's next login.

use bw_api::auth::{Guard, Read, Update};
use bw_api::body::{JsonRequest, Message};
use bw_api::body_fields::{Checked, Given};
use bw_api::refusals::{Answer, CONFLICT, DISABLED, INVALID_BODY, NOT_FOUND, UNEXPECTED_DATA};
use bw_api::{ApiError, AppState};
use bw_store::repo_store::{AccessKey, KeyMode, KeyPatch, NewKey};
use bw_store::store_error::StoreError;
use poem::web::Data;
// Named `Path`: poem-openapi finds path parameters by that type name.
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde::Serialize;

use crate::fields::{KeyName, Mode, SshPublicKey};
use crate::path_repo::{PathRepo, Refused};
use crate::tag::Tag;

/// One key of a repository.
#[derive(Object, Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[oai(rename = "Key", rename_all = "camelCase")]
pub struct KeyObject {
    /// The first 16 lowercase hex characters of the SHA-256 of the key blob.
    pub id: String,
    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    pub ssh_public_key: String,
    /// `full` or `append-only`.
    pub mode: String,
    /// Free text; may be empty.
    pub name: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds of the last session with this key; 0 while it has never been used.
    pub last_used_at: i64,
}

impl From<&AccessKey> for KeyObject {
    fn from(k: &AccessKey) -> Self {
        KeyObject {
            id: k.id(),
            fingerprint: k.fingerprint(),
            ssh_public_key: k.ssh_public_key.clone(),
            mode: if k.mode.is_append_only() { "append-only" } else { "full" }.to_string(),
            name: k.name.clone(),
            created_at: k.created_at,
            last_used_at: k.last_used_at,
        }
    }
}

/// A repository's keys, oldest first.
#[derive(Object)]
#[oai(rename = "KeyList")]
pub struct KeyList {
    pub keys: Vec<KeyObject>,
}

/// One key.
#[derive(Object)]
#[oai(rename = "KeyOne")]
pub struct KeyOne {
    pub key: KeyObject,
}

/// Body of the add-key route: `sshPublicKey` required.
#[derive(Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyCreate {
    /// One OpenSSH public key, under the create route's rules; used by no other repository.
    pub ssh_public_key: Checked<SshPublicKey>,
    /// `full` (default) or `append-only`.
    pub mode: Given<Checked<Mode>>,
    /// Free text under the alias rules; may be empty (default "").
    pub name: Given<Checked<KeyName>>,
}

/// Body of the key edit route: one key at least.
#[derive(Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyEdit {
    pub mode: Given<Checked<Mode>>,
    pub name: Given<Checked<KeyName>>,
}

fn path_repo(name: &str, caller: &bw_api::auth::Principal) -> PathRepo {
    PathRepo::name(name, caller)
}

/// The store's refusal, in the words of the key routes.
fn refused(path: &PathRepo, name: &str, e: StoreError) -> ApiError {
    match e {
        StoreError::KeyNotFound => ApiError::NotFound(format!("Key ID not found in repository {name}")),
        other => path.answer(other),
    }
}

pub struct KeysApi;

#[OpenApi]
impl KeysApi {
    /// The keys of a repository, oldest first
    #[oai(
        path = "/api/v1/repositories/:repositoryName/keys",
        method = "get",
        tag = "Tag::Keys",
        operation_id = "listRepositoryKeys"
    )]
    async fn list(
        &self,
        state: Data<&AppState>,
        caller: Guard<Read>,
        #[oai(name = "repositoryName")] name: Path<String>,
    ) -> Answer<Json<KeyList>, NOT_FOUND> {
        let repo = path_repo(&name, &caller.principal).get(&state)?;
        Ok(Json(KeyList { keys: repo.keys.iter().map(KeyObject::from).collect() }))
    }

    /// Add a key to a repository
    #[oai(
        path = "/api/v1/repositories/:repositoryName/keys",
        method = "post",
        tag = "Tag::Keys",
        operation_id = "addRepositoryKey"
    )]
    async fn add(
        &self,
        state: Data<&AppState>,
        caller: Guard<Update>,
        #[oai(name = "repositoryName")] name: Path<String>,
        body: JsonRequest<KeyCreate>,
    ) -> Answer<Json<KeyOne>, { INVALID_BODY | DISABLED | NOT_FOUND | CONFLICT | UNEXPECTED_DATA }> {
        let path = path_repo(&name, &caller.principal);
        let make = || {
            let b = body.fields()?.parse()?;
            Ok(NewKey {
                key: b.ssh_public_key.into_inner(),
                mode: b.mode.value().unwrap_or(KeyMode::Full),
                name: b.name.value().unwrap_or_default(),
            })
        };
        let audit = caller.audit(state.clock.now(), "key.add", &name, body.sent_fields());
        let added = state
            .repos
            .add_key_with(path.key(&state)?, || make().map_err(Refused::Body), Some(audit))
            .await
            .map_err(|e| e.answer(|e| refused(&path, &name, e)))?;
        tracing::info!(repository = %name.0, key = %added.id(), mode = ?added.mode, "key added");
        Ok(Json(KeyOne { key: KeyObject::from(&added) }))
    }

    /// Change the mode or name of a key
    #[oai(
        path = "/api/v1/repositories/:repositoryName/keys/:id",
        method = "patch",
        tag = "Tag::Keys",
        operation_id = "updateRepositoryKey"
    )]
    async fn edit(
        &self,
        state: Data<&AppState>,
        caller: Guard<Update>,
        #[oai(name = "repositoryName")] name: Path<String>,
        id: Path<String>,
        body: JsonRequest<KeyEdit>,
    ) -> Answer<Json<KeyOne>, { INVALID_BODY | DISABLED | NOT_FOUND | UNEXPECTED_DATA }> {
        let path = path_repo(&name, &caller.principal);
        let make = || {
            let fields = body.fields()?;
            if fields.is_empty() {
                return Err(ApiError::UnexpectedData(format!("give at least one of {}", fields.keys())));
            }
            let b = fields.parse()?;
            Ok(KeyPatch { mode: b.mode.value(), name: b.name.value() })
        };
        let mut changes = body.sent_fields();
        changes["keyId"] = serde_json::json!(id.0);
        let audit = caller.audit(state.clock.now(), "key.edit", &name, changes);
        let changed = state
            .repos
            .update_key_with(path.key(&state)?, &id, || make().map_err(Refused::Body), Some(audit))
            .await
            .map_err(|e| e.answer(|e| refused(&path, &name, e)))?;
        tracing::info!(repository = %name.0, key = %id.0, mode = ?changed.mode, "key changed");
        Ok(Json(KeyOne { key: KeyObject::from(&changed) }))
    }

    /// Remove a key from a repository
    #[oai(
        path = "/api/v1/repositories/:repositoryName/keys/:id",
        method = "delete",
        tag = "Tag::Keys",
        operation_id = "removeRepositoryKey"
    )]
    async fn remove(
        &self,
        state: Data<&AppState>,
        caller: Guard<Update>,
        #[oai(name = "repositoryName")] name: Path<String>,
        id: Path<String>,
    ) -> Answer<Json<Message>, { DISABLED | NOT_FOUND | CONFLICT }> {
        let path = path_repo(&name, &caller.principal);
        let audit = caller.audit(state.clock.now(), "key.remove", &name, serde_json::json!({"keyId": id.0}));
        state.repos.remove_key(path.key(&state)?, &id, Some(audit)).await.map_err(|e| refused(&path, &name, e))?;
        tracing::info!(repository = %name.0, key = %id.0, "key removed");
        Ok(Json(Message { message: "Key removed".into() }))
    }
}
