use bw_tests::{basic, ed25519_key, json, repo_body, TestServer};

const PATHS: [&str; 2] = ["/api/account/tokenManager", "/api/v1/integration/token-manager"];

#[test]
fn create_list_delete_on_both_paths() {
    let s = TestServer::start();
    let admin = s.create_admin();
    for path in PATHS {
        let (status, created) = s.post(path, Some(&admin), &json!({"name": "ci", "permissions": {"create": true, "read": true, "update": false, "delete": false}, "expiration": bw_tests::NOW + 3600}));
        assert_eq!(status, 200, "{path}: {created}");
        let token = created["token"].as_str().unwrap().to_string();
        assert!(token.len() >= 43, "at least 256 random bits: {token}");
        insta::assert_json_snapshot!("token_created", created, { ".token" => "[token]" });

        let (status, list) = s.get(path, Some(&admin));
        assert_eq!(status, 200);
        assert!(!list.to_string().contains(&token), "a listing never shows token values");
        insta::assert_json_snapshot!("token_list", list);

        let (status, again) = s.post(
            path,
            Some(&admin),
            &json!({"name": "ci", "permissions": {"create": true, "read": true, "update": true, "delete": true}}),
        );
        assert_eq!(status, 400);
        insta::assert_json_snapshot!("token_name_taken", again);

        let (status, deleted) = s.call("DELETE", path, Some(&admin), Some(r#"{"name":"ci"}"#));
        assert_eq!(status, 200);
        insta::assert_json_snapshot!("token_deleted", deleted);
        let (status, missing) = s.call("DELETE", path, Some(&admin), Some(r#"{"name":"ci"}"#));
        assert_eq!(status, 400);
        insta::assert_json_snapshot!("token_not_found", missing);
        assert_eq!(s.get(path, Some(&admin)).1, json!([]));
    }
}

#[test]
fn bad_token_names_are_400() {
    let s = TestServer::start();
    let admin = s.create_admin();
    for name in ["", "has space", "x".repeat(26).as_str(), "semi;colon", "ünï"] {
        let (status, body) = s.post(
            PATHS[0],
            Some(&admin),
            &json!({"name": name, "permissions": {"create": false, "read": true, "update": false, "delete": false}}),
        );
        assert_eq!(status, 400, "{name:?}: {body}");
        assert!(body["message"].is_string());
    }
    let (status, body) = s.post(PATHS[0], Some(&admin), &json!({"name": "x", "permissions": {"read": true, "create": false, "update": false, "delete": false}, "expiration": 5}));
    assert_eq!(status, 400, "an expiration in the past: {body}");
    assert_eq!(s.get(PATHS[0], Some(&admin)).1, json!([]));
}

/// A token body is read key by key, each refusal a 400 whose message says what to fix; nothing
/// is made.
#[test]
fn bad_token_bodies_say_what_to_fix() {
    let s = TestServer::start();
    let admin = s.create_admin();
    let all = json!({"create": false, "read": true, "update": false, "delete": false});
    for (path, body, message) in [
        (PATHS[0], json!({"permissions": all}), "name must be a string matching ^[A-Za-z0-9_-]{1,25}$"),
        (PATHS[1], json!({"name": 7, "permissions": all}), "name must be a string matching ^[A-Za-z0-9_-]{1,25}$"),
        (
            PATHS[0],
            json!({"name": "a"}),
            "permissions must be an object with the booleans create, read, update, delete",
        ),
        (
            PATHS[0],
            json!({"name": "a", "permissions": {"read": true}}),
            "permissions.create is required (true or false)",
        ),
        (
            PATHS[1],
            json!({"name": "a", "permissions": {"create": 1, "read": true, "update": false, "delete": false}}),
            "permissions.create must be true or false",
        ),
        (
            PATHS[0],
            json!({"name": "a", "permissions": {"admin": true}}),
            "Unknown permission \"admin\"; use create, read, update, delete",
        ),
        (
            PATHS[0],
            json!({"name": "a", "permissions": all, "expiration": null}),
            "expiration must be a whole number of unix seconds (omit it for no expiration)",
        ),
        (
            PATHS[1],
            json!({"name": "a", "owner": "x"}),
            "Unknown field \"owner\"; allowed: name, permissions, expiration, tenant, repositories",
        ),
        (PATHS[1], json!([1]), "the body must be a JSON object"),
    ] {
        let (status, answer) = s.post(path, Some(&admin), &body);
        assert_eq!((status, answer["message"].as_str()), (400, Some(message)), "{body}: {answer}");
    }
    let (status, answer) = s.call("DELETE", PATHS[0], Some(&admin), Some(r#"{"name": null}"#));
    assert_eq!(
        (status, answer["message"].as_str()),
        (400, Some("name must be a string matching ^[A-Za-z0-9_-]{1,25}$"))
    );
    assert_eq!(s.get(PATHS[0], Some(&admin)).1, json!([]));
}

#[test]
fn a_created_token_has_exactly_its_permissions() {
    let s = TestServer::start();
    let admin = s.create_admin();
    let (_, created) = s.post(
        PATHS[1],
        Some(&admin),
        &json!({"name": "reader", "permissions": {"create": false, "read": true, "update": false, "delete": false}}),
    );
    let token = created["token"].as_str().unwrap();
    assert_eq!(s.get("/api/repo", Some(token)).0, 200);
    let (status, body) = s.post("/api/repo/add", Some(token), &repo_body(&ed25519_key(1, "")));
    assert_eq!((status, body["message"].as_str()), (403, Some("Insufficient permissions")));
    assert!(s.state.repos.is_empty());
    // A token is no key to the token manager.
    assert_eq!(s.get(PATHS[0], Some(token)).0, 401);
    let list = s.get(PATHS[0], Some(&admin)).1;
    assert_eq!(list[0]["lastUsed"], bw_tests::NOW, "use is recorded");
}

#[test]
fn token_manager_needs_an_administrator_account() {
    let s = TestServer::start();
    let (status, body) = s.get(PATHS[0], Some(&basic("admin", "anything at all")));
    assert_eq!((status, body["message"].as_str()), (401, Some("Unauthorized")));
    assert_eq!(s.get(PATHS[1], None).0, 401);
}

#[test]
fn disabled_integrations_refuse_to_create_tokens() {
    let s = TestServer::with_config(|c| c.auth.disable_integrations = true);
    let admin = s.create_admin();
    let (status, body) = s.post(
        PATHS[1],
        Some(&admin),
        &json!({"name": "ci", "permissions": {"create": true, "read": true, "update": true, "delete": true}}),
    );
    assert_eq!(status, 403);
    insta::assert_json_snapshot!("integrations_disabled", body);
    assert_eq!(s.get(PATHS[1], Some(&admin)).1, json!([]));
}

#[test]
fn the_store_never_holds_a_token_in_clear() {
    let s = TestServer::start();
    let admin = s.create_admin();
    let (_, created) = s.post(
        PATHS[0],
        Some(&admin),
        &json!({"name": "ci", "permissions": {"create": true, "read": true, "update": true, "delete": true}}),
    );
    let token = created["token"].as_str().unwrap().to_string();
    let secret = token.trim_start_matches("bw_").to_string();
    if bw_tests::on_postgres() {
        // Every entry of every table of the database.
        let (held, read) = s.store_holds(secret.as_bytes());
        assert!(!held, "token stored in clear in the database");
        assert!(read > 0, "the store was read");
        return;
    }
    let (dir, config) = s.stop();
    let db = sled::open(config.db_path()).unwrap();
    let mut values = 0;
    for name in db.tree_names() {
        let tree = db.open_tree(&name).unwrap();
        for item in tree.iter() {
            let (k, v) = item.unwrap();
            values += 1;
            for bytes in [&k[..], &v[..]] {
                let text = String::from_utf8_lossy(bytes);
                assert!(!text.contains(&secret), "token stored in clear in tree {:?}", String::from_utf8_lossy(&name));
            }
        }
    }
    assert!(values > 0, "the store was read");
    drop(db);
    drop(dir);
}
