//! Tenants (admin): each with its quota, what its repositories have been given and what they
//! use; and setting a quota. A tenant exists as soon as a repository, a user or a token carries
//! its name. The quota itself is kept by the repository store, under its write lock.

use std::collections::BTreeMap;

use bw_api::auth::{Administrator, Guard};
use bw_api::body::JsonRequest;
use bw_api::body_fields::{Checked, Rule};
use bw_api::refusals::{Answer, INVALID_BODY, UNEXPECTED_DATA};
use bw_api::{ApiError, AppState};
use bw_store::user_store::is_tenant_name;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::registry::MetaSchema;
use poem_openapi::{Object, OpenApi, Tags};
use serde_json::{json, Value};

#[derive(Tags)]
enum Tag {
    /// Tenants and their quotas.
    #[oai(rename = "People, tenants and scopes (this server, v1 paths)")]
    People,
}

/// A tenant, its quota and what its repositories have.
#[derive(Object, Debug, PartialEq)]
#[oai(rename = "Tenant", rename_all = "camelCase")]
pub struct TenantInfo {
    pub name: String,
    /// The most GB its repositories may be given in sum; absent: no quota.
    #[oai(rename = "quotaGB", skip_serializing_if_is_none)]
    pub quota_gb: Option<u64>,
    /// The sum of its repositories' `storageSize` (GB).
    #[oai(rename = "allottedGB")]
    pub allotted_gb: u64,
    /// The sum of its repositories' `storageUsed` (KiB, as `storageUsed` counts).
    pub used_ki_b: u64,
    /// How many repositories it has.
    pub repositories: u64,
    /// How many users are bound to it.
    pub users: u64,
}

/// A tenant's quota.
#[derive(Object)]
#[oai(rename = "TenantQuota", deny_unknown_fields)]
pub struct TenantQuota {
    #[oai(rename = "quotaGB")]
    pub quota_gb: Checked<QuotaGb>,
}

/// The largest quota, in GB (an exabyte).
const MAX_QUOTA: u64 = 1_000_000_000;

/// `quotaGB`: a whole number of GB, 1 to an exabyte.
pub struct QuotaGb;

impl Rule for QuotaGb {
    const KEY: &'static str = "quotaGB";
    type Value = u64;

    fn schema() -> MetaSchema {
        MetaSchema {
            minimum: Some(1.0),
            maximum: Some(MAX_QUOTA as f64),
            ..MetaSchema::new_with_format("integer", "int64")
        }
    }

    fn parse(value: &Value) -> Result<u64, String> {
        value
            .as_u64()
            .filter(|q| (1..=MAX_QUOTA).contains(q))
            .ok_or_else(|| format!("quotaGB must be a whole number of GB from 1 to {MAX_QUOTA}"))
    }

    fn to_json(value: &u64) -> Value {
        json!(value)
    }
}

/// Every tenant something carries the name of, with its figures.
fn tenants(state: &AppState) -> Result<Vec<TenantInfo>, ApiError> {
    let mut all: BTreeMap<String, TenantInfo> = BTreeMap::new();
    let blank = |name: &str| TenantInfo {
        name: name.to_string(),
        quota_gb: None,
        allotted_gb: 0,
        used_ki_b: 0,
        repositories: 0,
        users: 0,
    };
    for (name, quota) in state.tenants.quotas()? {
        all.entry(name.clone()).or_insert_with(|| blank(&name)).quota_gb = Some(quota);
    }
    state.repos.summaries(0, |s| {
        if let Some(t) = s.tenant {
            let entry = all.entry(t.to_string()).or_insert_with(|| blank(t));
            entry.allotted_gb += s.storage_size;
            entry.used_ki_b += s.storage_used;
            entry.repositories += 1;
        }
    });
    for user in state.users.list()? {
        if let Some(t) = user.tenant {
            all.entry(t.clone()).or_insert_with(|| blank(&t)).users += 1;
        }
    }
    Ok(all.into_values().collect())
}

pub struct TenantsApi;

#[OpenApi]
impl TenantsApi {
    /// List tenants with their quotas, what their repositories have been given and use (admin)
    #[oai(path = "/api/v1/tenants", method = "get", tag = "Tag::People", operation_id = "listTenants")]
    async fn list(&self, state: Data<&AppState>, _caller: Guard<Administrator>) -> Answer<Json<Vec<TenantInfo>>, 0> {
        Ok(Json(tenants(&state)?))
    }

    /// Set a tenant's quota: the most GB its repositories may be given in sum (admin)
    #[oai(path = "/api/v1/tenants/:name", method = "put", tag = "Tag::People", operation_id = "setTenantQuota")]
    async fn set_quota(
        &self,
        state: Data<&AppState>,
        caller: Guard<Administrator>,
        name: Path<String>,
        body: JsonRequest<TenantQuota>,
    ) -> Answer<Json<TenantInfo>, { INVALID_BODY | UNEXPECTED_DATA }> {
        if !is_tenant_name(&name) {
            return Err(ApiError::UnexpectedData(
                "the tenant name must be 1 to 64 letters, digits, '_', '-' or '.'".into(),
            )
            .into());
        }
        let quota = body.fields()?.parse()?.quota_gb.into_inner();
        let audit = caller.audit(state.clock.now(), "tenant.quota", &name, serde_json::json!({"quotaGB": quota}));
        state.tenants.set_quota(&name, quota, Some(&audit))?;
        tracing::info!(target: "audit", actor = %caller.principal.actor(), tenant = %name.0, quota_gb = quota, "tenant quota set");
        let shown = tenants(&state)?.into_iter().find(|t| t.name == name.0).ok_or(ApiError::Internal)?;
        Ok(Json(shown))
    }
}

/// Unknown keys are refused in the quota's body, and a tenant's name in the path follows the
/// name rule: the document says both.
fn finish_document(doc: &mut serde_json::Value) {
    if let Some(schema) = doc.pointer_mut("/components/schemas/TenantQuota") {
        schema["additionalProperties"] = json!(false);
    }
    if let Some(params) =
        doc.pointer_mut("/paths/~1api~1v1~1tenants~1{name}/put/parameters").and_then(|p| p.as_array_mut())
    {
        for p in params.iter_mut().filter(|p| p["name"] == "name") {
            p["schema"] = json!({"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"});
        }
    }
}

bw_api::endpoint_plugin!("tenants", TenantsApi, TenantsApi, document = finish_document);
