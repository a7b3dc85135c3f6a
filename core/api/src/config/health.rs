//! `health`: the health rules, decided where storage figures change (`crate::health`). Where
//! alerts go is the alerts plugin's group (`plugins/alerts/src/settings.rs`).

use serde::{Deserialize, Serialize};

/// The health alerts (contract: "History and health"), sent through the same channels as the
/// late alert, each once per event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthSettings {
    /// Storage used crossing each of these percentages of the quota, rising; empty turns the
    /// quota alert off. Sorted and without repeats once loaded.
    #[serde(rename = "health_quota_percent")]
    pub quota_percent: Vec<u8>,
    /// Storage used falling by more than this percentage between two points, on a repository
    /// that is not append-only; 0 turns the shrink alert off.
    #[serde(rename = "health_shrink_percent")]
    pub shrink_percent: u8,
    /// A backup growing storage used by more than this many times the repository's median
    /// growth; 0 turns the growth alert off.
    #[serde(rename = "health_growth_factor")]
    pub growth_factor: u32,
}

impl Default for HealthSettings {
    fn default() -> Self {
        HealthSettings { quota_percent: vec![80, 95], shrink_percent: 50, growth_factor: 5 }
    }
}

impl HealthSettings {
    /// True when at least one health alert is on.
    pub fn any(&self) -> bool {
        !self.quota_percent.is_empty() || self.shrink_percent > 0 || self.growth_factor > 0
    }
}
