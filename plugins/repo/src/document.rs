//! What the document says about the repository routes that the structs cannot: unknown keys
//! are refused on the edit bodies too, an edit needs one key, the path parameters' shapes, and
//! examples. Each field's own schema comes from its rule ([`crate::fields`]).

use serde_json::{json, Value};

const BODIES: [&str; 4] = ["RepoCreate", "RepoCreateV1", "RepoEdit", "RepoEditV1"];

pub fn finish(doc: &mut Value) {
    for name in BODIES {
        let Some(schema) = doc.pointer_mut(&format!("/components/schemas/{name}")) else { continue };
        schema["additionalProperties"] = json!(false);
        schema["example"] = example_body(name);
    }
    if let Some(archive) = doc.pointer_mut("/components/schemas/ArchiveBody") {
        archive["additionalProperties"] = json!(false);
        archive["example"] = json!({"archived": true});
    }
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGLAbQvO4tD8Sw5B0mPxhrrmVttuMjUhl4k1yQmEQ4RF admin@host";
    for (name, example) in [
        ("KeyCreate", json!({"sshPublicKey": key, "mode": "full", "name": "admin who prunes"})),
        ("KeyEdit", json!({"mode": "append-only"})),
    ] {
        if let Some(schema) = doc.pointer_mut(&format!("/components/schemas/{name}")) {
            schema["additionalProperties"] = json!(false);
            schema["example"] = example;
        }
    }
    for name in ["RepoEdit", "RepoEditV1", "KeyEdit"] {
        if let Some(edit) = doc.pointer_mut(&format!("/components/schemas/{name}")) {
            edit["minProperties"] = json!(1);
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
                    Some("id") if path.contains("/keys/") => {
                        param["schema"] = json!({"type": "string", "pattern": "^[0-9a-f]{16}$"});
                    }
                    Some("repositoryName") => {
                        param["schema"] = json!({"type": "string", "pattern": "^[0-9a-f]{8}$"});
                    }
                    // Strings in the handler, so that a bad value gets the contract's 400
                    // with a message naming it.
                    Some("limit") if path == "/api/v1/repositories" => {
                        param["schema"] = json!({"type": "integer", "minimum": 1, "maximum": 10000})
                    }
                    Some("offset") if path == "/api/v1/repositories" => {
                        param["schema"] = json!({"type": "integer", "minimum": 0})
                    }
                    Some("include") if path == "/api/v1/repositories" => {
                        param["schema"] = json!({"type": "string", "enum": ["keys"]})
                    }
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
