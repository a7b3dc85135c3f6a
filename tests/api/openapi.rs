//! The committed OpenAPI document must be what the code generates.

use std::path::PathBuf;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../openapi/openapi.json")
}

#[test]
fn committed_document_matches_the_code() {
    let generated = borgwarehouse::openapi_spec();
    let path = committed_path();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, format!("{generated}\n")).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed.trim_end() == generated.trim_end(),
        "openapi/openapi.json is out of date: run `UPDATE_OPENAPI=1 cargo test -p bw-tests --test api openapi` and review the diff"
    );
}

#[test]
fn served_document_is_the_generated_one() {
    let s = bw_tests::TestServer::start();
    let (status, served) = s.get("/openapi.json", None);
    assert_eq!(status, 200);
    let generated: serde_json::Value = serde_json::from_str(&borgwarehouse::openapi_spec()).unwrap();
    assert_eq!(served, generated);
}

/// The routes and their methods, as a reviewable snapshot of the document's shape.
#[test]
fn routes_snapshot() {
    let doc: serde_json::Value = serde_json::from_str(&borgwarehouse::openapi_spec()).unwrap();
    let mut routes: Vec<String> = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let statuses: Vec<&String> = op["responses"].as_object().unwrap().keys().collect();
            routes.push(format!("{} {} -> {:?}", method.to_uppercase(), path, statuses));
        }
    }
    routes.sort();
    insta::assert_debug_snapshot!(routes);
}

/// Each path stands once in the document: a JSON reader keeps only the last of two equal keys,
/// and a client generated from it would lose that path's other methods.
#[test]
fn each_path_stands_once() {
    let text = borgwarehouse::openapi_spec();
    let keys: Vec<&str> = text.lines().filter(|l| l.starts_with("    \"/")).collect();
    let unique: std::collections::BTreeSet<&&str> = keys.iter().collect();
    assert_eq!(keys.len(), unique.len(), "a path is listed twice: {keys:?}");
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let ops = doc["paths"]["/api/v1/repositories/{repositoryName}"].as_object().unwrap();
    assert_eq!(ops.keys().collect::<Vec<_>>(), ["delete", "get", "patch"]);
}
