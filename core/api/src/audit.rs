//! Audit entries as the API makes them: who (a user, a token, the cron key, the command line,
//! nobody yet), from where, what, on what, and the fields changed. The store writes each with
//! the change it records (`bw_store::audit_log`); this says who is who.

use std::net::IpAddr;

use bw_store::audit_log::{ActorKind, AuditEntry};
use serde_json::{Map, Value};

use crate::auth::Principal;

fn changes_of(changes: Value) -> Map<String, Value> {
    match changes {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        other => Map::from_iter([("value".to_string(), other)]),
    }
}

/// `principal` did `action` on `target` from `client`.
pub fn entry(
    at: i64,
    principal: &Principal,
    client: Option<IpAddr>,
    action: &str,
    target: &str,
    changes: Value,
) -> AuditEntry {
    let kind = match principal {
        Principal::User(_) => ActorKind::User,
        Principal::Token { .. } => ActorKind::Token,
        Principal::Cron => ActorKind::Cron,
    };
    let client = client.map(|c| c.to_string()).unwrap_or_default();
    AuditEntry::new(at, (principal.actor(), kind), client, action, target, changes_of(changes))
}

/// `borgwarehouse` on the host did `action` on `target`.
pub fn command_line(at: i64, action: &str, target: &str, changes: Value) -> AuditEntry {
    AuditEntry::new(
        at,
        ("command line".into(), ActorKind::CommandLine),
        String::new(),
        action,
        target,
        changes_of(changes),
    )
}

/// Somebody not (yet) known did `action` from `client`: a failed sign-in (`target`: the name
/// tried), the first run.
pub fn anonymous(at: i64, client: Option<IpAddr>, action: &str, target: &str, changes: Value) -> AuditEntry {
    let client = client.map(|c| c.to_string()).unwrap_or_default();
    AuditEntry::new(at, (String::new(), ActorKind::Anonymous), client, action, target, changes_of(changes))
}
