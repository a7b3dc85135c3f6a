//! What an alert is, in words every part of the server shares: the checks and sessions raise
//! alerts, the health rules decide some, and the alert plugin (`plugins/alerts`) sends them
//! through its channels and logs them. Plain data, below the state: nothing here sends.

use std::collections::BTreeMap;

/// A health rule that fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthKind {
    /// Storage used crossed a level of the quota.
    Quota,
    /// Storage used fell sharply.
    Shrink,
    /// A backup grew far beyond the usual.
    Growth,
    /// A verify (`borg check --repository-only`) found the repository damaged.
    VerifyFailed,
}

impl HealthKind {
    /// Every kind, in the order alerts of one round are sent.
    pub const ALL: [HealthKind; 4] =
        [HealthKind::Quota, HealthKind::Shrink, HealthKind::Growth, HealthKind::VerifyFailed];
}

/// One health alert about one repository, waiting in the state for the alert plugin.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthEvent {
    pub kind: HealthKind,
    pub repository_name: String,
    pub alias: String,
    pub last_save: i64,
    /// What happened, by how much, and what to look at.
    pub message: String,
}

/// A repository an alert is about.
#[derive(Debug, Clone)]
pub struct LateRepo {
    pub alias: String,
    pub repository_name: String,
    pub last_save: i64,
    /// For a health alert: what happened, by how much, and what to look at.
    pub note: Option<String>,
}

impl From<&HealthEvent> for LateRepo {
    fn from(e: &HealthEvent) -> Self {
        LateRepo {
            alias: e.alias.clone(),
            repository_name: e.repository_name.clone(),
            last_save: e.last_save,
            note: Some(e.message.clone()),
        }
    }
}

/// What an alert says of its repositories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    /// They had no backup within their alert delay.
    Late,
    /// They were late, an alert said so, and a backup has just ended.
    Recovered,
    /// A health alert ([`crate::health`]): quota, shrink, growth, a failed verify.
    Health(HealthKind),
    /// A test asked for by the administrator, about no repository: does each channel deliver?
    Test,
}

impl AlertKind {
    /// Its name in the log of fired alerts (`GET /api/v1/alerts`).
    pub fn log_name(self) -> &'static str {
        match self {
            AlertKind::Late => "late",
            AlertKind::Recovered => "recovered",
            AlertKind::Health(HealthKind::Quota) => "quota",
            AlertKind::Health(HealthKind::Shrink) => "shrink",
            AlertKind::Health(HealthKind::Growth) => "growth",
            AlertKind::Health(HealthKind::VerifyFailed) => "verifyFailed",
            AlertKind::Test => "test",
        }
    }

    /// The webhook's `event` for a health alert.
    pub fn health_event(self) -> Option<&'static str> {
        match self {
            AlertKind::Late | AlertKind::Recovered | AlertKind::Test => None,
            AlertKind::Health(HealthKind::Quota) => Some("health.quota"),
            AlertKind::Health(HealthKind::Shrink) => Some("health.shrink"),
            AlertKind::Health(HealthKind::Growth) => Some("health.growth"),
            AlertKind::Health(HealthKind::VerifyFailed) => Some("verify.failed"),
        }
    }
}

/// What each configured channel did with an alert: true when it was delivered.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delivery(BTreeMap<&'static str, bool>);

impl Delivery {
    /// `None` for a channel that is not configured.
    pub fn of(&self, channel: &str) -> Option<bool> {
        self.0.get(channel).copied()
    }

    /// Each configured channel and whether it delivered.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, bool)> + '_ {
        self.0.iter().map(|(c, d)| (*c, *d))
    }
}

impl FromIterator<(&'static str, bool)> for Delivery {
    fn from_iter<I: IntoIterator<Item = (&'static str, bool)>>(iter: I) -> Self {
        Delivery(iter.into_iter().collect())
    }
}
