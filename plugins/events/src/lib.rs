//! Live updates: `GET /api/v1/events`, a `text/event-stream` of what changed (contract: "Live
//! updates"), so that a page follows the host without polling each row.
//!
//! Each event is `{"type","repositoryName"?,"at"}`: `repository` (a change, a session taken in,
//! a check that moved the figures), `alert`, `token`; `ping` every 25 s, at which the credential
//! is asked again whether it still stands (a revoked token, a sign-out, an expiry or a new
//! password ends the stream), and at once when credentials may have ended (a token event, a
//! sign-out, another server's change of tokens, users or sign-ins); `lagged` when a listener fell so far behind that events were
//! lost (read the list again). A stream ends when the server stops.
//!
//! What changes publish themselves (`bw_api::events`); a change of the repositories is also
//! seen by this plugin's watcher, from the store's generation, twice a second while anyone
//! listens.

use std::time::Duration;

use bw_api::auth::{Guard, HeldCredential, Principal, Read};
use bw_api::events::Event;
use bw_api::AppState;
use futures_util::stream::BoxStream;
use poem::web::Data;
use poem::Request;
use poem_openapi::payload::EventStream;
use poem_openapi::{Object, OpenApi, Tags};
use tokio::sync::broadcast::error::RecvError;

/// How often a stream says it is alive, and asks its credential again.
const PING: Duration = Duration::from_secs(25);
/// How often the watcher looks at the store's generation while anyone listens.
const WATCH: Duration = Duration::from_millis(500);

#[derive(Tags)]
enum Tag {
    /// What changes on the host, as it happens (server-sent events).
    #[oai(rename = "Live updates (this server)")]
    Live,
}

/// One thing that changed.
#[derive(Object, Debug, PartialEq)]
#[oai(rename = "LiveEvent")]
pub struct LiveEvent {
    /// `repository`, `alert`, `token`, `ping`, or `lagged` (events were missed: read again).
    #[oai(rename = "type")]
    pub kind: String,
    /// The repository it is about, when one is.
    #[oai(rename = "repositoryName", skip_serializing_if_is_none)]
    pub repository_name: Option<String>,
    /// Unix seconds.
    pub at: i64,
}

impl From<Event> for LiveEvent {
    fn from(e: Event) -> Self {
        LiveEvent { kind: e.kind.to_string(), repository_name: e.repository_name, at: e.at }
    }
}

/// A listener's state between two events.
struct Listener {
    state: AppState,
    events: tokio::sync::broadcast::Receiver<Event>,
    closing: tokio::sync::watch::Receiver<bool>,
    /// Moves when credentials may have ended ([`bw_api::events::Events::credentials_changed`]).
    credentials: tokio::sync::watch::Receiver<u64>,
    credential: HeldCredential,
    principal: Principal,
    next_ping: tokio::time::Instant,
}

impl Listener {
    /// Whether this listener may hear of `event`: a caller of the whole host hears all; a
    /// scoped one only of its own repositories, by name (an event naming none could tell it
    /// that another tenant's repository changed).
    fn may_hear(&self, event: &Event) -> bool {
        let scope = self.principal.scope();
        if scope.is_whole_host() {
            return true;
        }
        event.repository_name.as_ref().is_some_and(|name| self.state.reachable_id(name, &scope).is_some())
    }

    /// The next event, or `None` when the stream ends.
    async fn next(&mut self) -> Option<LiveEvent> {
        loop {
            if let Some(next) = self.next_or_unheard().await {
                return next;
            }
        }
    }

    /// The next event (`Some(None)`: the stream ends), or `None` for one this listener may not
    /// hear.
    async fn next_or_unheard(&mut self) -> Option<Option<LiveEvent>> {
        if *self.closing.borrow() {
            return Some(None);
        }
        Some(tokio::select! {
            got = self.events.recv() => match got {
                Ok(event) if !self.may_hear(&event) => return None,
                // Asked again at each event too: a revoke publishes one, so the revoked
                // token's own stream ends at once.
                Ok(event) => self
                    .credential
                    .still_valid(&self.state, &self.principal, self.state.clock.now())
                    .then(|| event.into()),
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "a live-update listener fell behind");
                    Some(Event::new("lagged", None, self.state.clock.now()).into())
                }
                Err(RecvError::Closed) => None,
            },
            _ = tokio::time::sleep_until(self.next_ping) => {
                self.next_ping += PING;
                let now = self.state.clock.now();
                self.credential.still_valid(&self.state, &self.principal, now)
                    .then(|| Event::new("ping", None, now).into())
            }
            _ = self.closing.changed() => None,
            // Nothing to tell: the stream goes on while its credential stands, silently.
            Ok(()) = self.credentials.changed() => {
                if self.credential.still_valid(&self.state, &self.principal, self.state.clock.now()) {
                    return None;
                }
                None
            }
        })
    }
}

pub struct EventsApi;

#[OpenApi]
impl EventsApi {
    /// Stream what changes on the host, as it happens
    ///
    /// A server-sent event per change (`text/event-stream`), and a `ping` every 25 s. The stream
    /// ends when the credential is revoked or expires, and when the server stops.
    #[oai(path = "/api/v1/events", method = "get", tag = "Tag::Live", operation_id = "streamEvents")]
    async fn events(
        &self,
        state: Data<&AppState>,
        caller: Guard<Read>,
        request: &Request,
    ) -> EventStream<BoxStream<'static, LiveEvent>> {
        let listener = Listener {
            state: state.clone(),
            events: state.events.subscribe(),
            closing: state.events.closing(),
            credentials: state.events.credential_changes(),
            credential: HeldCredential::of(request),
            principal: caller.principal,
            next_ping: tokio::time::Instant::now() + PING,
        };
        let stream = futures_util::stream::unfold(listener, |mut l| async move { l.next().await.map(|e| (e, l)) });
        EventStream::new(Box::pin(stream) as BoxStream<'static, LiveEvent>)
    }
}

/// While anyone listens: a change of the repositories (their generation moved) is an event.
fn watch(state: &AppState) -> Duration {
    let _ = state;
    WATCH
}

fn watch_once(state: AppState) -> bw_api::registry::TaskFuture {
    Box::pin(async move {
        if state.events.listened() && state.events.generation_moved(state.repos.generation()) {
            state.events.publish(Event::new("repository", None, state.clock.now()));
        }
        Ok(())
    })
}

bw_api::endpoint_plugin!("events", EventsApi, EventsApi);
bw_api::task_plugin!(every server: "events", watch, watch_once);
