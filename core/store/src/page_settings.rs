//! Settings an admin changed in the page (the alert channels and their mail server): per
//! settings group, the keys the page set, each overriding what the environment or the file
//! says. A key the page never set, or gave back, is the configuration's. Values are the
//! group's own JSON (`null` is "none": a channel turned off in the page); the plugin that owns
//! the group checks them before they are written, and again when it reads them.
//!
//! A secret set here (an SMTP password, a webhook secret) is kept as the configuration keeps
//! it, in the data folder (mode 0700, the borg user's); the routes never answer it back.

use std::collections::BTreeMap;

use crate::store_error::{decode, encode, StoreResult};

pub const TABLE: &str = "page_settings";

/// One group's keys set in the page, and their values.
pub type Overrides = serde_json::Map<String, serde_json::Value>;

pub struct PageSettings {
    db: crate::backend::SharedBackend,
    tree: std::sync::Arc<dyn crate::backend::Table>,
}

impl PageSettings {
    pub fn open(db: &crate::backend::SharedBackend) -> StoreResult<Self> {
        Ok(Self { db: db.clone(), tree: db.table(TABLE)? })
    }

    /// The keys of `group` the page set (none: an empty map).
    pub fn get(&self, group: &str) -> StoreResult<Overrides> {
        match self.tree.get_raw(group.as_bytes())? {
            None => Ok(Overrides::new()),
            Some(bytes) => decode(|| format!("page settings {group}"), &bytes),
        }
    }

    /// Replaces what the page set in each group given, with `audit` in the same write.
    pub fn set(&self, groups: &[(&str, &Overrides)], audit: Option<&crate::audit_log::AuditEntry>) -> StoreResult<()> {
        let mut batch = crate::backend::Batch::default();
        for (group, overrides) in groups {
            if overrides.is_empty() {
                batch.remove(group.as_bytes());
            } else {
                batch.insert(group.as_bytes(), encode(overrides)?);
            }
        }
        let mut batches = vec![(TABLE, batch)];
        crate::audit_log::add_entry(&self.db, &mut batches, audit)?;
        self.db.apply_across(batches)?;
        self.db.flush()
    }

    /// Every group's, for a snapshot.
    pub fn all(&self) -> StoreResult<BTreeMap<String, Overrides>> {
        self.tree
            .iter()
            .map(|entry| {
                let (k, v) = entry?;
                let group = String::from_utf8_lossy(&k).into_owned();
                let overrides = decode(|| format!("page settings {group}"), &v)?;
                Ok((group, overrides))
            })
            .collect()
    }

    /// Puts back a snapshot's.
    pub fn restore(&self, all: &BTreeMap<String, Overrides>) -> StoreResult<()> {
        let groups: Vec<(&str, &Overrides)> = all.iter().map(|(g, o)| (g.as_str(), o)).collect();
        self.set(&groups, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_kept_replaced_and_given_back() {
        let db = crate::backend::temporary_sled();
        let store = PageSettings::open(&db).unwrap();
        assert!(store.get("channels").unwrap().is_empty());
        let mut channels = Overrides::new();
        channels.insert("webhook_url".into(), serde_json::json!("https://hooks.example.org/bw"));
        channels.insert("alert_email".into(), serde_json::Value::Null);
        store.set(&[("channels", &channels)], None).unwrap();
        assert_eq!(store.get("channels").unwrap(), channels);
        assert_eq!(store.all().unwrap().len(), 1);
        store.set(&[("channels", &Overrides::new())], None).unwrap();
        assert!(store.get("channels").unwrap().is_empty() && store.all().unwrap().is_empty());
    }
}
