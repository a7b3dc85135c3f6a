//! The OpenAPI document: what poem-openapi generates from the plugins, finished so that it says
//! exactly what the server does.
//!
//! - A public operation says `security: []`.
//! - Error answers are defined once under `components.responses`; each operation refers to the
//!   statuses it can give: those its handler declares ([`bw_api::refusals`]) and those of the
//!   layers around it, from what the operation shows (credentials: 401, 429, and 403 where
//!   tokens are accepted; a request body: 400, 408, 413, 415; 500 and 503 always).
//! - A success answer without a description takes its schema's.
//! - Each plugin then finishes its own part (`finish_document`).

use bw_api::refusals::ERROR_RESPONSES;
use bw_api::PluginApis;
use poem_openapi::{LicenseObject, OpenApiService, ServerObject};
use serde_json::{json, Map, Value};

const ERROR_CONTENT_TYPE: &str = "application/json; charset=utf-8";

pub(crate) fn service() -> OpenApiService<PluginApis, ()> {
    OpenApiService::new(PluginApis, "BorgWarehouse API", bw_api::VERSION)
        .description("Control plane of a BorgBackup server: repositories, API tokens and scheduled checks, compatible with BorgWarehouse clients.")
        .license(LicenseObject::new("AGPL-3.0-only").url("https://www.gnu.org/licenses/agpl-3.0.html"))
        .server(ServerObject::new("/").description("this server"))
}

/// The OpenAPI document of the plugins built in, as `/openapi.json` serves it.
pub fn openapi_spec() -> String {
    let generated = service().spec();
    let Ok(mut doc) = serde_json::from_str::<Value>(&generated) else { return generated };
    describe_healthz(&mut doc);
    for plugin in bw_api::registry::http_plugins().unwrap_or(&[]) {
        if let Some(describe) = plugin.document {
            describe(&mut doc);
        }
    }
    finish(&mut doc);
    for plugin in bw_api::registry::endpoint_plugins().unwrap_or(&[]) {
        if let Some(finish_plugin) = plugin.finish_document {
            finish_plugin(&mut doc);
        }
    }
    serde_json::to_string_pretty(&doc).unwrap_or(generated)
}

fn finish(doc: &mut Value) {
    let schema_descriptions: Map<String, Value> = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .map(|schemas| {
            schemas.iter().filter_map(|(name, s)| Some((name.clone(), s.get("description")?.clone()))).collect()
        })
        .unwrap_or_default();
    let mut used = std::collections::BTreeSet::new();
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for op in paths.values_mut().filter_map(Value::as_object_mut).flat_map(|ops| ops.values_mut()) {
            let Some(op) = op.as_object_mut() else { continue };
            let schemes: Vec<String> = op
                .get("security")
                .and_then(Value::as_array)
                .map(|reqs| reqs.iter().filter_map(Value::as_object).flat_map(|r| r.keys().cloned()).collect())
                .unwrap_or_default();
            if schemes.is_empty() {
                op.insert("security".into(), json!([]));
            }
            // Any operation may meet a store whose database does not answer.
            let mut statuses: Vec<u16> = vec![500, 503];
            if !schemes.is_empty() {
                statuses.extend([401, 429]);
                if schemes.iter().any(|s| s == bw_api::auth::SCHEME_TOKEN || s == bw_api::auth::SCHEME_SIGN_IN) {
                    statuses.push(403);
                }
            }
            if op.contains_key("requestBody") {
                statuses.extend([400, 408, 413, 415]);
            }
            let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else { continue };
            statuses.extend(responses.keys().filter_map(|k| k.parse::<u16>().ok()).filter(|s| *s >= 400));
            statuses.sort_unstable();
            statuses.dedup();
            responses.retain(|k, _| k.parse::<u16>().is_ok_and(|s| s < 400));
            for (status, response) in responses.iter_mut() {
                if response["description"].as_str().is_some_and(str::is_empty) {
                    response["description"] = success_description(response, &schema_descriptions, status);
                }
            }
            for status in statuses {
                if let Some((_, name, _)) = ERROR_RESPONSES.iter().find(|(s, _, _)| *s == status) {
                    responses.insert(status.to_string(), json!({"$ref": format!("#/components/responses/{name}")}));
                    used.insert(status);
                }
            }
        }
    }
    let mut components = Map::new();
    for (status, name, description) in ERROR_RESPONSES.iter().filter(|(s, _, _)| used.contains(s)) {
        components.insert(
            name.to_string(),
            json!({
                "description": description,
                "content": {ERROR_CONTENT_TYPE: {
                    "schema": {"$ref": "#/components/schemas/Error"},
                    "example": error_example(*status),
                }},
            }),
        );
    }
    if let Some(c) = doc.get_mut("components").and_then(Value::as_object_mut) {
        c.insert("responses".into(), Value::Object(components));
    }
}

/// `GET /healthz`, served beside the plugins' routes for load balancers and systemd.
fn describe_healthz(doc: &mut Value) {
    doc["paths"]["/healthz"] = json!({"get": {
        "operationId": "healthz",
        "summary": "Whether the store is usable",
        "description": "200 while the store accepts reads and writes, 503 when it does not (a database that \
                        does not answer within 2 s). No credentials: it says nothing about the repositories.",
        "tags": ["Server"],
        "responses": {
            "200": {"description": "The store is usable", "content": {"application/json": {"schema": {
                "type": "object", "required": ["status", "store", "periodicWork"], "additionalProperties": false,
                "properties": {
                    "status": {"type": "string", "enum": ["ok"]},
                    "store": {"type": "string", "enum": ["embedded", "memory", "postgresql"],
                              "description": "The embedded store, or PostgreSQL (BW_DATABASE_URL)"},
                    "periodicWork": {"type": "boolean",
                                     "description": "Whether this server runs the checks, sessions, verify and alerts now: always on the embedded store; on a database several servers share, the one holding the lease"}
                }
            }, "example": {"status": "ok", "store": "embedded", "periodicWork": true}}}},
            // Replaced by a reference to the shared answer, as every error status is.
            "503": {"description": ""}
        }
    }});
    if let Some(tags) = doc["tags"].as_array_mut() {
        tags.push(json!({"name": "Server", "description": "The server itself: health and metrics."}));
    }
}

/// The first sentence of the answer schema's description (of its items, for a list).
fn success_description(response: &Value, schemas: &Map<String, Value>, status: &str) -> Value {
    let schema =
        response.pointer("/content").and_then(Value::as_object).and_then(|c| c.values().next()).map(|m| &m["schema"]);
    let (reference, list) = match schema {
        Some(s) if s.get("$ref").is_some() => (s["$ref"].as_str(), false),
        Some(s) => (s.pointer("/items/$ref").and_then(Value::as_str), true),
        None => (None, false),
    };
    let described = reference
        .and_then(|r| r.rsplit('/').next())
        .and_then(|name| schemas.get(name))
        .and_then(Value::as_str)
        .map(|d| d.split("\n\n").next().unwrap_or(d).trim().to_string());
    match (described, list) {
        (Some(d), false) => json!(d),
        (Some(d), true) => json!(format!("A list. Each item: {d}")),
        (None, _) => json!(if status == "200" { "Success" } else { "Answer" }),
    }
}

fn error_example(status: u16) -> Value {
    match status {
        400 => {
            json!({"message": "Invalid request body", "detail": "the body is not JSON: expected value at line 1 column 1"})
        }
        401 => json!({"message": "Unauthorized"}),
        403 => json!({"message": "Invalid API key"}),
        404 => json!({"message": "No repository with id #7"}),
        408 => json!({"message": "Request Timeout", "detail": "the body did not arrive in time"}),
        409 => json!({"message": "The SSH key is already used in another repository."}),
        413 => json!({"message": "Payload Too Large", "detail": "request bodies are limited to 65536 bytes"}),
        415 => json!({"message": bw_api::error::UNSUPPORTED_MEDIA_TYPE}),
        422 => {
            json!({"message": "Unexpected data", "detail": "storageSize must be a whole number of GB from 1 to 1000000"})
        }
        429 => json!({"message": "Too many failed authentications, try again later"}),
        503 => json!({"status": 503, "message": "Service Unavailable"}),
        _ => json!({"status": 500, "message": "Internal Server Error"}),
    }
}
