//! People who sign in: users, each with a role, an optional email and tenant, and an argon2id
//! hash of a password (there is no default one). The administrator account of 0.2 is the first
//! `admin` user (taken over once, at the first open of a format-2 store).
//!
//! The last admin can be neither removed nor demoted: a host with no admin could never get one
//! back through the API. A changed password, role, tenant or a removal ends the user's sign-ins.

use std::collections::HashSet;
use std::sync::Mutex;

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

mod import;
mod names;
#[cfg(test)]
mod tests;

use crate::audit_log::{add_entry, AuditEntry};
use crate::backend::Batch;
use crate::sign_ins::SignIns;
use crate::store_error::{decode, encode, SnapshotProblem, StoreError, StoreResult};
use crate::token_store::Permission;
use import::is_bcrypt;
pub use import::UserImportReport;
pub use names::{is_email, is_tenant_name, is_user_name};

/// The shortest password a user may have, in characters.
pub const MIN_PASSWORD: usize = 12;
/// The table of users (its name is also what other servers hear of a change).
pub const USERS: &str = "users";
/// Where 0.2 kept its one administrator account.
const LEGACY_ADMIN: &str = "admin";
const LEGACY_ACCOUNT: &[u8] = b"account";

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, users and tenants included.
    Admin,
    /// Repositories, keys, checks, verify, compact, break-lock, and its own tokens; no users.
    Operator,
    /// Reads only.
    Viewer,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Operator, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// Whether the role holds a repository permission.
    pub fn allows(self, p: Permission) -> bool {
        match self {
            Role::Admin | Role::Operator => true,
            Role::Viewer => p == Permission::Read,
        }
    }
}

/// A user as the API shows it: never the hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub name: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The tenant the user is bound to; `None`: the host's own (sees every repository).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Unix seconds; 0 for the administrator account taken over from 0.2.
    #[serde(default)]
    pub created_at: i64,
}

/// A user with its password hash: the stored record, and a snapshot's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRecord {
    #[serde(flatten)]
    pub user: User,
    /// The PHC string of the password's argon2id hash.
    pub password_hash: String,
}

/// A new user.
pub struct NewUser<'a> {
    pub name: &'a str,
    pub role: Role,
    pub email: Option<&'a str>,
    pub tenant: Option<&'a str>,
    pub password: &'a str,
}

/// A change to a user; `None` leaves a field as it is, `Some(None)` clears an optional one.
#[derive(Default)]
pub struct UserChange<'a> {
    pub role: Option<Role>,
    pub email: Option<Option<&'a str>>,
    pub tenant: Option<Option<&'a str>>,
    pub password: Option<&'a str>,
}

fn hash_password(password: &str) -> StoreResult<String> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(StoreError::PasswordTooShort { min: MIN_PASSWORD });
    }
    hash_password_any_length(password)
}

/// The argon2id hash of a password already in use (an imported one may be shorter than the rule
/// for new ones: it keeps working until its owner changes it).
pub(super) fn hash_password_any_length(password: &str) -> StoreResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| StoreError::corrupt("password hash", e))?
        .to_string())
}

/// A hash no password matches in practice, checked for an unknown name so that the time of a
/// refusal does not tell which names exist.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        let random = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, rand::random::<[u8; 32]>());
        Argon2::default().hash_password(random.as_bytes(), &salt).map(|h| h.to_string()).unwrap_or_default()
    })
}

pub struct UserStore {
    db: crate::backend::SharedBackend,
    tree: std::sync::Arc<dyn crate::backend::Table>,
    /// SHA-256 of credentials already verified against the current hash, so an automation
    /// that authenticates on every call pays argon2 once, not per request.
    verified: Mutex<HashSet<[u8; 32]>>,
    /// Sign-ins from a page; a new password, role or tenant ends the user's.
    pub sign_ins: SignIns,
    /// Serialises the changes that must see every admin (the last admin rule).
    write: Mutex<()>,
}

impl UserStore {
    pub fn open(db: &crate::backend::SharedBackend) -> StoreResult<Self> {
        let store = Self {
            db: db.clone(),
            tree: db.table(USERS)?,
            verified: Mutex::new(HashSet::new()),
            sign_ins: SignIns::open(db)?,
            write: Mutex::new(()),
        };
        store.take_over_the_administrator()?;
        Ok(store)
    }

    /// A 0.2 store's administrator account becomes the first admin user, with the same name and
    /// hash (the password keeps working), and its live sign-ins become that user's, in one
    /// transaction with the old account's removal.
    fn take_over_the_administrator(&self) -> StoreResult<()> {
        let legacy = self.db.table(LEGACY_ADMIN)?;
        let Some(bytes) = legacy.get(LEGACY_ACCOUNT)? else { return Ok(()) };
        #[derive(Deserialize)]
        struct Account {
            user: String,
            phc: String,
        }
        let account: Account = decode(|| "administrator account".into(), &bytes)?;
        let mut users = crate::backend::Batch::default();
        if self.tree.is_empty() {
            let user = User { name: account.user.clone(), role: Role::Admin, email: None, tenant: None, created_at: 0 };
            users.insert(account.user.as_bytes(), encode(&UserRecord { user, password_hash: account.phc })?);
        }
        let mut old = crate::backend::Batch::default();
        old.remove(LEGACY_ACCOUNT);
        let sign_ins = self.sign_ins.owned_by(&account.user)?;
        self.db.apply_across(vec![(USERS, users), (LEGACY_ADMIN, old), (crate::sign_ins::TABLE, sign_ins)])?;
        self.db.flush()?;
        tracing::info!(user = %account.user, "the administrator account is now the first admin user");
        Ok(())
    }

    fn record(&self, name: &str) -> StoreResult<Option<UserRecord>> {
        match self.tree.get(name.as_bytes())? {
            None => Ok(None),
            Some(bytes) => decode(|| format!("user {name}"), &bytes).map(Some),
        }
    }

    fn records(&self) -> StoreResult<Vec<UserRecord>> {
        self.tree.iter().values().map(|v| decode(|| "a user".into(), &v?)).collect()
    }

    /// Whether any user exists (before the first, `POST /api/v1/setup` may make one).
    pub fn exists(&self) -> StoreResult<bool> {
        Ok(!self.tree.is_empty())
    }

    pub fn get(&self, name: &str) -> StoreResult<Option<User>> {
        Ok(self.record(name)?.map(|r| r.user))
    }

    /// Every user, by name.
    pub fn list(&self) -> StoreResult<Vec<User>> {
        Ok(self.records()?.into_iter().map(|r| r.user).collect())
    }

    /// The user with `email` (compared without case), for a provider's verified email.
    pub fn by_email(&self, email: &str) -> StoreResult<Option<User>> {
        Ok(self.list()?.into_iter().find(|u| u.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(email))))
    }

    fn admins(&self) -> StoreResult<usize> {
        Ok(self.records()?.iter().filter(|r| r.user.role == Role::Admin).count())
    }

    /// This server's lock of user changes, and with several servers on one database the
    /// database's: two servers demoting the last two admins at once would leave none.
    fn lock(&self) -> StoreResult<(Option<crate::backend::Hold>, std::sync::MutexGuard<'_, ()>)> {
        let local = self.write.lock().unwrap_or_else(|p| p.into_inner());
        Ok((self.db.hold_exclusive("users")?, local))
    }

    fn check_fields(email: Option<&str>, tenant: Option<&str>) -> StoreResult<()> {
        if email.is_some_and(|e| !is_email(e)) {
            return Err(StoreError::InvalidEmail);
        }
        if tenant.is_some_and(|t| !is_tenant_name(t)) {
            return Err(StoreError::InvalidTenantName);
        }
        Ok(())
    }

    /// Writes `name`'s record (or removes it: `None`) with `audit`'s entry, in one transaction.
    fn write(&self, name: &str, record: Option<&UserRecord>, audit: Option<&AuditEntry>) -> StoreResult<()> {
        let mut batch = Batch::default();
        match record {
            Some(r) => batch.insert(name.as_bytes(), encode(r)?),
            None => batch.remove(name.as_bytes()),
        }
        let mut batches = vec![(USERS, batch)];
        add_entry(&self.db, &mut batches, audit)?;
        self.db.apply_across(batches)?;
        self.db.flush()
    }

    /// Adds a user. Blocking (argon2).
    pub fn add(&self, new: NewUser<'_>, now: i64, audit: Option<&AuditEntry>) -> StoreResult<User> {
        self.insert_new(new, now, false, audit)
    }

    /// The first admin, only while there is no user at all (`POST /api/v1/setup`): of two
    /// callers racing, one gets the admin and the other `UserExists`.
    pub fn add_first(
        &self,
        name: &str,
        email: Option<&str>,
        password: &str,
        now: i64,
        audit: Option<&AuditEntry>,
    ) -> StoreResult<User> {
        self.insert_new(NewUser { name, role: Role::Admin, email, tenant: None, password }, now, true, audit)
    }

    fn insert_new(
        &self,
        new: NewUser<'_>,
        now: i64,
        only_first: bool,
        audit: Option<&AuditEntry>,
    ) -> StoreResult<User> {
        if !is_user_name(new.name) {
            return Err(StoreError::InvalidUserName);
        }
        Self::check_fields(new.email, new.tenant)?;
        if new.role == Role::Admin && new.tenant.is_some() {
            return Err(StoreError::TenantAdmin);
        }
        let password_hash = hash_password(new.password)?;
        let user = User {
            name: new.name.to_string(),
            role: new.role,
            email: new.email.map(str::to_string),
            tenant: new.tenant.map(str::to_string),
            created_at: now,
        };
        let _held = self.lock()?;
        if only_first && self.exists()? {
            return Err(StoreError::UserExists);
        }
        if self.email_taken(new.email, new.name)? {
            return Err(StoreError::EmailInUse);
        }
        // Every writer of users holds the lock: nobody adds this name between the look and the write.
        if self.tree.contains_key(new.name.as_bytes())? {
            return Err(StoreError::UserExists);
        }
        self.write(new.name, Some(&UserRecord { user: user.clone(), password_hash }), audit)?;
        Ok(user)
    }

    fn email_taken(&self, email: Option<&str>, except: &str) -> StoreResult<bool> {
        let Some(email) = email else { return Ok(false) };
        Ok(self.by_email(email)?.is_some_and(|u| u.name != except))
    }

    /// Changes a user. Blocking when the password changes (argon2). Demoting the last admin is
    /// refused (`LastAdmin`).
    pub fn change(&self, name: &str, change: UserChange<'_>, audit: Option<&AuditEntry>) -> StoreResult<User> {
        let password_hash = change.password.map(hash_password).transpose()?;
        Self::check_fields(change.email.flatten(), change.tenant.flatten())?;
        let _held = self.lock()?;
        let mut record = self.record(name)?.ok_or(StoreError::NotFound)?;
        let before = record.user.clone();
        if let Some(role) = change.role {
            if record.user.role == Role::Admin && role != Role::Admin && self.admins()? <= 1 {
                return Err(StoreError::LastAdmin);
            }
            record.user.role = role;
        }
        if let Some(email) = change.email {
            if self.email_taken(email, name)? {
                return Err(StoreError::EmailInUse);
            }
            record.user.email = email.map(str::to_string);
        }
        if let Some(tenant) = change.tenant {
            record.user.tenant = tenant.map(str::to_string);
        }
        if record.user.role == Role::Admin && record.user.tenant.is_some() {
            return Err(StoreError::TenantAdmin);
        }
        let password_changed = password_hash.is_some();
        if let Some(hash) = password_hash {
            record.password_hash = hash;
        }
        self.write(name, Some(&record), audit)?;
        let rights_changed = before.role != record.user.role || before.tenant != record.user.tenant;
        if password_changed || rights_changed {
            self.forget_verified();
            self.sign_ins.end_all_of(name)?;
        }
        Ok(record.user)
    }

    /// Removes a user and ends its sign-ins. The last admin is kept (`LastAdmin`).
    pub fn remove(&self, name: &str, audit: Option<&AuditEntry>) -> StoreResult<User> {
        let _held = self.lock()?;
        let record = self.record(name)?.ok_or(StoreError::NotFound)?;
        if record.user.role == Role::Admin && self.admins()? <= 1 {
            return Err(StoreError::LastAdmin);
        }
        self.write(name, None, audit)?;
        self.forget_verified();
        self.sign_ins.end_all_of(name)?;
        Ok(record.user)
    }

    /// Sets a user's password, making the user an admin when there is no such user (the
    /// administrator's `admin set-password` and `BW_ADMIN_PASSWORD`, as in 0.2). Blocking.
    pub fn set_password(&self, name: &str, password: &str, now: i64, audit: Option<&AuditEntry>) -> StoreResult<()> {
        if name.is_empty() || name.contains(':') || name.chars().any(char::is_control) {
            return Err(StoreError::InvalidUserName);
        }
        let password_hash = hash_password(password)?;
        let _held = self.lock()?;
        let record = match self.record(name)? {
            Some(mut r) => {
                r.password_hash = password_hash;
                r
            }
            None => UserRecord {
                user: User { name: name.to_string(), role: Role::Admin, email: None, tenant: None, created_at: now },
                password_hash,
            },
        };
        self.write(name, Some(&record), audit)?;
        self.forget_verified();
        self.sign_ins.end_all_of(name)
    }

    fn forget_verified(&self) {
        self.verified.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// The digest that stands for `name` and `password` checked against the user's hash.
    fn fingerprint(record: &UserRecord, name: &str, password: &str) -> [u8; 32] {
        Sha256::new()
            .chain_update(record.password_hash.as_bytes())
            .chain_update([0])
            .chain_update(name.as_bytes())
            .chain_update([0])
            .chain_update(password.as_bytes())
            .finalize()
            .into()
    }

    /// The user, when these credentials were verified against the current hash before: a
    /// digest, no argon2, so it may run on the async threads.
    pub fn verified_before(&self, name: &str, password: &str) -> StoreResult<Option<User>> {
        let Some(record) = self.record(name)? else { return Ok(None) };
        let fingerprint = Self::fingerprint(&record, name, password);
        let known = self.verified.lock().unwrap_or_else(|p| p.into_inner()).contains(&fingerprint);
        Ok(known.then_some(record.user))
    }

    /// Checks a name and password: the user, or `None`. Blocking (argon2): call from a blocking
    /// thread. An unknown name costs the same argon2 check as a known one.
    pub fn verify(&self, name: &str, password: &str) -> StoreResult<Option<User>> {
        let record = self.record(name)?;
        let phc = record.as_ref().map_or_else(|| decoy_hash().to_string(), |r| r.password_hash.clone());
        if let Some(r) = &record {
            let fingerprint = Self::fingerprint(r, name, password);
            if self.verified.lock().unwrap_or_else(|p| p.into_inner()).contains(&fingerprint) {
                return Ok(Some(r.user.clone()));
            }
        }
        if let Some(r) = record.as_ref().filter(|r| is_bcrypt(&r.password_hash)) {
            return self.verify_bcrypt(r, password);
        }
        let parsed = PasswordHash::new(&phc).map_err(|e| StoreError::corrupt(format!("user {name}"), e))?;
        let password_ok = Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok();
        match record {
            Some(r) if password_ok => {
                self.verified.lock().unwrap_or_else(|p| p.into_inner()).insert(Self::fingerprint(&r, name, password));
                Ok(Some(r.user))
            }
            _ => Ok(None),
        }
    }

    /// Every user with its hash, for a server snapshot.
    pub fn export(&self) -> StoreResult<Vec<UserRecord>> {
        self.records()
    }

    /// Refuses users a snapshot may not bring: a bad name, a hash that is not argon2, two
    /// users with one name.
    pub fn check_restorable(records: &[UserRecord]) -> StoreResult<()> {
        let mut seen = HashSet::new();
        for r in records {
            let name = &r.user.name;
            if name.is_empty() || name.contains(':') || !seen.insert(name) {
                return Err(StoreError::Snapshot(SnapshotProblem::AdministratorName));
            }
            if !is_bcrypt(&r.password_hash) {
                PasswordHash::new(&r.password_hash)
                    .map_err(|e| StoreError::Snapshot(SnapshotProblem::AdministratorHash(e.to_string())))?;
            }
        }
        Ok(())
    }

    /// Puts back users from a server snapshot: the same passwords keep working.
    pub fn restore(&self, records: &[UserRecord]) -> StoreResult<()> {
        Self::check_restorable(records)?;
        let mut batch = crate::backend::Batch::default();
        for r in records {
            batch.insert(r.user.name.as_bytes(), encode(r)?);
        }
        self.tree.apply(batch)?;
        self.db.flush()?;
        self.forget_verified();
        Ok(())
    }
}
