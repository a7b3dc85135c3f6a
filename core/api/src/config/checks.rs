//! `checks`: the status and storage checks, and sessions.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::keys::duration_text;

/// The status and storage checks, and sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckSettings {
    /// How often the server runs each check on its own; zero turns it off.
    #[serde(with = "duration_text")]
    pub status_interval: Duration,
    #[serde(with = "duration_text")]
    pub storage_interval: Duration,
    /// Time allowed to read one repository during a check.
    #[serde(with = "duration_text")]
    pub scan_timeout: Duration,
    /// Whether each line runs `borg serve` under the session recorder, so the server learns
    /// that a backup ended within [`CheckSettings::session_interval`].
    pub sessions: Sessions,
    /// Where the recorder drops its records; `POOL/.sessions` when unset.
    pub session_spool: Option<PathBuf>,
    /// The program the lines run as the recorder; this server's own program when unset.
    pub session_program: Option<PathBuf>,
    /// How often the spool is read.
    #[serde(with = "duration_text")]
    pub session_interval: Duration,
}

impl Default for CheckSettings {
    fn default() -> Self {
        CheckSettings {
            status_interval: Duration::from_secs(3600),
            storage_interval: Duration::from_secs(3600),
            scan_timeout: Duration::from_secs(60),
            sessions: Sessions::Auto,
            session_spool: None,
            session_program: None,
            session_interval: Duration::from_secs(2),
        }
    }
}

/// `BW_SESSIONS`. The lines name the recorder's program, and sshd runs it as the borg user:
/// a line naming a program that user cannot run locks its client out. So unless sessions are
/// asked for, they go on only where that cannot happen. Written as a boolean, or left unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Option<bool>", into = "Option<bool>")]
pub enum Sessions {
    /// Unset: on when the recorder's program can go on the lines and the borg user can run it;
    /// else off, with a warning that says why (the server's start settles it: [`Sessions::On`]
    /// or [`Sessions::Off`] from then on).
    Auto,
    /// `BW_SESSIONS=true`: on, and a start that cannot put the recorder on the lines fails.
    On,
    /// `BW_SESSIONS=false`: plain `borg serve` lines.
    Off,
}

impl From<Option<bool>> for Sessions {
    fn from(v: Option<bool>) -> Self {
        match v {
            None => Sessions::Auto,
            Some(true) => Sessions::On,
            Some(false) => Sessions::Off,
        }
    }
}

impl From<Sessions> for Option<bool> {
    fn from(s: Sessions) -> Self {
        match s {
            Sessions::Auto => None,
            Sessions::On => Some(true),
            Sessions::Off => Some(false),
        }
    }
}
