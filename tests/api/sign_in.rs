//! Sign-in for people: the contract's `POST /api/v1/sign-in` and `sign-out`, and
//! `GET /api/v1/whoami`, which a page reads to show a caller only what it may do.

use bw_tests::{basic, json, repo_body, TestServer, ADMIN_PASSWORD, ADMIN_USER, NOW};

const TTL: i64 = 28800;

fn sign_in(s: &TestServer, admin: &str) -> (String, i64) {
    let (status, body) = s.post("/api/v1/sign-in", Some(admin), &json!({}));
    assert_eq!(status, 200, "{body}");
    (body["token"].as_str().unwrap().to_string(), body["expiresAt"].as_i64().unwrap())
}

#[test]
fn a_sign_in_is_the_administrator_until_signed_out() {
    let s = TestServer::start();
    let admin = s.create_admin();
    let (status, body) = s.post("/api/v1/sign-in", Some(&admin), &json!({}));
    assert_eq!(status, 200, "{body}");
    insta::assert_json_snapshot!("sign_in", body, { ".token" => "[token]" });
    let token = body["token"].as_str().unwrap().to_string();
    assert_eq!(body["expiresAt"], NOW + TTL);
    let bearer = format!("Bearer {token}");
    // Every permission, the token manager included.
    assert_eq!(s.post("/api/v1/repositories", Some(&bearer), &repo_body(&bw_tests::ed25519_key(1, ""))).0, 200);
    assert_eq!(s.get("/api/v1/repositories", Some(&bearer)).0, 200);
    assert_eq!(s.get("/api/v1/integration/token-manager", Some(&bearer)).0, 200);
    assert_eq!(s.get("/metrics", Some(&bearer)).0, 200);
    // Kept hashed, not an API token, not listed among them.
    let (_, tokens) = s.get("/api/v1/integration/token-manager", Some(&admin));
    assert_eq!(tokens, json!([]));
    assert!(!s.store_holds(token.as_bytes()).0);
    let (status, out) = s.post("/api/v1/sign-out", Some(&bearer), &json!({}));
    assert_eq!(status, 200);
    insta::assert_json_snapshot!("sign_out", out);
    let (status, refused) = s.get("/api/v1/repositories", Some(&bearer));
    assert_eq!((status, refused), (403, json!({"message": "Invalid API key"})));
    assert_eq!(s.post("/api/v1/sign-out", Some(&bearer), &json!({})).0, 403);
    assert_eq!(s.get("/api/v1/integration/token-manager", Some(&bearer)).0, 403);
}

#[test]
fn a_sign_in_expires_when_left_unused_and_slides_while_used() {
    let s = TestServer::start();
    let admin = s.create_admin();
    let (token, expires) = sign_in(&s, &admin);
    let bearer = format!("Bearer {token}");
    // Used an hour before its end: it lives another TTL from then.
    s.clock.set(expires - 3600);
    let (status, me) = s.get("/api/v1/whoami", Some(&bearer));
    assert_eq!(status, 200);
    assert_eq!(me["expiresAt"], expires - 3600 + TTL);
    s.clock.set(expires + 60);
    assert_eq!(s.get("/api/v1/repositories", Some(&bearer)).0, 200, "the use moved the expiry");
    // Left alone for a whole TTL: refused.
    s.clock.set(expires + 60 + TTL);
    assert_eq!(s.get("/api/v1/repositories", Some(&bearer)), (403, json!({"message": "Invalid API key"})));
}

#[test]
fn a_sign_in_survives_a_restart_and_ends_with_a_new_password() {
    let s = TestServer::start();
    let admin = s.create_admin();
    let (token, _) = sign_in(&s, &admin);
    let (dir, config) = s.stop();
    let s = TestServer::start_in(dir, config);
    let bearer = format!("Bearer {token}");
    assert_eq!(s.get("/api/v1/repositories", Some(&bearer)).0, 200);
    s.state.users.set_password(ADMIN_USER, "another long password", 0, None).unwrap();
    assert_eq!(s.get("/api/v1/repositories", Some(&bearer)).0, 403);
}

#[test]
fn sign_in_takes_the_password_only_and_counts_failures() {
    let s = TestServer::start();
    let admin = s.create_admin();
    let full = s.full_token();
    // No credentials, a token, or a sign-in token cannot sign in.
    assert_eq!(s.post("/api/v1/sign-in", None, &json!({})), (401, json!({"message": "Unauthorized"})));
    assert_eq!(s.post("/api/v1/sign-in", Some(&full), &json!({})).0, 401);
    let (token, _) = sign_in(&s, &admin);
    assert_eq!(s.post("/api/v1/sign-in", Some(&format!("Bearer {token}")), &json!({})).0, 401);
    // Sign-out takes a sign-in token only.
    assert_eq!(s.post("/api/v1/sign-out", Some(&admin), &json!({})).0, 401);
    assert_eq!(s.post("/api/v1/sign-out", Some(&full), &json!({})).0, 401);
    // Wrong passwords count toward the throttle, as on every route.
    let s = TestServer::with_config(|c| c.auth.failure_limit = 3);
    s.create_admin();
    let wrong = basic(ADMIN_USER, "not the password");
    for _ in 0..3 {
        assert_eq!(s.post("/api/v1/sign-in", Some(&wrong), &json!({})).0, 401);
    }
    assert_eq!(s.post("/api/v1/sign-in", Some(&basic(ADMIN_USER, ADMIN_PASSWORD)), &json!({})).0, 429);
    // A made-up sign-in token is refused like a made-up API token, and counts too.
    let s = TestServer::start();
    s.create_admin();
    assert_eq!(s.get("/api/v1/repositories", Some("Bearer bws_made-up")), (403, json!({"message": "Invalid API key"})));
}

#[test]
fn sign_ins_work_when_integrations_are_disabled() {
    // The administrator is accepted everywhere also then; a sign-in is the administrator.
    let s = TestServer::with_config(|c| c.auth.disable_integrations = true);
    let admin = s.create_admin();
    let (token, _) = sign_in(&s, &admin);
    assert_eq!(s.get("/api/v1/repositories", Some(&format!("Bearer {token}"))).0, 200);
}

#[test]
fn whoami_says_what_each_caller_may_do() {
    let s = TestServer::start();
    let admin = s.create_admin();
    let (status, me) = s.get("/api/v1/whoami", Some(&admin));
    assert_eq!(status, 200);
    insta::assert_json_snapshot!("whoami_administrator", me);
    let reader = s.token("reader", "read");
    let (status, me) = s.get("/api/v1/whoami", Some(&reader));
    assert_eq!(status, 200);
    insta::assert_json_snapshot!("whoami_token", me);
    let (token, _) = sign_in(&s, &admin);
    let (_, me) = s.get("/api/v1/whoami", Some(&format!("Bearer {token}")));
    assert_eq!((me["kind"].as_str(), me["expiresAt"].as_i64()), (Some("signIn"), Some(NOW + TTL)));
    assert_eq!(s.get("/api/v1/whoami", None).0, 401);
    assert_eq!(s.get("/api/v1/whoami", Some("Bearer bw_unknown")).0, 403);
}

#[test]
fn a_token_needs_a_permission() {
    let s = TestServer::start();
    let admin = s.create_admin();
    let body =
        json!({"name": "nothing", "permissions": {"create": false, "read": false, "update": false, "delete": false}});
    let (status, refused) = s.post("/api/v1/integration/token-manager", Some(&admin), &body);
    assert_eq!(status, 400);
    insta::assert_json_snapshot!("token_without_permission", refused);
    assert_eq!(s.get("/api/v1/integration/token-manager", Some(&admin)).1, json!([]));
}

/// #33: the page's sign-in travels as an HttpOnly, SameSite=Strict cookie; an unsafe method
/// signed in by it needs the CSRF header; sign-out clears it and ends it.
#[test]
fn the_sign_in_cookie_holds_across_tabs_and_needs_the_csrf_header_to_change_anything() {
    let s = TestServer::start();
    let admin = s.create_admin();
    let response = ureq::post(&format!("{}/api/v1/sign-in", s.url)).set("Authorization", &admin).call().unwrap();
    let set_cookie = response.header("set-cookie").unwrap().to_string();
    assert!(set_cookie.starts_with("bw_sign_in=bws_"), "{set_cookie}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{attribute} is missing: {set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "plain HTTP from no trusted proxy: not Secure");
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let call = |method: &str, path: &str, csrf: bool| {
        let mut req = ureq::request(method, &format!("{}{path}", s.url)).set("Cookie", &cookie);
        if csrf {
            req = req.set("X-BW-CSRF", "1");
        }
        match req.call() {
            Ok(r) => (r.status(), r.header("set-cookie").map(str::to_string), r.into_string().unwrap()),
            Err(ureq::Error::Status(code, r)) => (code, None, r.into_string().unwrap()),
            Err(e) => panic!("{e}"),
        }
    };
    let (status, _, body) = call("GET", "/api/v1/whoami", false);
    assert_eq!(status, 200, "a safe method needs no header: {body}");
    let (status, _, body) = call("POST", "/api/v1/repositories/refresh", false);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("x-bw-csrf"), "the refusal says what is missing: {body}");
    assert_eq!(call("POST", "/api/v1/repositories/refresh", true).0, 200);
    let (status, cleared, _) = call("POST", "/api/v1/sign-out", true);
    assert_eq!(status, 200);
    let cleared = cleared.unwrap();
    assert!(cleared.starts_with("bw_sign_in=;") && cleared.contains("Max-Age=0"), "{cleared}");
    let (status, _, body) = call("GET", "/api/v1/whoami", false);
    assert_eq!((status, body.contains("Invalid API key")), (403, true), "{body}");
}
