//! People, tenants and scopes: roles, the last admin, one's account, the first run, and the
//! security tests of the contract's section (each fails when its check is removed).

use bw_tests::{basic, ed25519_key, repo_body, TestServer, ADMIN_PASSWORD};
use serde_json::{json, Value};

const PW: &str = "a long enough password";

fn add_user(s: &TestServer, admin: &str, name: &str, role: &str, tenant: Option<&str>) -> String {
    let mut body = json!({"name": name, "role": role, "password": PW});
    if let Some(t) = tenant {
        body["tenant"] = json!(t);
    }
    let (status, answer) = s.post("/api/v1/users", Some(admin), &body);
    assert_eq!(status, 200, "{answer}");
    assert!(answer.get("password").is_none() && !answer.to_string().contains(PW), "{answer}");
    basic(name, PW)
}

fn create_v1(s: &TestServer, auth: &str, seed: u32, extra: Value) -> (u16, Value) {
    let mut body = json!({"alias": format!("r{seed}"), "sshPublicKey": ed25519_key(seed, ""), "storageSize": 10});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    s.post("/api/v1/repositories", Some(auth), &body)
}

fn token(s: &TestServer, auth: &str, body: Value) -> (u16, Value) {
    s.post("/api/v1/integration/token-manager", Some(auth), &body)
}

const ALL: Value = Value::Null;

fn all_permissions() -> Value {
    json!({"create": true, "read": true, "update": true, "delete": true})
}

#[test]
fn roles_decide_what_each_user_may_do() {
    let _ = ALL;
    let s = TestServer::start();
    let admin = s.create_admin();
    let operator = add_user(&s, &admin, "olga", "operator", None);
    let viewer = add_user(&s, &admin, "vic", "viewer", None);

    // A viewer reads, and cannot create.
    assert_eq!(s.get("/api/v1/repositories", Some(&viewer)).0, 200);
    let (status, answer) = s.post("/api/repo/add", Some(&viewer), &repo_body(&ed25519_key(1, "")));
    assert_eq!((status, answer["message"].as_str()), (403, Some("Insufficient permissions")));
    assert_eq!(s.get("/api/v1/repositories", Some(&admin)).1["repoList"].as_array().unwrap().len(), 0);
    // ... nor make tokens.
    assert_eq!(
        token(
            &s,
            &viewer,
            json!({"name": "v", "permissions": {"create": false, "read": true, "update": false, "delete": false}})
        )
        .0,
        403
    );

    // An operator changes repositories, and cannot make users.
    assert_eq!(create_v1(&s, &operator, 2, json!({})).0, 200);
    let (status, _) = s.post("/api/v1/users", Some(&operator), &json!({"name": "x", "role": "admin", "password": PW}));
    assert_eq!(status, 403);
    assert_eq!(s.get("/api/v1/users", Some(&operator)).0, 403);
    assert_eq!(s.get("/api/v1/users", Some(&admin)).1.as_array().unwrap().len(), 3);

    // whoami says it.
    let (_, me) = s.get("/api/v1/whoami", Some(&viewer));
    assert_eq!((me["name"].as_str(), me["role"].as_str()), (Some("vic"), Some("viewer")));
    assert_eq!(
        me["permissions"],
        json!({"create": false, "read": true, "update": false, "delete": false, "tokens": false, "users": false, "host": true})
    );
}

#[test]
fn the_last_admin_is_neither_removed_nor_demoted() {
    let s = TestServer::start();
    let admin = s.create_admin();
    let (status, answer) = s.call("DELETE", "/api/v1/users/admin", Some(&admin), None);
    assert_eq!((status, answer["message"].as_str()), (409, Some("The last admin can be neither removed nor demoted.")));
    let (status, _) = s.patch("/api/v1/users/admin", Some(&admin), &json!({"role": "viewer"}));
    assert_eq!(status, 409);
    assert_eq!(s.get("/api/v1/users", Some(&admin)).1[0]["role"], "admin");
    // With a second admin, the first may go.
    let second = add_user(&s, &admin, "ada", "admin", None);
    assert_eq!(s.call("DELETE", "/api/v1/users/admin", Some(&second), None).0, 200);
    assert_eq!(s.get("/api/v1/whoami", Some(&admin)).0, 401, "a removed user's password no longer works");
    assert_eq!(s.call("DELETE", "/api/v1/users/nobody", Some(&second), None).1["message"], "No user named nobody");
}

#[test]
fn a_users_tokens_lose_their_rights_when_the_user_is_demoted_or_removed() {
    let s = TestServer::start();
    let admin = s.create_admin();
    let operator = add_user(&s, &admin, "olga", "operator", None);
    let (status, made) = token(&s, &operator, json!({"name": "ci", "permissions": all_permissions()}));
    assert_eq!(status, 200, "{made}");
    let ci = made["token"].as_str().unwrap().to_string();
    assert_eq!(create_v1(&s, &ci, 1, json!({})).0, 200);

    // Demoted to viewer: the token reads, and no longer creates.
    assert_eq!(s.patch("/api/v1/users/olga", Some(&admin), &json!({"role": "viewer"})).0, 200);
    assert_eq!(s.get("/api/v1/repositories", Some(&ci)).0, 200);
    let (status, answer) = create_v1(&s, &ci, 2, json!({}));
    assert_eq!((status, answer["message"].as_str()), (403, Some("Insufficient permissions")));

    // Removed: the token is refused.
    assert_eq!(s.call("DELETE", "/api/v1/users/olga", Some(&admin), None).0, 200);
    let (status, answer) = s.get("/api/v1/repositories", Some(&ci));
    assert_eq!((status, answer["message"].as_str()), (403, Some("Invalid API key")));
}

#[test]
fn an_operator_cannot_make_a_token_wider_than_itself_and_sees_only_its_own() {
    let s = TestServer::start();
    let admin = s.create_admin();
    let operator = add_user(&s, &admin, "olga", "operator", Some("a"));
    assert_eq!(token(&s, &admin, json!({"name": "host", "permissions": all_permissions()})).0, 200);
    // Another tenant: refused, and nothing made.
    let (status, answer) = token(&s, &operator, json!({"name": "b", "permissions": all_permissions(), "tenant": "b"}));
    assert_eq!(status, 403, "{answer}");
    // Its own: scoped to its tenant even when it names none.
    assert_eq!(token(&s, &operator, json!({"name": "mine", "permissions": all_permissions()})).0, 200);
    let (_, listed) = s.get("/api/v1/integration/token-manager", Some(&operator));
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(
        (listed[0]["name"].as_str(), listed[0]["tenant"].as_str(), listed[0]["owner"].as_str()),
        (Some("mine"), Some("a"), Some("olga"))
    );
    // Another's token is "no such token" to it, and stays.
    let (status, answer) =
        s.call("DELETE", "/api/v1/integration/token-manager", Some(&operator), Some(r#"{"name":"host"}"#));
    assert_eq!((status, answer["message"].as_str()), (400, Some("No token named host")));
    assert_eq!(s.get("/api/v1/integration/token-manager", Some(&admin)).1.as_array().unwrap().len(), 2);
}

#[test]
fn one_changes_ones_own_account_with_the_current_password() {
    let s = TestServer::start();
    let admin = s.create_admin();
    let me = add_user(&s, &admin, "vic", "viewer", None);
    let (status, account) = s.get("/api/v1/account", Some(&me));
    assert_eq!((status, account["name"].as_str(), account["role"].as_str()), (200, Some("vic"), Some("viewer")));
    let (status, answer) = s.patch("/api/v1/account", Some(&me), &json!({"password": "a brand new password"}));
    assert_eq!((status, answer["detail"].as_str()), (422, Some("currentPassword is required to set a new password")));
    let (status, _) = s.patch(
        "/api/v1/account",
        Some(&me),
        &json!({"password": "a brand new password", "currentPassword": "not it at all"}),
    );
    assert_eq!(status, 403);
    let (status, answer) = s.patch(
        "/api/v1/account",
        Some(&me),
        &json!({"password": "a brand new password", "currentPassword": PW, "email": "vic@example.org"}),
    );
    assert_eq!((status, answer["email"].as_str()), (200, Some("vic@example.org")), "{answer}");
    assert_eq!(s.get("/api/v1/account", Some(&me)).0, 401, "the old password is gone");
    assert_eq!(s.get("/api/v1/account", Some(&basic("vic", "a brand new password"))).0, 200);
    // A viewer cannot make itself more through its account.
    let (status, _) =
        s.patch("/api/v1/account", Some(&basic("vic", "a brand new password")), &json!({"role": "admin"}));
    assert_eq!(status, 422);
}

#[test]
fn the_first_admin_needs_the_setup_code_from_the_log() {
    let s = TestServer::start();
    // The shipped start-up printed a code in its log; the test takes a new one it can read.
    assert_eq!(s.get("/api/v1/setup", None).1, json!({"needed": true}));
    let code = s.state.first_run.issue();
    let body = |code: &str| json!({"code": code, "name": "root", "password": PW});
    let (status, answer) = s.post("/api/v1/setup", None, &body("1234-5678"));
    assert_eq!((status, answer["message"].as_str()), (403, Some("Wrong setup code: it is in the server's log")));
    assert_eq!(s.get("/api/v1/whoami", Some(&basic("root", PW))).0, 401, "nobody was made");
    let (status, answer) = s.post("/api/v1/setup", None, &body(&code));
    assert_eq!((status, answer["role"].as_str()), (200, Some("admin")), "{answer}");
    assert_eq!(s.get("/api/v1/users", Some(&basic("root", PW))).0, 200);
    // Once a user exists: 409, with the code or without.
    assert_eq!(s.post("/api/v1/setup", None, &body(&code)).0, 409);
    assert_eq!(s.get("/api/v1/setup", None).1, json!({"needed": false}));
}

#[test]
fn wrong_setup_codes_count_toward_the_throttle() {
    let s = TestServer::with_config(|c| c.auth.failure_limit = 3);
    s.state.first_run.issue();
    for _ in 0..3 {
        assert_eq!(s.post("/api/v1/setup", None, &json!({"code": "x", "name": "root", "password": PW})).0, 403);
    }
    assert_eq!(s.post("/api/v1/setup", None, &json!({"code": "x", "name": "root", "password": PW})).0, 429);
}

#[test]
fn the_old_token_body_and_borgwarehouse_3_6_shape_still_make_whole_host_tokens() {
    let s = TestServer::start();
    let admin = s.create_admin();
    create_v1(&s, &admin, 1, json!({"tenant": "b"}));
    for (path, name) in [("/api/account/tokenManager", "old"), ("/api/v1/integration/token-manager", "v36")] {
        let body = json!({"name": name, "permissions": {"create": false, "read": true, "update": false, "delete": false}, "expiration": 4102444800u64});
        let (status, made) = s.post(path, Some(&admin), &body);
        assert_eq!(status, 200, "{made}");
        let t = made["token"].as_str().unwrap();
        let (_, list) = s.get("/api/v1/repositories", Some(t));
        assert_eq!(list["repoList"].as_array().unwrap().len(), 1, "an unscoped token sees every tenant's: {list}");
    }
}

#[test]
fn a_tenants_quota_caps_what_its_repositories_are_given() {
    let s = TestServer::start();
    let admin = s.create_admin();
    let operator = add_user(&s, &admin, "olga", "operator", Some("a"));
    let (status, tenant) = s.call("PUT", "/api/v1/tenants/a", Some(&admin), Some(r#"{"quotaGB": 15}"#));
    assert_eq!((status, tenant["quotaGB"].as_u64()), (200, Some(15)), "{tenant}");
    assert_eq!(s.call("PUT", "/api/v1/tenants/a", Some(&operator), Some(r#"{"quotaGB": 1000}"#)).0, 403);
    let (status, made) = create_v1(&s, &operator, 1, json!({}));
    assert_eq!(status, 200, "{made}");
    let (status, answer) = create_v1(&s, &operator, 2, json!({}));
    assert_eq!((status, answer["message"].as_str()), (422, Some("Tenant a would exceed its quota of 15 GB")));
    let name = made["repositoryName"].as_str().unwrap();
    let (status, _) = s.patch(&format!("/api/v1/repositories/{name}"), Some(&operator), &json!({"storageSize": 16}));
    assert_eq!(status, 422, "an edit past the quota is refused too");
    assert_eq!(s.patch(&format!("/api/v1/repositories/{name}"), Some(&operator), &json!({"storageSize": 15})).0, 200);
    // The host's own repositories do not count.
    assert_eq!(create_v1(&s, &admin, 3, json!({})).0, 200);
    let (_, tenants) = s.get("/api/v1/tenants", Some(&admin));
    assert_eq!(
        tenants,
        json!([{"name": "a", "quotaGB": 15, "allottedGB": 15, "usedKiB": 0, "repositories": 1, "users": 1}])
    );
    let _ = ADMIN_PASSWORD;
}
