//! What the document says about the repository routes that poem-openapi's attributes cannot:
//! unknown keys are refused, an edit needs one key, `alert` takes a list of values, text has no
//! control characters, the path parameters' shapes, and examples. Values come from
//! `bw_core::limits` and `bw_core::ssh_key`, the same ones validation uses.

use bw_core::limits::ALERT_VALUES;
use bw_core::ssh_key::ALLOWED_TYPES;
use serde_json::{json, Value};

/// Text without control characters (what `char::is_control` refuses: C0, DEL, C1).
const NO_CONTROL: &str = r"^[^\u0000-\u001F\u007F-\u009F]*$";
/// The same, and not blank: one character at least that is not white space, a control or a
/// format character ([`bw_core::limits::is_invisible`], from the same list).
fn not_blank() -> String {
    let format: String = bw_core::limits::FORMAT_CHARS
        .iter()
        .map(|(lo, hi)| format!(r"\u{:04X}-\u{:04X}", *lo as u32, *hi as u32))
        .collect();
    format!(r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F{format}][^\u0000-\u001F\u007F-\u009F]*$")
}

const BODIES: [&str; 4] = ["RepoCreate", "RepoCreateV1", "RepoEdit", "RepoEditV1"];

fn key_pattern() -> String {
    let kinds: Vec<String> = ALLOWED_TYPES.iter().map(|k| k.replace('.', r"\.")).collect();
    format!(r"^({}) [A-Za-z0-9+/]+={{0,2}}( [^\u0000-\u001F\u007F-\u009F]*)?$", kinds.join("|"))
}

pub fn finish(doc: &mut Value) {
    for name in BODIES {
        let Some(schema) = doc.pointer_mut(&format!("/components/schemas/{name}")) else { continue };
        schema["additionalProperties"] = json!(false);
        let props = &mut schema["properties"];
        props["alert"]["enum"] = json!(ALERT_VALUES);
        props["alias"]["pattern"] = json!(not_blank());
        props["comment"]["pattern"] = json!(NO_CONTROL);
        props["sshPublicKey"]["pattern"] = json!(key_pattern());
        schema["example"] = example_body(name);
    }
    if let Some(archive) = doc.pointer_mut("/components/schemas/ArchiveBody") {
        archive["additionalProperties"] = json!(false);
        archive["example"] = json!({"archived": true});
    }
    for name in ["RepoEdit", "RepoEditV1"] {
        if let Some(edit) = doc.pointer_mut(&format!("/components/schemas/{name}")) {
            edit["minProperties"] = json!(1);
        }
    }
    for name in ["RepoCreateV1", "RepoEditV1"] {
        if let Some(icon) = doc.pointer_mut(&format!("/components/schemas/{name}/properties/icon")) {
            icon["pattern"] = json!(crate::validate::ICON_PATTERN);
        }
    }
    if let Some(repo) = doc.pointer_mut("/components/schemas/Repository") {
        repo["example"] = json!({
            "id": 0, "alias": "MyRepo", "repositoryName": "c1ddd097", "status": false, "lastSave": 0,
            "alert": 90000, "storageSize": 100, "storageUsed": 0,
            "sshPublicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me@host",
            "comment": "", "displayDetails": true, "lanCommand": false, "appendOnlyMode": false,
            "lastStatusAlertSend": 1732665600, "archived": false
        });
    }
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for (path, operations) in paths.iter_mut() {
        let Some(operations) = operations.as_object_mut() else { continue };
        for op in operations.values_mut() {
            let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else { continue };
            for param in params {
                match param["name"].as_str() {
                    // A string in the handler, so that any other text gets the contract's 404
                    // naming it; the document says what names a repository.
                    Some("id") if path.starts_with("/api/repo/id/") => {
                        param["schema"] = json!({"type": "integer", "format": "uint64", "minimum": 0});
                    }
                    Some("repositoryName") => {
                        param["schema"] = json!({"type": "string", "pattern": "^[0-9a-f]{8}$"});
                    }
                    // Strings in the handler, so that a bad value gets the contract's 400
                    // with a message naming it.
                    Some("limit") => param["schema"] = json!({"type": "integer", "minimum": 1, "maximum": 10000}),
                    Some("offset") => param["schema"] = json!({"type": "integer", "minimum": 0}),
                    _ => {}
                }
            }
        }
    }
}

fn example_body(name: &str) -> Value {
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me@host";
    match name {
        "RepoCreate" => json!({
            "alias": "MyRepo", "sshPublicKey": key, "storageSize": 100, "comment": "nightly",
            "alert": 90000, "lanCommand": false, "appendOnlyMode": false
        }),
        "RepoCreateV1" => json!({"alias": "MyRepo", "sshPublicKey": key, "storageSize": 100}),
        _ => json!({"storageSize": 200, "alert": 90000}),
    }
}
