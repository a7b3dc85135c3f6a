use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Unix-seconds clock. Production reads the system clock; tests pin it with [`Clock::fixed`]
/// and move it with [`Clock::set`] to exercise lateness and expirations without sleeping.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    fixed: Option<Arc<AtomicI64>>,
}

impl Clock {
    pub fn system() -> Self {
        Self { fixed: None }
    }

    pub fn fixed(now: i64) -> Self {
        Self { fixed: Some(Arc::new(AtomicI64::new(now))) }
    }

    /// Moves a fixed clock; a system clock ignores it.
    pub fn set(&self, now: i64) {
        if let Some(f) = &self.fixed {
            f.store(now, Ordering::SeqCst);
        }
    }

    pub fn now(&self) -> i64 {
        match &self.fixed {
            Some(f) => f.load(Ordering::SeqCst),
            None => SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0),
        }
    }
}
