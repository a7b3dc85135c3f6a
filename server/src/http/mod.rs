//! The HTTP application: plugin routes (documented and not), the OpenAPI document and Swagger
//! UI, and the middleware every request passes ([`middleware`]).

mod document;
pub mod middleware;

pub use document::openapi_spec;
use document::service;

use std::sync::Arc;

use bw_core::error::{error_response, ErrorBody};
use bw_core::routes::RouteIndex;
use bw_core::AppState;
use poem::endpoint::make_sync;
use poem::http::{Method, StatusCode};
use poem::middleware::CatchPanic;
use poem::web::Data;
use poem::{handler, Endpoint, EndpointExt, Response, Route};

pub use middleware::BODY_LIMIT;
use middleware::{access_log, admit, limit_body, shape_errors, BodyTimeout, Methods};

const READ_ONLY: &[Method] = &[Method::GET, Method::HEAD];

#[handler]
fn healthz(state: Data<&AppState>) -> Response {
    if state.healthy() {
        Response::builder().content_type("application/json").body(r#"{"status":"ok"}"#)
    } else {
        tracing::error!("health check: the store does not accept writes");
        error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &ErrorBody { status: Some(503), message: "Service Unavailable".into(), detail: None },
        )
    }
}

pub fn app(state: AppState) -> impl Endpoint<Output = Response> {
    let api = service();
    let document = openapi_spec();
    // Swagger UI embeds the document it is given; give it the one /openapi.json serves. Both are
    // built once and shared by every answer (the UI page is 1.5 MB).
    let ui = bytes::Bytes::from(api.swagger_ui_html().replace(&api.spec(), &document));
    let document = bytes::Bytes::from(document);
    let page = move |content_type: &'static str, body: bytes::Bytes| {
        make_sync(move |_| Response::builder().content_type(content_type).body(body.clone()))
    };
    let mut undocumented: Vec<(String, &'static [Method])> =
        ["/openapi.json", "/docs", "/docs/", "/healthz"].into_iter().map(|p| (p.to_string(), READ_ONLY)).collect();
    let mut route = Route::new()
        .nest("/", api)
        .at("/openapi.json", page("application/json", document))
        .at("/docs", page("text/html; charset=utf-8", ui.clone()))
        .at("/docs/", page("text/html; charset=utf-8", ui))
        .at("/healthz", healthz);
    for plugin in bw_core::registry::http_plugins().unwrap_or(&[]) {
        for r in (plugin.routes)() {
            undocumented.push((r.path.to_string(), r.methods));
            route = route.at(r.path, r.endpoint);
        }
    }
    let methods = Methods { documented: Arc::new(RouteIndex::from_plugins()), undocumented: Arc::new(undocumented) };
    route
        .with(CatchPanic::new())
        .around(limit_body)
        .data(BodyTimeout(state.config.server.request_timeout))
        .around(admit)
        .around(shape_errors)
        .data(methods)
        .around(access_log)
        .data(state)
}
