//! The administrator account: one name and an argon2id hash. There is no default password.

use std::collections::HashSet;
use std::sync::Mutex;

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::sign_ins::SignIns;
use crate::store_error::{decode, encode, SnapshotProblem, StoreError, StoreResult};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Account {
    user: String,
    phc: String,
}

const ACCOUNT: &[u8] = b"account";
/// The shortest password the administrator may have, in characters.
pub const MIN_PASSWORD: usize = 12;

pub struct AdminStore {
    db: crate::backend::SharedBackend,
    tree: std::sync::Arc<dyn crate::backend::Table>,
    /// SHA-256 of credentials already verified against the current hash, so an automation
    /// that authenticates on every call pays argon2 once, not per request.
    verified: Mutex<HashSet<[u8; 32]>>,
    /// The administrator's sign-ins from a page; a new password ends them.
    pub sign_ins: SignIns,
}

impl AdminStore {
    pub fn open(db: &crate::backend::SharedBackend) -> StoreResult<Self> {
        Ok(Self {
            db: db.clone(),
            tree: db.table("admin")?,
            verified: Mutex::new(HashSet::new()),
            sign_ins: SignIns::open(db)?,
        })
    }

    /// The account; `None` only when none was ever set. A read failure is an error.
    fn account(&self) -> StoreResult<Option<Account>> {
        match self.tree.get(ACCOUNT)? {
            None => Ok(None),
            Some(bytes) => decode(|| "administrator account".into(), &bytes).map(Some),
        }
    }

    pub fn exists(&self) -> StoreResult<bool> {
        Ok(self.account()?.is_some())
    }

    pub fn set_password(&self, user: &str, password: &str) -> StoreResult<()> {
        if user.is_empty() || user.contains(':') {
            return Err(StoreError::InvalidUserName);
        }
        if password.chars().count() < MIN_PASSWORD {
            return Err(StoreError::PasswordTooShort { min: MIN_PASSWORD });
        }
        let salt = SaltString::generate(&mut OsRng);
        let phc = Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| StoreError::corrupt("password hash", e))?
            .to_string();
        self.tree.insert(ACCOUNT, encode(&Account { user: user.to_string(), phc })?)?;
        self.db.flush()?;
        self.verified.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.sign_ins.end_all()
    }

    /// The account's name and password hash (PHC string), for a server snapshot.
    pub fn export(&self) -> StoreResult<Option<(String, String)>> {
        Ok(self.account()?.map(|a| (a.user, a.phc)))
    }

    /// Puts back an account from a server snapshot: the same password keeps working.
    pub fn restore(&self, user: &str, phc: &str) -> StoreResult<()> {
        if user.is_empty() || user.contains(':') {
            return Err(StoreError::Snapshot(SnapshotProblem::AdministratorName));
        }
        PasswordHash::new(phc).map_err(|e| StoreError::Snapshot(SnapshotProblem::AdministratorHash(e.to_string())))?;
        self.tree.insert(ACCOUNT, encode(&Account { user: user.to_string(), phc: phc.to_string() })?)?;
        self.db.flush()?;
        self.verified.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.sign_ins.end_all()
    }

    /// The digest that stands for `user` and `password` checked against the account's hash.
    fn fingerprint(account: &Account, user: &str, password: &str) -> [u8; 32] {
        Sha256::new()
            .chain_update(account.phc.as_bytes())
            .chain_update([0])
            .chain_update(user.as_bytes())
            .chain_update([0])
            .chain_update(password.as_bytes())
            .finalize()
            .into()
    }

    /// True when these credentials were verified against the current hash before: a digest,
    /// no argon2, so it may run on the async threads.
    pub fn verified_before(&self, user: &str, password: &str) -> StoreResult<bool> {
        let Some(account) = self.account()? else { return Ok(false) };
        let fingerprint = Self::fingerprint(&account, user, password);
        Ok(self.verified.lock().unwrap_or_else(|p| p.into_inner()).contains(&fingerprint))
    }

    /// Checks Basic credentials. Blocking (argon2): call from a blocking thread.
    pub fn verify(&self, user: &str, password: &str) -> StoreResult<bool> {
        let Some(account) = self.account()? else { return Ok(false) };
        let fingerprint = Self::fingerprint(&account, user, password);
        if self.verified.lock().unwrap_or_else(|p| p.into_inner()).contains(&fingerprint) {
            return Ok(true);
        }
        let parsed = PasswordHash::new(&account.phc).map_err(|e| StoreError::corrupt("administrator account", e))?;
        // Verify the password even for a wrong user name, so timing does not tell names apart.
        let password_ok = Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok();
        let ok = password_ok && subtle::ConstantTimeEq::ct_eq(user.as_bytes(), account.user.as_bytes()).into();
        if ok {
            self.verified.lock().unwrap_or_else(|p| p.into_inner()).insert(fingerprint);
        }
        Ok(ok)
    }
}
