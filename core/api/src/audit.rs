//! Audit entries of the command line and of callers not yet known (a failed sign-in, the first
//! run). A caller's own entries come from its guard (`Guard::audit`). The store writes each
//! with the change it records (`bw_store::audit_log`).

use std::net::IpAddr;

use bw_store::audit_log::{ActorKind, AuditEntry};
use serde_json::{Map, Value};

/// `changes` as an entry's map: an object as it is, nothing as empty, anything else as `value`.
pub(crate) fn changes_of(changes: Value) -> Map<String, Value> {
    match changes {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        other => Map::from_iter([("value".to_string(), other)]),
    }
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
