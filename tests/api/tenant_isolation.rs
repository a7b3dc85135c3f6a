//! Tenant isolation, tried from outside: an operator of tenant A and tokens scoped to A (by
//! tenant, and by name) call every route that names a repository, on B's repository, by id and
//! by name. Each answer must be the 404 a missing repository gets (same status, same body) and
//! nothing may change. The routes come from the served document, so a new route is tried too.

use bw_tests::{basic, ed25519_key, TestServer};
use serde_json::{json, Value};

const PW: &str = "a long enough password";
/// A name and an id no repository has.
const MISSING_NAME: &str = "fedcba98";
const MISSING_ID: &str = "987654";

fn body_for(method: &str, path: &str) -> Option<String> {
    let body = match (method, path) {
        ("POST", p) if p.ends_with("/keys") => json!({"sshPublicKey": ed25519_key(77, ""), "mode": "full"}),
        ("PATCH", p) if p.contains("/keys/") => json!({"mode": "append-only"}),
        ("POST", p) if p.ends_with("/archive") => json!({"archived": true}),
        ("PATCH", _) => json!({"alias": "taken over"}),
        ("POST", _) => json!({}),
        _ => return None,
    };
    Some(body.to_string())
}

/// Every operation of the document that names a repository, as (method, path template).
fn repository_routes() -> Vec<(String, String)> {
    let doc: Value = serde_json::from_str(&borgwarehouse::openapi_spec()).unwrap();
    let mut routes = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        if path.contains("{id}") || path.contains("{repositoryName}") {
            for method in ops.as_object().unwrap().keys() {
                routes.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    assert!(routes.len() >= 16, "{routes:?}");
    routes
}

fn fill(template: &str, id: &str, name: &str, key_id: &str) -> String {
    let path = template.replace("{repositoryName}", name);
    // `{id}` is the repository's on the 2.x paths, the key's under `/keys/`.
    if path.contains("/keys/") {
        path.replace("{id}", key_id)
    } else {
        path.replace("{id}", id)
    }
}

#[test]
fn a_tenant_bound_caller_cannot_tell_another_tenants_repository_from_a_missing_one() {
    let s = TestServer::start();
    let admin = s.create_admin();
    let made = |auth: &str, seed: u32, tenant: Option<&str>| {
        let mut body = json!({"alias": format!("r{seed}"), "sshPublicKey": ed25519_key(seed, ""), "storageSize": 10});
        if let Some(t) = tenant {
            body["tenant"] = json!(t);
        }
        let (status, answer) = s.post("/api/v1/repositories", Some(auth), &body);
        assert_eq!(status, 200, "{answer}");
        (answer["id"].as_u64().unwrap().to_string(), answer["repositoryName"].as_str().unwrap().to_string())
    };
    let (status, _) = s.post(
        "/api/v1/users",
        Some(&admin),
        &json!({"name": "olga", "role": "operator", "tenant": "a", "password": PW}),
    );
    assert_eq!(status, 200);
    let operator_a = basic("olga", PW);
    let (a_id, a_name) = made(&operator_a, 1, None);
    let (b_id, b_name) = made(&admin, 2, Some("b"));
    let (_, keys) = s.get(&format!("/api/v1/repositories/{b_name}/keys"), Some(&admin));
    let b_key = keys["keys"][0]["id"].as_str().unwrap().to_string();

    let all = json!({"create": true, "read": true, "update": true, "delete": true});
    let token = |auth: &str, body: Value| {
        let (status, answer) = s.post("/api/v1/integration/token-manager", Some(auth), &body);
        assert_eq!(status, 200, "{answer}");
        answer["token"].as_str().unwrap().to_string()
    };
    let token_a = token(&operator_a, json!({"name": "a", "permissions": all}));
    let token_named = token(&admin, json!({"name": "named", "permissions": all, "repositories": [a_name]}));

    // An alert fired for each repository.
    let fired = |name: &str| bw_store::alert_log::FiredAlert {
        at: bw_tests::NOW,
        kind: "late".into(),
        repository_name: name.into(),
        alias: "x".into(),
        message: "late".into(),
        delivered_by: vec![],
    };
    s.state.alert_log.add(&[fired(&a_name), fired(&b_name)]).unwrap();
    // A check run saw both: A's repository uses 100 KiB, B's 5,000.
    let (a_num, b_num): (u64, u64) = (a_id.parse().unwrap(), b_id.parse().unwrap());
    let mut run = vec![(a_num, 100, bw_tests::NOW), (b_num, 5000, bw_tests::NOW)];
    run.sort();
    let host = bw_store::history::HostPoint { at: bw_tests::NOW, storage_used: 5100, repositories: 2, late: 0 };
    s.state.history.record(bw_tests::NOW, &run, Some(host)).unwrap();

    let before = (s.get("/api/v1/repositories?include=keys", Some(&admin)).1, s.authorized_keys_text());
    for (who, auth) in [("operator of a", &operator_a), ("token of a", &token_a), ("token naming a's", &token_named)] {
        for (method, template) in repository_routes() {
            let body = body_for(&method, &template);
            let on_b = fill(&template, &b_id, &b_name, &b_key);
            let on_missing = fill(&template, MISSING_ID, MISSING_NAME, &b_key);
            let (status, answer) = s.call(&method, &on_b, Some(auth), body.as_deref());
            let (missing_status, missing_answer) = s.call(&method, &on_missing, Some(auth), body.as_deref());
            let expected = missing_answer.to_string().replace(MISSING_NAME, &b_name).replace(MISSING_ID, &b_id);
            assert_eq!(status, 404, "{who}: {method} {on_b} answered {status} {answer}");
            assert_eq!((status, answer.to_string()), (missing_status, expected), "{who}: {method} {on_b}");
        }
        // Its own, it reaches.
        assert_eq!(s.get(&format!("/api/v1/repositories/{a_name}"), Some(auth)).0, 200, "{who}");
        assert_eq!(s.get(&format!("/api/repo/id/{a_id}"), Some(auth)).0, 200, "{who}");
        // The lists hold only its own.
        for path in ["/api/v1/repositories", "/api/repo", "/api/v1/repositories?limit=10"] {
            let (status, list) = s.get(path, Some(auth));
            let names: Vec<&str> =
                list["repoList"].as_array().unwrap().iter().filter_map(|r| r["repositoryName"].as_str()).collect();
            assert_eq!((status, names), (200, vec![a_name.as_str()]), "{who}: {path}");
        }
        // Figures summed over the host are its own sums; the host's filesystems are not for it.
        let (status, history) = s.get("/api/v1/history", Some(auth));
        let sums = json!([{"at": bw_tests::NOW, "storageUsed": 100, "repositories": 1, "late": 0}]);
        assert_eq!((status, &history["points"]), (200, &sums), "{who}: {history}");
        let (status, metrics) = s.get("/metrics", Some(auth));
        let metrics = metrics.as_str().unwrap_or_default().to_string();
        assert_eq!(status, 200, "{who}: {metrics}");
        assert!(metrics.contains(&format!("repositoryName=\"{a_name}\"")), "{who}: {metrics}");
        assert!(!metrics.contains(&b_name), "{who}: B's repository in the scrape");
        assert!(metrics.contains("borgwarehouse_repositories 1\n"), "{who}: {metrics}");
        assert!(!metrics.contains("borgwarehouse_http_requests"), "{who}: the host's traffic in the scrape");
        assert_eq!(s.get("/api/v1/storage-targets/status", Some(auth)).0, 403, "{who}");
        // The alerts: only its own, and B's are as a missing repository's (none).
        let (_, alerts) = s.get("/api/v1/alerts", Some(auth));
        let named: Vec<&str> =
            alerts["alerts"].as_array().unwrap().iter().map(|a| a["repositoryName"].as_str().unwrap()).collect();
        assert_eq!(named, [a_name.as_str()], "{who}");
        let (_, on_b) = s.get(&format!("/api/v1/alerts?repositoryName={b_name}"), Some(auth));
        assert_eq!(on_b, json!({"alerts": []}), "{who}");
    }
    // The host's own caller sees the host's sums.
    assert_eq!(s.get("/api/v1/history", Some(&admin)).1["points"][0]["storageUsed"], 5100);
    let after = (s.get("/api/v1/repositories?include=keys", Some(&admin)).1, s.authorized_keys_text());
    assert_eq!(before, after, "nothing changed");
}
