//! Moving people over from BorgWarehouse: its `users.json` (2.x and 3.x) taken in with the
//! bcrypt hashes it keeps, each checked once at its owner's next sign-in and replaced there by
//! argon2id.

use std::collections::HashSet;

use serde::Deserialize;

use super::{hash_password_any_length, is_email, Role, User, UserRecord, UserStore, USERS};
use crate::audit_log::{add_entry, AuditEntry};
use crate::backend::Batch;
use crate::store_error::{encode, StoreError, StoreResult};

/// A bcrypt hash (`$2a$`, `$2b$`, `$2y$`), as BorgWarehouse keeps passwords: taken in by an
/// import, checked at the user's next sign-in, and replaced there by an argon2id hash.
pub(super) fn is_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p))
}

/// What a BorgWarehouse users import did (or, dry, would do).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct UserImportReport {
    pub added: Vec<String>,
    /// Name and why.
    pub skipped: Vec<(String, String)>,
}

impl UserStore {
    /// A user imported from BorgWarehouse with its bcrypt hash: checked once, and on success the
    /// hash is replaced by argon2id (unless the password changed meanwhile).
    pub(super) fn verify_bcrypt(&self, record: &UserRecord, password: &str) -> StoreResult<Option<User>> {
        if !bcrypt::verify(password, &record.password_hash).unwrap_or(false) {
            return Ok(None);
        }
        let argon = hash_password_any_length(password)?;
        let _held = self.lock()?;
        if let Some(mut now) = self.record(&record.user.name)? {
            if now.password_hash == record.password_hash {
                now.password_hash = argon;
                self.write(&now.user.name, Some(&now), None)?;
                tracing::info!(user = %now.user.name, "an imported bcrypt password is now kept with argon2id");
            }
        }
        Ok(Some(record.user.clone()))
    }

    /// Takes in BorgWarehouse's users (`config/users.json` of 2.x and 3.x): names, emails and
    /// bcrypt password hashes that keep working (re-hashed with argon2id at each one's next
    /// sign-in). BorgWarehouse's users are all admins. A name or email that exists here is
    /// skipped and said; a malformed entry refuses the whole file and changes nothing.
    pub fn import_borgwarehouse(
        &self,
        users: &[serde_json::Value],
        dry_run: bool,
        now: i64,
        audit: Option<&AuditEntry>,
    ) -> StoreResult<UserImportReport> {
        #[derive(Deserialize)]
        struct BorgWarehouseUser {
            username: String,
            #[serde(default)]
            email: Option<String>,
            password: String,
        }
        let mut parsed = Vec::new();
        let mut problems = Vec::new();
        for (i, value) in users.iter().enumerate() {
            match BorgWarehouseUser::deserialize(value) {
                Ok(u)
                    if u.username.is_empty()
                        || u.username.contains(':')
                        || u.username.chars().any(char::is_control) =>
                {
                    problems.push(format!("user {i}: the name {:?} cannot sign in with HTTP Basic", u.username))
                }
                Ok(u) if !is_bcrypt(&u.password) => {
                    problems.push(format!("user {i} ({}): the password is not a bcrypt hash", u.username))
                }
                Ok(u) => parsed.push(u),
                Err(e) => problems.push(format!("user {i}: {e}")),
            }
        }
        if !problems.is_empty() {
            return Err(StoreError::ImportRefused { file: "users.json", problems });
        }
        let _held = self.lock()?;
        let mut report = UserImportReport::default();
        let mut batch = Batch::default();
        let mut emails: HashSet<String> =
            self.list()?.into_iter().filter_map(|u| u.email).map(|e| e.to_lowercase()).collect();
        for u in parsed {
            let email = u.email.filter(|e| is_email(e));
            if self.tree.contains_key(u.username.as_bytes())? || report.added.contains(&u.username) {
                report.skipped.push((u.username, "a user of that name exists here".into()));
                continue;
            }
            if email.as_ref().is_some_and(|e| !emails.insert(e.to_lowercase())) {
                report.skipped.push((u.username, "another user has that email".into()));
                continue;
            }
            let user = User { name: u.username.clone(), role: Role::Admin, email, tenant: None, created_at: now };
            batch.insert(u.username.as_bytes(), encode(&UserRecord { user, password_hash: u.password })?);
            report.added.push(u.username);
        }
        if !dry_run && !report.added.is_empty() {
            let mut batches = vec![(USERS, batch)];
            add_entry(&self.db, &mut batches, audit)?;
            self.db.apply_across(batches)?;
            self.db.flush()?;
        }
        Ok(report)
    }
}
