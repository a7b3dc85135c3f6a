//! The plugin kinds, as a plugin crate uses them: a plugin of routes outside the OpenAPI
//! document (here registered by this test binary, as the metrics or dashboard plugin would).

use bw_api::registry::HttpRoute;
use bw_tests::TestServer;
use poem::endpoint::make_sync;
use poem::http::Method;
use poem::web::Data;
use poem::{handler, EndpointExt};

#[handler]
fn repositories_as_text(state: Data<&bw_api::AppState>) -> String {
    format!("repositories {}\n", state.repos.len())
}

fn routes() -> Vec<HttpRoute> {
    vec![
        HttpRoute {
            path: "/test-plugin/count",
            methods: &[Method::GET, Method::HEAD],
            endpoint: repositories_as_text.map_to_response().boxed(),
        },
        HttpRoute {
            path: "/test-plugin/echo",
            methods: &[Method::POST],
            endpoint: make_sync(|_| "posted").map_to_response().boxed(),
        },
    ]
}

bw_api::http_plugin!("test-plugin", routes);

#[test]
fn routes_outside_the_document_are_served_with_their_methods_only() {
    let names: Vec<&str> = bw_api::registry::http_plugins().unwrap().iter().map(|p| p.name).collect();
    assert_eq!(names, ["dashboard", "metrics", "test-plugin"]);
    let s = TestServer::start();
    let t = s.full_token();
    assert_eq!(s.post("/api/v1/repositories", Some(&t), &bw_tests::repo_body(&bw_tests::ed25519_key(1, ""))).0, 200);
    let (status, body) = s.get("/test-plugin/count", None);
    assert_eq!((status, body), (200, serde_json::Value::String("repositories 1\n".into())), "reaches the state");
    let answer = s.raw(b"DELETE /test-plugin/count HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    assert!(answer.to_lowercase().contains("allow: get, head\r\n"), "{answer}");
    assert_eq!(s.call("POST", "/test-plugin/echo", None, Some("")).0, 200);
    assert_eq!(s.get("/test-plugin/echo", None).0, 405);
    let doc = borgwarehouse::openapi_spec();
    assert!(!doc.contains("/test-plugin"), "routes outside the document stay out of it");
}

/// The dashboard's page and assets, as a browser fetches them: each with its type and the
/// headers that keep other sites from framing it or running code in it.
#[test]
fn the_dashboard_is_served_with_its_security_headers() {
    let s = TestServer::start();
    for (path, content_type) in [
        ("/", "text/html"),
        ("/dashboard/app.js", "text/javascript"),
        ("/dashboard/app.css", "text/css"),
        ("/dashboard/favicon.svg", "image/svg+xml"),
    ] {
        let answer = s.raw(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes());
        let head = answer.split("\r\n\r\n").next().unwrap().to_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{path}: {head}");
        assert!(head.contains(&format!("content-type: {content_type}")), "{path}: {head}");
        assert!(head.contains("content-security-policy: default-src 'self'; script-src 'self';"), "{path}: {head}");
        assert!(
            head.contains("x-frame-options: deny") && head.contains("referrer-policy: no-referrer"),
            "{path}: {head}"
        );
    }
    let answer = s.raw(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    // The API never asks the browser for credentials: no Basic prompt can cache them.
    let answer = s.raw(b"GET /api/v1/repositories HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 401") && !answer.to_lowercase().contains("www-authenticate"), "{answer}");
}
