//! First run: with no user at all, the page may create the first admin, but only for a caller
//! that types the one-time setup code this server printed in its log at start. BorgWarehouse's
//! own first-run form has no such code, so whoever reaches the page first becomes admin; here a
//! stranger on the network needs the log, which only the host's operator reads.
//!
//! The code lives in memory only: a restart prints a new one, and it is gone once a user exists.

use std::sync::Mutex;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

#[derive(Default)]
pub struct FirstRun(Mutex<Option<String>>);

impl FirstRun {
    /// Makes a new code (128 random bits, in groups a person can copy) and returns it for the log.
    pub fn issue(&self) -> String {
        let hex: String = rand::random::<[u8; 16]>().iter().map(|b| format!("{b:02x}")).collect();
        let code =
            hex.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join("-");
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(code.clone());
        code
    }

    /// Whether `presented` is the code (compared in constant time, dashes and case ignored).
    pub fn matches(&self, presented: &str) -> bool {
        let held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let Some(code) = held.as_deref() else { return false };
        let plain = |s: &str| s.chars().filter(|c| *c != '-').collect::<String>().to_ascii_lowercase();
        bool::from(Sha256::digest(plain(presented)).ct_eq(&Sha256::digest(plain(code))))
    }

    /// The code is spent: a user exists.
    pub fn close(&self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Whether a code is waiting to be used.
    pub fn is_open(&self) -> bool {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_issued_code_opens_and_only_until_closed() {
        let first = FirstRun::default();
        assert!(!first.matches("") && !first.is_open(), "no code before one is issued");
        let code = first.issue();
        assert_eq!(code.len(), 39, "{code}");
        assert!(first.matches(&code) && first.matches(&code.replace('-', "").to_uppercase()));
        assert!(!first.matches("0000-0000-0000-0000-0000-0000-0000-0000"));
        let again = first.issue();
        assert!(!first.matches(&code) && first.matches(&again), "a new code replaces the old");
        first.close();
        assert!(!first.matches(&again));
    }
}
