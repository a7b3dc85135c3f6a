//! Sign-ins of users from a page (`POST /api/v1/sign-in`): short-lived bearer tokens, so that a
//! browser tab never keeps the password. Only a SHA-256 of each token is stored (each is 256
//! random bits; a slow hash would only add latency), with the time it expires and the user's
//! name (8 bytes of expiry, then the name; 0.2 wrote the expiry alone, for its one
//! administrator, and the user store takes those over at its first open). The expiry slides: each use moves it to `now + ttl`. To keep reads from turning
//! into writes, a use is written only when it moves the expiry by a minute or more; a crash
//! loses at most that minute of a sign-in's life.
//!
//! They live in the store, so a restart of the server does not sign people out; changing the
//! user's password, role or tenant, or removing the user, ends theirs.

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::store_error::StoreResult;

/// Every sign-in token starts with this, so the credential check knows it from an API token
/// (`bw_…`) without a lookup, and a log or a leaked value says what it is.
pub const PREFIX: &str = "bws_";

/// How much a use must move the expiry before it is written: a minute, or a tenth of a
/// shorter time to live (with a minute's step, a TTL of two minutes or less never moved).
const WRITE_EVERY: i64 = 60;

fn write_step(ttl: i64) -> i64 {
    WRITE_EVERY.min(ttl / 10).max(1)
}

/// The sign-ins' table.
pub const TABLE: &str = "sign_ins";

pub struct SignIns {
    db: crate::backend::SharedBackend,
    tree: std::sync::Arc<dyn crate::backend::Table>,
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn expiry(bytes: &[u8]) -> Option<i64> {
    Some(i64::from_be_bytes(bytes.get(..8)?.try_into().ok()?))
}

/// The user a stored value names; `None` for a 0.2 value (the expiry alone).
fn user_of(bytes: &[u8]) -> Option<String> {
    let name = bytes.get(8..).filter(|n| !n.is_empty())?;
    String::from_utf8(name.to_vec()).ok()
}

fn value(expires: i64, user: &str) -> Vec<u8> {
    let mut v = expires.to_be_bytes().to_vec();
    v.extend_from_slice(user.as_bytes());
    v
}

impl SignIns {
    pub fn open(db: &crate::backend::SharedBackend) -> StoreResult<Self> {
        Ok(Self { db: db.clone(), tree: db.table(TABLE)? })
    }

    /// A new sign-in of `user`: its token (shown once, never stored) and when it expires unless
    /// used.
    pub fn create(&self, user: &str, now: i64, ttl: i64) -> StoreResult<(String, i64)> {
        self.forget_expired(now)?;
        let token =
            format!("{PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>()));
        let expires = now + ttl;
        self.tree.insert(hash(&token), value(expires, user))?;
        self.db.flush()?;
        Ok((token, expires))
    }

    /// A sign-in as 0.2 wrote it (the expiry alone), for the take-over's test.
    #[cfg(test)]
    pub(crate) fn create_legacy(&self, now: i64, ttl: i64) -> StoreResult<String> {
        let token = format!("{PREFIX}legacy-{now}");
        self.tree.insert(hash(&token), (now + ttl).to_be_bytes())?;
        Ok(token)
    }

    /// When the sign-in `token` now expires, after this use (as stored: in steps of a minute,
    /// or a tenth of a shorter `ttl`), and whose it is; `None` for an unknown, ended or expired
    /// one.
    pub fn use_token(&self, token: &str, now: i64, ttl: i64) -> StoreResult<Option<(i64, String)>> {
        let key = hash(token);
        let Some(bytes) = self.tree.get(key)? else { return Ok(None) };
        let (Some(stored), Some(user)) = (expiry(&bytes), user_of(&bytes)) else { return Ok(None) };
        if stored <= now {
            self.tree.remove(key)?;
            return Ok(None);
        }
        let moved = now.saturating_add(ttl);
        if moved - stored < write_step(ttl) {
            return Ok(Some((stored, user)));
        }
        // Only if it is still there: a sign-out between the read and this write wins.
        let swapped = self.tree.compare_and_swap(key, Some(&bytes), Some(&value(moved, &user)))?;
        Ok(Some((if swapped { moved } else { stored }, user)))
    }

    /// Whose the sign-in `token` is, when it is live at `now`, without counting this as a use
    /// (an open stream of live updates is not a person using the page).
    pub fn live_user(&self, token: &str, now: i64) -> StoreResult<Option<String>> {
        let Some(bytes) = self.tree.get(hash(token))? else { return Ok(None) };
        Ok(expiry(&bytes).filter(|e| *e > now).and(user_of(&bytes)))
    }

    /// Ends every sign-in of `user`.
    pub fn end_all_of(&self, user: &str) -> StoreResult<()> {
        let mut batch = crate::backend::Batch::default();
        for entry in self.tree.iter() {
            let (key, value) = entry?;
            if user_of(&value).as_deref() == Some(user) {
                batch.remove(key);
            }
        }
        if !batch.is_empty() {
            self.tree.apply(batch)?;
            self.db.flush()?;
        }
        Ok(())
    }

    /// The writes that make 0.2's sign-ins (of its one administrator) `user`'s.
    pub(crate) fn owned_by(&self, user: &str) -> StoreResult<crate::backend::Batch> {
        let mut batch = crate::backend::Batch::default();
        for entry in self.tree.iter() {
            let (key, bytes) = entry?;
            if let (Some(expires), None) = (expiry(&bytes), user_of(&bytes)) {
                batch.insert(key, value(expires, user));
            }
        }
        Ok(batch)
    }

    /// Ends a sign-in; false when it was not there.
    pub fn end(&self, token: &str) -> StoreResult<bool> {
        let was = self.tree.remove(hash(token))?;
        self.db.flush()?;
        Ok(was)
    }

    /// Ends every sign-in (a restore).
    pub fn end_all(&self) -> StoreResult<()> {
        self.tree.clear()?;
        self.db.flush()?;
        Ok(())
    }

    fn forget_expired(&self, now: i64) -> StoreResult<()> {
        for entry in self.tree.iter() {
            let (key, value) = entry?;
            if expiry(&value).is_none_or(|e| e <= now) {
                self.tree.remove(key)?;
            }
        }
        Ok(())
    }

    /// How many sign-ins are live (tests and metrics).
    pub fn live(&self, now: i64) -> StoreResult<usize> {
        let mut n = 0;
        for entry in self.tree.iter() {
            let (_, value) = entry?;
            n += usize::from(expiry(&value).is_some_and(|e| e > now));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> SignIns {
        SignIns::open(&crate::backend::temporary_sled()).unwrap()
    }

    #[test]
    fn a_sign_in_lives_while_used_and_ends_when_left_or_ended() {
        let s = store();
        let (token, expires) = s.create("ada", 1000, 600).unwrap();
        assert!(token.starts_with(PREFIX) && token.len() > 40);
        assert_eq!(expires, 1600);
        // Used before the end: it slides.
        assert_eq!(s.use_token(&token, 1500, 600).unwrap(), Some((2100, "ada".into())));
        assert_eq!(s.use_token(&token, 2000, 600).unwrap(), Some((2600, "ada".into())));
        // Left alone past its expiry: gone.
        assert_eq!(s.use_token(&token, 2600, 600).unwrap(), None);
        let (other, _) = s.create("ada", 3000, 600).unwrap();
        assert!(s.end(&other).unwrap());
        assert_eq!(s.use_token(&other, 3001, 600).unwrap(), None);
        assert!(!s.end(&other).unwrap());
        assert_eq!(s.use_token("bws_made-up", 3001, 600).unwrap(), None);
    }

    /// A short time to live still slides: with a minute's step, a TTL of two minutes or less
    /// never moved, and the page was signed out while in use.
    #[test]
    fn a_short_time_to_live_slides_on_use() {
        let s = store();
        let (token, expires) = s.create("ada", 1000, 60).unwrap();
        assert_eq!(expires, 1060);
        let at = |now, ttl| s.use_token(&token, now, ttl).unwrap().map(|(e, _)| e);
        assert_eq!(at(1030, 60), Some(1090));
        assert_eq!(at(1080, 60), Some(1140));
        assert_eq!(at(1130, 90), Some(1220));
    }

    #[test]
    fn only_a_hash_is_kept_and_a_new_password_ends_the_users_sign_ins() {
        let s = store();
        let (a, _) = s.create("ada", 0, 600).unwrap();
        let (b, _) = s.create("ada", 0, 600).unwrap();
        let (c, _) = s.create("bob", 0, 600).unwrap();
        assert_ne!(a, b);
        for entry in s.tree.iter() {
            let (key, _) = entry.unwrap();
            assert!(key.as_ref() != a.as_bytes() && key.as_ref() != b.as_bytes());
        }
        assert_eq!(s.live(1).unwrap(), 3);
        s.end_all_of("ada").unwrap();
        assert_eq!(s.use_token(&a, 1, 600).unwrap(), None);
        assert_eq!(s.live(1).unwrap(), 1);
        assert_eq!(s.live_user(&c, 1).unwrap().as_deref(), Some("bob"));
    }

    #[test]
    fn expired_sign_ins_are_forgotten_at_the_next_sign_in() {
        let s = store();
        s.create("ada", 0, 10).unwrap();
        s.create("ada", 100, 10).unwrap();
        assert_eq!(s.tree.len(), 1);
    }
}
