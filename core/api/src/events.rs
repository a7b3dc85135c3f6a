//! Live updates (contract: "Live updates"): what changed, as it happens, for `GET
//! /api/v1/events`. The parts that change things publish here (a session taken in, an alert,
//! a token); a change of the repositories seen by their generation is published by the events
//! plugin's watcher. Nothing is kept: a listener hears what happens while it listens, and a
//! slow one that falls behind is told to read the list again (`lagged`).

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use tokio::sync::broadcast;

/// How many events wait for the slowest listener before it is told it fell behind.
const BACKLOG: usize = 1024;

/// One thing that changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// `repository`, `alert`, `token`, `ping` (or `lagged`: events were missed; read again).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The repository it is about, when one is.
    #[serde(rename = "repositoryName", skip_serializing_if = "Option::is_none")]
    pub repository_name: Option<String>,
    /// Unix seconds.
    pub at: i64,
}

impl Event {
    pub fn new(kind: &'static str, repository_name: Option<String>, at: i64) -> Self {
        Event { kind, repository_name, at }
    }
}

/// The server's events: publish, and listen.
pub struct Events {
    sender: broadcast::Sender<Event>,
    /// Set when the server stops: every stream ends, so that none holds the shutdown up.
    closing: tokio::sync::watch::Sender<bool>,
    /// The repositories' generation last published (the watcher's).
    published_generation: AtomicU64,
    /// Moved when credentials may have ended (a sign-out; another server's token, user or
    /// sign-in change): every stream asks its own again at once, rather than at its next ping.
    credentials: tokio::sync::watch::Sender<u64>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            sender: broadcast::channel(BACKLOG).0,
            closing: tokio::sync::watch::channel(false).0,
            published_generation: AtomicU64::new(0),
            credentials: tokio::sync::watch::channel(0).0,
        }
    }
}

impl Events {
    /// Tells every listener; costs nothing when none listens.
    pub fn publish(&self, event: Event) {
        let _ = self.sender.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }

    /// Resolves to true once the server stops.
    pub fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Credentials may have ended: every stream asks its own again. Tells no one anything.
    pub fn credentials_changed(&self) {
        self.credentials.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Changes when [`Events::credentials_changed`] is called.
    pub fn credential_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.credentials.subscribe()
    }

    /// Ends every stream (the server stops).
    pub fn close(&self) {
        let _ = self.closing.send(true);
    }

    /// Whether anyone listens.
    pub fn listened(&self) -> bool {
        self.sender.receiver_count() > 0
    }

    /// Records `generation` as published; true when it differs from the last one.
    pub fn generation_moved(&self, generation: u64) -> bool {
        self.published_generation.swap(generation, Ordering::AcqRel) != generation
    }
}
