//! Tenants: a name that repositories, users and tokens may carry, and a quota, the most GB the
//! tenant's repositories may be given in sum (their `storageSize`). A tenant exists as soon as
//! something carries its name; a quota is set for it by an admin (`PUT /api/v1/tenants/NAME`).
//!
//! The repository store checks a quota under its write lock, in the same step as the create or
//! edit that would pass it, so two changes racing cannot both slip under it.

use serde::{Deserialize, Serialize};

use crate::store_error::{decode, encode, StoreError, StoreResult};
use crate::user_store::is_tenant_name;

pub const TABLE: &str = "tenants";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantRecord {
    /// The most GB the tenant's repositories may be given in sum.
    #[serde(rename = "quotaGB")]
    pub quota_gb: u64,
}

/// The quota of `tenant` in `table` (the tenants' table), if one is set.
pub(crate) fn quota_in(table: &dyn crate::backend::Table, tenant: &str) -> StoreResult<Option<u64>> {
    match table.get_raw(tenant.as_bytes())? {
        None => Ok(None),
        Some(bytes) => decode::<TenantRecord>(|| format!("tenant {tenant}"), &bytes).map(|r| Some(r.quota_gb)),
    }
}

pub struct TenantStore {
    db: crate::backend::SharedBackend,
    tree: std::sync::Arc<dyn crate::backend::Table>,
}

impl TenantStore {
    pub fn open(db: &crate::backend::SharedBackend) -> StoreResult<Self> {
        Ok(Self { db: db.clone(), tree: db.table(TABLE)? })
    }

    /// Sets `tenant`'s quota (made as it is named). The repositories it has keep their sizes
    /// even when they pass a lower quota: the next create or larger edit is refused.
    pub fn set_quota(
        &self,
        tenant: &str,
        quota_gb: u64,
        audit: Option<&crate::audit_log::AuditEntry>,
    ) -> StoreResult<()> {
        if !is_tenant_name(tenant) {
            return Err(StoreError::InvalidTenantName);
        }
        let mut batch = crate::backend::Batch::default();
        batch.insert(tenant.as_bytes(), encode(&TenantRecord { quota_gb })?);
        let mut batches = vec![(TABLE, batch)];
        crate::audit_log::add_entry(&self.db, &mut batches, audit)?;
        self.db.apply_across(batches)?;
        self.db.flush()
    }

    pub fn quota(&self, tenant: &str) -> StoreResult<Option<u64>> {
        quota_in(&*self.tree, tenant)
    }

    /// Every tenant with a quota, by name.
    pub fn quotas(&self) -> StoreResult<Vec<(String, u64)>> {
        self.tree
            .iter()
            .map(|entry| {
                let (k, v) = entry?;
                let name = String::from_utf8_lossy(&k).into_owned();
                let record: TenantRecord = decode(|| format!("tenant {name}"), &v)?;
                Ok((name, record.quota_gb))
            })
            .collect()
    }

    /// Puts back quotas from a server snapshot.
    pub fn restore(&self, quotas: &[(String, u64)]) -> StoreResult<()> {
        for (name, quota_gb) in quotas {
            self.set_quota(name, *quota_gb, None)?;
        }
        Ok(())
    }
}
