//! API tokens. Only a SHA-256 of each token is stored: the server makes every token from 256
//! random bits, so a slow password hash would add latency to every request and no safety.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::audit_log::{add_entry, AuditEntry};
use crate::backend::Batch;
use crate::scope::Scope;
use crate::store_error::{decode, encode, SnapshotProblem, StoreError, StoreResult};

/// The table of tokens (its name is also what other servers hear of a change).
pub const TOKENS: &str = "tokens";
/// Each token's hash: written when a token is made or revoked, never when it is used.
pub const BY_HASH: &str = "token_hashes";

/// What a token may do on the repository routes; all four are required.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permissions {
    pub create: bool,
    pub read: bool,
    pub update: bool,
    pub delete: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Create,
    Read,
    Update,
    Delete,
}

impl Permissions {
    pub fn allows(&self, p: Permission) -> bool {
        match p {
            Permission::Create => self.create,
            Permission::Read => self.read,
            Permission::Update => self.update,
            Permission::Delete => self.delete,
        }
    }

    /// Parses `read,create,update,delete` (any subset, any order).
    pub fn parse_list(list: &str) -> Result<Permissions, String> {
        let mut p = Permissions::default();
        for word in list.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match word {
                "create" => p.create = true,
                "read" => p.read = true,
                "update" => p.update = true,
                "delete" => p.delete = true,
                other => return Err(format!("unknown permission {other:?}; use create, read, update, delete")),
            }
        }
        // A token that may do nothing is a mistake (the API refuses one too).
        if !(p.create || p.read || p.update || p.delete) {
            return Err("give at least one permission: create, read, update, delete (comma-separated)".into());
        }
        Ok(p)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub name: String,
    /// Hex SHA-256 of the token.
    pub hash: String,
    pub permissions: Permissions,
    pub creation: i64,
    pub expiration: Option<i64>,
    pub last_used: Option<i64>,
    /// The user who made it; it never does more than that user's role and tenant allow, and
    /// stops working when the user is removed. `None`: made by the host's administrator before
    /// there were users, by the CLI, or imported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// What it may reach (beyond its maker's limits).
    #[serde(default, flatten)]
    pub scope: Scope,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("Token name must match ^[A-Za-z0-9_-]{{1,25}}$")]
    InvalidName,
    #[error("A token with this name already exists")]
    NameTaken,
    #[error("Expiration must be in the future")]
    ExpirationInPast,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub fn is_token_name(name: &str) -> bool {
    (1..=25).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A user of BorgWarehouse's `config/users.json`: only its integration tokens are read.
#[derive(Debug, Deserialize)]
struct BorgWarehouseUser {
    #[serde(default)]
    username: String,
    #[serde(default)]
    tokens: Vec<BorgWarehouseToken>,
}

/// An integration token as BorgWarehouse stores it: its value in clear (a UUID).
#[derive(Debug, Deserialize)]
struct BorgWarehouseToken {
    name: String,
    token: String,
    creation: i64,
    expiration: Option<i64>,
    permissions: Permissions,
}

/// What a token import did (or, dry, would do).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TokenImportReport {
    pub added: Vec<String>,
    pub unchanged: Vec<String>,
    /// Name and why.
    pub skipped: Vec<(String, String)>,
}

/// How often a token's `last_used` may be written, so reads do not turn into writes.
const LAST_USED_EVERY: i64 = 60;

/// A token to make: what it may do, until when, whose, and what it reaches.
pub struct NewToken<'a> {
    pub name: &'a str,
    pub permissions: Permissions,
    pub expiration: Option<i64>,
    /// The user who makes it (`None`: the host's, from the command line).
    pub owner: Option<&'a str>,
    pub scope: Scope,
}

pub struct TokenStore {
    db: crate::backend::SharedBackend,
    tokens: std::sync::Arc<dyn crate::backend::Table>,
    by_hash: std::sync::Arc<dyn crate::backend::Table>,
    last_written: Mutex<HashMap<String, i64>>,
    lock: Mutex<()>,
}

impl TokenStore {
    pub fn open(db: &crate::backend::SharedBackend) -> StoreResult<Self> {
        Ok(Self {
            db: db.clone(),
            tokens: db.table(TOKENS)?,
            by_hash: db.table(BY_HASH)?,
            last_written: Mutex::new(HashMap::new()),
            lock: Mutex::new(()),
        })
    }

    /// Stores a record and its hash's index entry in one transaction (the caller flushes).
    /// This server's lock of token changes, and with several servers on one database the
    /// database's: two servers must not both take one name.
    fn hold(&self) -> StoreResult<(Option<crate::backend::Hold>, std::sync::MutexGuard<'_, ()>)> {
        let local = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        Ok((self.db.hold_exclusive("tokens")?, local))
    }

    fn insert(&self, record: &TokenRecord, audit: Option<&AuditEntry>) -> Result<(), TokenError> {
        let bytes = encode(record)?;
        let (mut tokens, mut by_hash) = (Batch::default(), Batch::default());
        tokens.insert(record.name.as_bytes(), bytes);
        by_hash.insert(record.hash.as_bytes(), record.name.as_bytes());
        let mut batches = vec![(TOKENS, tokens), (BY_HASH, by_hash)];
        add_entry(&self.db, &mut batches, audit)?;
        self.db.apply_across(batches)?;
        Ok(())
    }

    /// Makes an unscoped token of nobody in particular and returns its value, which is never
    /// stored nor shown again.
    pub fn create(
        &self,
        name: &str,
        permissions: Permissions,
        expiration: Option<i64>,
        now: i64,
    ) -> Result<String, TokenError> {
        self.create_for(NewToken { name, permissions, expiration, owner: None, scope: Scope::HOST }, now, None)
    }

    /// Makes a token of `owner` reaching `scope`, and returns its value.
    pub fn create_for(&self, new: NewToken<'_>, now: i64, audit: Option<&AuditEntry>) -> Result<String, TokenError> {
        let NewToken { name, permissions, expiration, owner, scope } = new;
        if !is_token_name(name) {
            return Err(TokenError::InvalidName);
        }
        if matches!(expiration, Some(e) if e <= now) {
            return Err(TokenError::ExpirationInPast);
        }
        let _g = self.hold()?;
        if self.tokens.contains_key(name)? {
            return Err(TokenError::NameTaken);
        }
        let token =
            format!("bw_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>()));
        let record = TokenRecord {
            name: name.to_string(),
            hash: hash_token(&token),
            permissions,
            creation: now,
            expiration,
            last_used: None,
            owner: owner.map(str::to_string),
            scope,
        };
        self.insert(&record, audit)?;
        self.db.flush()?;
        Ok(token)
    }

    /// Takes in the integration tokens of BorgWarehouse's `users.json`, keeping their values
    /// (only their hashes are stored), so that automation keeps working. A name that exists here
    /// already, or that two users share, is skipped and said. A malformed file changes nothing.
    pub fn import_borgwarehouse(
        &self,
        users: &[serde_json::Value],
        dry_run: bool,
    ) -> Result<TokenImportReport, TokenError> {
        let mut parsed = Vec::new();
        let mut problems = Vec::new();
        for (i, user) in users.iter().enumerate() {
            match BorgWarehouseUser::deserialize(user) {
                Ok(u) => parsed.push(u),
                Err(e) => problems.push(format!("user {i}: {e}")),
            }
        }
        for user in &parsed {
            for t in user.tokens.iter().filter(|t| t.token.trim().is_empty()) {
                problems.push(format!("user {}: token {} has no value", user.username, t.name));
            }
        }
        if !problems.is_empty() {
            return Err(StoreError::ImportRefused { file: "users.json", problems }.into());
        }
        let mut owners: HashMap<&str, Vec<&str>> = HashMap::new();
        for user in &parsed {
            for t in &user.tokens {
                owners.entry(t.name.as_str()).or_default().push(user.username.as_str());
            }
        }
        let mut report = TokenImportReport::default();
        let _g = self.hold()?;
        for t in parsed.iter().flat_map(|u| &u.tokens) {
            let users_of_name = &owners[t.name.as_str()];
            if users_of_name.len() > 1 {
                if !report.skipped.iter().any(|(n, _)| *n == t.name) {
                    report.skipped.push((
                        t.name.clone(),
                        format!("two users have a token of this name ({})", users_of_name.join(", ")),
                    ));
                }
                continue;
            }
            if !is_token_name(&t.name) {
                report.skipped.push((t.name.clone(), "the name does not match ^[A-Za-z0-9_-]{1,25}$".into()));
                continue;
            }
            if let Some(bytes) = self.tokens.get(&t.name)? {
                let here: TokenRecord = decode(|| format!("token {}", t.name), &bytes)?;
                if here.hash == hash_token(&t.token) {
                    report.unchanged.push(t.name.clone());
                } else {
                    report.skipped.push((t.name.clone(), "a token of this name exists here".into()));
                }
                continue;
            }
            report.added.push(t.name.clone());
            if dry_run {
                continue;
            }
            let record = TokenRecord {
                name: t.name.clone(),
                hash: hash_token(&t.token),
                permissions: t.permissions,
                creation: t.creation,
                expiration: t.expiration,
                last_used: None,
                owner: None,
                scope: Scope::HOST,
            };
            self.insert(&record, None)?;
        }
        self.db.flush()?;
        Ok(report)
    }

    pub fn list(&self) -> Result<Vec<TokenRecord>, TokenError> {
        self.tokens
            .iter()
            .values()
            .map(|v| {
                let v = v?;
                Ok(decode(|| "token".into(), &v)?)
            })
            .collect()
    }

    /// Puts back the records of a server snapshot (hashes, not values: every token keeps
    /// working). All are checked before any is written.
    pub fn restore(&self, records: &[TokenRecord]) -> StoreResult<()> {
        let _g = self.hold()?;
        self.check_restorable(records)?;
        for r in records {
            self.insert(r, None).map_err(|e| match e {
                TokenError::Store(e) => e,
                // Checked above; a name taken meanwhile is the snapshot's problem.
                _ => StoreError::Snapshot(SnapshotProblem::TokenExists(r.name.clone())),
            })?;
        }
        self.db.flush()?;
        Ok(())
    }

    /// Whether [`TokenStore::restore`] would take `records`, changing nothing.
    pub fn check_restorable(&self, records: &[TokenRecord]) -> StoreResult<()> {
        let (mut names, mut hashes) = (std::collections::HashSet::new(), std::collections::HashSet::new());
        for r in records {
            let is_hash = r.hash.len() == 64 && r.hash.bytes().all(|b| b.is_ascii_hexdigit());
            if !is_token_name(&r.name) || !is_hash || !names.insert(&r.name) || !hashes.insert(&r.hash) {
                return Err(StoreError::Snapshot(SnapshotProblem::Token(r.name.clone())));
            }
            if self.tokens.contains_key(r.name.as_bytes())? {
                return Err(StoreError::Snapshot(SnapshotProblem::TokenExists(r.name.clone())));
            }
        }
        Ok(())
    }

    /// Removes a token; `false` when there was none by that name.
    pub fn revoke(&self, name: &str, audit: Option<&AuditEntry>) -> Result<bool, TokenError> {
        let _g = self.hold()?;
        let Some(bytes) = self.tokens.get(name)? else { return Ok(false) };
        let record: TokenRecord = decode(|| format!("token {name}"), &bytes)?;
        let (mut tokens, mut by_hash) = (Batch::default(), Batch::default());
        tokens.remove(name.as_bytes());
        by_hash.remove(record.hash.as_bytes());
        let mut batches = vec![(TOKENS, tokens), (BY_HASH, by_hash)];
        add_entry(&self.db, &mut batches, audit)?;
        self.db.apply_across(batches)?;
        self.db.flush()?;
        Ok(true)
    }

    /// The record of a live token; `None` for an unknown, revoked or expired one.
    pub fn verify(&self, token: &str, now: i64) -> Result<Option<TokenRecord>, TokenError> {
        let hash = hash_token(token);
        let Some(name) = self.by_hash.get(hash.as_bytes())? else { return Ok(None) };
        let Some(bytes) = self.tokens.get(&name)? else { return Ok(None) };
        let record: TokenRecord = decode(|| "token".into(), &bytes)?;
        if !bool::from(record.hash.as_bytes().ct_eq(hash.as_bytes())) {
            return Ok(None);
        }
        if matches!(record.expiration, Some(e) if e <= now) {
            return Ok(None);
        }
        Ok(Some(record))
    }

    /// Records a use, at most once a minute per token.
    pub fn touch(&self, name: &str, now: i64) {
        {
            let mut last = self.last_written.lock().unwrap_or_else(|p| p.into_inner());
            match last.get(name) {
                Some(t) if now - t < LAST_USED_EVERY => return,
                _ => {
                    last.insert(name.to_string(), now);
                }
            }
        }
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Ok(Some(bytes)) = self.tokens.get(name) {
            if let Ok(mut record) = serde_json::from_slice::<TokenRecord>(&bytes) {
                record.last_used = Some(now);
                if let Ok(bytes) = serde_json::to_vec(&record) {
                    let _ = self.tokens.insert(name, bytes);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_verify_expire_revoke() {
        let db = crate::backend::temporary_sled();
        let store = TokenStore::open(&db).unwrap();
        let perms = Permissions { read: true, ..Default::default() };
        let t = store.create("ci", perms, Some(1000), 100).unwrap();
        assert!(t.len() >= 43, "{t}");
        assert!(matches!(store.create("ci", perms, None, 100), Err(TokenError::NameTaken)));
        assert!(matches!(store.create("bad name", perms, None, 100), Err(TokenError::InvalidName)));
        assert!(matches!(store.create(&"x".repeat(26), perms, None, 100), Err(TokenError::InvalidName)));
        assert_eq!(store.verify(&t, 500).unwrap().unwrap().permissions, perms);
        assert!(store.verify(&t, 1000).unwrap().is_none(), "expired");
        assert!(store.verify("bw_nope", 500).unwrap().is_none());
        assert!(store.revoke("ci", None).unwrap());
        assert!(!store.revoke("ci", None).unwrap());
        assert!(store.verify(&t, 500).unwrap().is_none(), "revoked");
    }

    #[test]
    fn permission_list() {
        let p = Permissions::parse_list("read, delete").unwrap();
        assert_eq!(p, Permissions { read: true, delete: true, ..Default::default() });
        assert!(Permissions::parse_list("read,admin").is_err());
        assert!(Permissions::parse_list("").unwrap_err().contains("at least one permission"));
        assert!(Permissions::parse_list(" , ").is_err());
    }
}
