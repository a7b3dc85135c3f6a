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
/// and a client generated from it would lose that path's other methods. The keys are read as
/// the text has them, duplicates included.
#[test]
fn each_path_stands_once() {
    struct Keys(Vec<String>);
    impl<'de> serde::Deserialize<'de> for Keys {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visit;
            impl<'de> serde::de::Visitor<'de> for Visit {
                type Value = Keys;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                    let mut keys = Vec::new();
                    while let Some((k, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                        keys.push(k);
                    }
                    Ok(Keys(keys))
                }
            }
            d.deserialize_map(Visit)
        }
    }
    #[derive(serde::Deserialize)]
    struct Doc {
        paths: Keys,
    }
    let text = borgwarehouse::openapi_spec();
    let keys = serde_json::from_str::<Doc>(&text).unwrap().paths.0;
    assert!(keys.len() >= 10, "the document lists too few paths: {keys:?}");
    let unique: std::collections::BTreeSet<&String> = keys.iter().collect();
    assert_eq!(keys.len(), unique.len(), "a path is listed twice: {keys:?}");
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let ops = doc["paths"]["/api/v1/repositories/{repositoryName}"].as_object().unwrap();
    assert_eq!(ops.keys().collect::<Vec<_>>(), ["delete", "get", "patch"]);
}

/// The document's validators are attribute literals; they must say what the limits say.
#[test]
fn document_limits_are_the_validation_limits() {
    use bw_api::limits::{ALIAS_MAX_CHARS, COMMENT_MAX_CHARS, STORAGE_GB};
    let doc: serde_json::Value = serde_json::from_str(&borgwarehouse::openapi_spec()).unwrap();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut checked = 0;
    // Answers show what is stored; the limits are on what requests send.
    let answer = |name: &str| ["Repository", "FiredAlert"].contains(&name);
    for (name, schema) in schemas {
        let Some(props) = schema["properties"].as_object() else { continue };
        if let Some(alias) = props.get("alias").filter(|_| !answer(name)) {
            assert_eq!(alias["maxLength"], ALIAS_MAX_CHARS, "{name}.alias");
            assert_eq!(alias["minLength"], 1, "{name}.alias");
            checked += 1;
        }
        if let Some(comment) = props.get("comment").filter(|_| !answer(name)) {
            assert_eq!(comment["maxLength"], COMMENT_MAX_CHARS, "{name}.comment");
            checked += 1;
        }
        if let Some(size) = props.get("storageSize").filter(|_| !answer(name)) {
            assert_eq!(size["minimum"].as_f64(), Some(*STORAGE_GB.start() as f64), "{name}.storageSize");
            assert_eq!(size["maximum"].as_f64(), Some(*STORAGE_GB.end() as f64), "{name}.storageSize");
            checked += 1;
        }
    }
    assert_eq!(checked, 12, "four request bodies with three limited fields each");
}

/// The document's examples can be sent as they are: the token example expires years from now,
/// not on a date already past (which the server refuses).
#[test]
fn the_token_example_stays_valid() {
    let doc: serde_json::Value = serde_json::from_str(&borgwarehouse::openapi_spec()).unwrap();
    let expiration = doc["components"]["schemas"]["TokenCreate"]["example"]["expiration"].as_i64().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!(expiration > now + 10 * 365 * 86400, "the example expires at {expiration}");
}
