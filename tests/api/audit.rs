//! The audit log from outside: every change leaves an entry with who, from where, what and the
//! fields changed; failed sign-ins too (the name tried, never the password); none holds a
//! secret; only admins read it; a refused change leaves none.

use bw_tests::{basic, ed25519_key, TestServer, ADMIN_PASSWORD};
use serde_json::{json, Value};

const PW: &str = "a long enough password";

fn audit(s: &TestServer, admin: &str, query: &str) -> Vec<Value> {
    let (status, list) = s.get(&format!("/api/v1/audit{query}"), Some(admin));
    assert_eq!(status, 200, "{list}");
    list.as_array().unwrap().clone()
}

#[test]
fn every_change_is_recorded_with_who_what_and_from_where_and_no_secret_is_kept() {
    let s = TestServer::start();
    let admin = s.create_admin();
    let mut secrets: Vec<String> = vec![ADMIN_PASSWORD.into(), PW.into(), "not the password!!".into()];

    // A user, a tenant quota, a token, a repository, a key, an edit, a delete.
    assert_eq!(
        s.post("/api/v1/users", Some(&admin), &json!({"name": "olga", "role": "operator", "password": PW})).0,
        200
    );
    assert_eq!(s.call("PUT", "/api/v1/tenants/acme", Some(&admin), Some(r#"{"quotaGB": 100}"#)).0, 200);
    let (_, made) = s.post(
        "/api/v1/integration/token-manager",
        Some(&basic("olga", PW)),
        &json!({"name": "ci", "permissions": {"create": true, "read": true, "update": true, "delete": true}}),
    );
    let ci = made["token"].as_str().unwrap().to_string();
    secrets.push(ci.clone());
    let (status, repo) = s.post(
        "/api/v1/repositories",
        Some(&ci),
        &json!({"alias": "web", "sshPublicKey": ed25519_key(1, ""), "storageSize": 10}),
    );
    assert_eq!(status, 200, "{repo}");
    let name = repo["repositoryName"].as_str().unwrap().to_string();
    assert_eq!(
        s.post(
            &format!("/api/v1/repositories/{name}/keys"),
            Some(&ci),
            &json!({"sshPublicKey": ed25519_key(2, ""), "name": "laptop"})
        )
        .0,
        200
    );
    assert_eq!(s.patch(&format!("/api/v1/repositories/{name}"), Some(&ci), &json!({"alias": "web-01"})).0, 200);
    // Refused: nothing recorded for it.
    assert_eq!(s.patch(&format!("/api/v1/repositories/{name}"), Some(&ci), &json!({"storageSize": -1})).0, 422);
    assert_eq!(s.patch("/api/v1/users/olga", Some(&admin), &json!({"password": "another long password"})).0, 200);
    secrets.push("another long password".into());
    assert_eq!(s.call("DELETE", &format!("/api/v1/repositories/{name}"), Some(&admin), None).0, 200);
    // Sign-in, sign-out, and a failed sign-in.
    let (_, signed) = s.post("/api/v1/sign-in", Some(&admin), &json!({}));
    let sign_in = signed["token"].as_str().unwrap().to_string();
    secrets.push(sign_in.clone());
    assert_eq!(s.post("/api/v1/sign-out", Some(&sign_in), &json!({})).0, 200);
    assert_eq!(s.get("/api/v1/whoami", Some(&basic("mallory", "not the password!!"))).0, 401);

    let entries = audit(&s, &admin, "?limit=1000");
    let actions: Vec<&str> = entries.iter().rev().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "user.add",
            "tenant.quota",
            "token.create",
            "repository.create",
            "key.add",
            "repository.edit",
            "user.edit",
            "repository.delete",
            "sign-in",
            "sign-out",
            "sign-in.failed"
        ]
    );
    let find = |action: &str| entries.iter().find(|e| e["action"] == action).unwrap().clone();
    let created = find("repository.create");
    assert_eq!((created["actor"].as_str(), created["actorKind"].as_str()), (Some("token:ci"), Some("token")));
    assert_eq!((created["target"].as_str(), created["client"].as_str()), (Some(name.as_str()), Some("127.0.0.1")));
    assert_eq!(created["changes"]["alias"], "web");
    assert_eq!(find("repository.edit")["changes"], json!({"alias": "web-01"}));
    assert_eq!(find("user.edit")["changes"], json!({"passwordChanged": true}));
    let failed = find("sign-in.failed");
    assert_eq!((failed["target"].as_str(), failed["actorKind"].as_str()), (Some("mallory"), Some("anonymous")));

    // Filters.
    assert_eq!(audit(&s, &admin, "?actor=token:ci").len(), 3);
    assert_eq!(audit(&s, &admin, "?action=repository").len(), 3);
    assert_eq!(audit(&s, &admin, "?limit=2").len(), 2);
    assert_eq!(s.get("/api/v1/audit?limit=0", Some(&admin)).0, 400);

    // No secret anywhere: not in the answer, not in the export.
    let mut all = serde_json::to_string(&entries).unwrap();
    s.state
        .audit
        .each(None, None, |e| {
            all.push_str(&serde_json::to_string(&e).unwrap());
            Ok(())
        })
        .unwrap();
    for secret in &secrets {
        assert!(!all.contains(secret.as_str()), "the audit log holds a secret: {secret}");
    }

    // Admins only; tokens not at all.
    assert_eq!(s.get("/api/v1/audit", Some(&basic("olga", "another long password"))).0, 403);
    assert_eq!(s.get("/api/v1/audit", Some(&ci)).0, 401);
}

#[test]
fn old_entries_are_forgotten_after_the_retention() {
    let s = TestServer::start();
    let admin = s.create_admin();
    assert_eq!(
        s.post("/api/v1/users", Some(&admin), &json!({"name": "olga", "role": "viewer", "password": PW})).0,
        200
    );
    assert_eq!(s.state.audit.len(), 1);
    let later = s.clock.now() + 401 * 86_400;
    assert_eq!(s.state.audit.forget_before(later - 400 * 86_400).unwrap(), 1);
    assert!(s.state.audit.is_empty());
}
