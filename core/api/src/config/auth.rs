//! `auth`: who may call: the administrator, API tokens, the cron key, and the failure throttle.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::keys::duration_text;
use super::Secret;

/// Who may call: the administrator, API tokens, the cron key, and the failure throttle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    pub admin_user: String,
    /// Creates the administrator at the first start when no account exists yet.
    pub admin_password: Option<Secret>,
    /// Failed authentications from one address within a minute before it gets 429 for a
    /// minute; 0 turns the throttle off.
    #[serde(rename = "auth_failure_limit")]
    pub failure_limit: u32,
    /// How long a page's sign-in lives without use (`POST /api/v1/sign-in`).
    #[serde(with = "duration_text")]
    pub sign_in_ttl: Duration,
    /// `CRONJOB_KEY`: bearer key of the cron routes; unset or empty refuses every call.
    pub cronjob_key: Option<Secret>,
    /// `DISABLE_INTEGRATIONS`: no API token is accepted.
    pub disable_integrations: bool,
    /// `GET /metrics` answers without credentials.
    pub metrics_public: bool,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            admin_user: "admin".into(),
            admin_password: None,
            failure_limit: 20,
            sign_in_ttl: Duration::from_secs(28800),
            cronjob_key: None,
            disable_integrations: false,
            metrics_public: false,
        }
    }
}
