//! The administrator account: one name and an argon2id hash. There is no default password.

use std::collections::HashSet;
use std::sync::Mutex;

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Account {
    user: String,
    phc: String,
}

const ACCOUNT: &[u8] = b"account";

pub struct AdminStore {
    db: sled::Db,
    tree: sled::Tree,
    /// SHA-256 of credentials already verified against the current hash, so an automation
    /// that authenticates on every call pays argon2 once, not per request.
    verified: Mutex<HashSet<[u8; 32]>>,
}

impl AdminStore {
    pub fn open(db: &sled::Db) -> Result<Self, String> {
        Ok(Self {
            db: db.clone(),
            tree: db.open_tree("admin").map_err(|e| e.to_string())?,
            verified: Mutex::new(HashSet::new()),
        })
    }

    fn account(&self) -> Option<Account> {
        let bytes = self.tree.get(ACCOUNT).ok()??;
        serde_json::from_slice(&bytes).ok()
    }

    pub fn exists(&self) -> bool {
        self.account().is_some()
    }

    pub fn user(&self) -> Option<String> {
        self.account().map(|a| a.user)
    }

    pub fn set_password(&self, user: &str, password: &str) -> Result<(), String> {
        if user.is_empty() || user.contains(':') {
            return Err("the user name must be non-empty and hold no ':'".into());
        }
        if password.chars().count() < 12 {
            return Err("the password must have at least 12 characters".into());
        }
        let salt = SaltString::generate(&mut OsRng);
        let phc = Argon2::default().hash_password(password.as_bytes(), &salt).map_err(|e| e.to_string())?.to_string();
        let bytes = serde_json::to_vec(&Account { user: user.to_string(), phc }).map_err(|e| e.to_string())?;
        self.tree.insert(ACCOUNT, bytes).map_err(|e| e.to_string())?;
        self.db.flush().map_err(|e| e.to_string())?;
        self.verified.lock().unwrap_or_else(|p| p.into_inner()).clear();
        Ok(())
    }

    /// Checks Basic credentials. Blocking (argon2): call from a blocking thread.
    pub fn verify(&self, user: &str, password: &str) -> bool {
        let Some(account) = self.account() else { return false };
        let fingerprint: [u8; 32] = Sha256::new()
            .chain_update(account.phc.as_bytes())
            .chain_update([0])
            .chain_update(user.as_bytes())
            .chain_update([0])
            .chain_update(password.as_bytes())
            .finalize()
            .into();
        if self.verified.lock().unwrap_or_else(|p| p.into_inner()).contains(&fingerprint) {
            return true;
        }
        let Ok(parsed) = PasswordHash::new(&account.phc) else { return false };
        // Verify the password even for a wrong user name, so timing does not tell names apart.
        let password_ok = Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok();
        let ok = password_ok && subtle::ConstantTimeEq::ct_eq(user.as_bytes(), account.user.as_bytes()).into();
        if ok {
            self.verified.lock().unwrap_or_else(|p| p.into_inner()).insert(fingerprint);
        }
        ok
    }
}
