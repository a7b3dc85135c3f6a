//! The HTTP application: plugin routes (documented and not), the OpenAPI document and Swagger
//! UI, and the middleware every request passes ([`middleware`]).

mod docs_page;
mod document;
pub mod middleware;

pub use document::openapi_spec;
use document::service;

use std::collections::HashMap;
use std::sync::Arc;

use bw_api::error::{error_response, ErrorBody};
use bw_api::route_index::RouteIndex;
use bw_api::AppState;
use poem::endpoint::make_sync;
use poem::endpoint::BoxEndpoint;
use poem::http::{Method, StatusCode};
use poem::middleware::CatchPanic;
use poem::web::Data;
use poem::{handler, Endpoint, EndpointExt, Request, Response, Route};

pub use middleware::BODY_LIMIT;
use middleware::{access_log, admit, limit_body, shape_errors, BodyTimeout, Methods};

const READ_ONLY: &[Method] = &[Method::GET, Method::HEAD];

#[handler]
fn healthz(state: Data<&AppState>) -> Response {
    if state.healthy() {
        let body = serde_json::json!({"status": "ok", "store": state.store_kind(), "periodicWork": state.leads()});
        Response::builder().content_type("application/json").body(body.to_string())
    } else {
        tracing::error!("health check: the store does not accept writes");
        error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &ErrorBody { status: Some(503), message: "Service Unavailable".into(), detail: None },
        )
    }
}

/// Routes outside the document by their exact path, then everything else.
struct ExactFirst {
    exact: HashMap<String, BoxEndpoint<'static>>,
    rest: BoxEndpoint<'static>,
}

impl Endpoint for ExactFirst {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        match self.exact.get(req.uri().path()) {
            Some(endpoint) => endpoint.call(req).await,
            None => self.rest.call(req).await,
        }
    }
}

pub fn app(state: AppState) -> impl Endpoint<Output = Response> {
    let api = service();
    let document = bytes::Bytes::from(openapi_spec());
    // Swagger UI embeds the document it is given; give it the one /openapi.json serves. The page
    // (1.5 MB, most of it Swagger UI's script) is built at its first request and then shared:
    // a host that never opens it never holds it.
    let ui: Arc<std::sync::OnceLock<docs_page::DocsPage>> = Arc::default();
    let page = move |content_type: &'static str, body: bytes::Bytes| {
        make_sync(move |_| Response::builder().content_type(content_type).body(body.clone()))
    };
    let ui_endpoint = || {
        let (ui, document) = (ui.clone(), document.clone());
        make_sync(move |_| {
            ui.get_or_init(|| {
                let api = service();
                docs_page::DocsPage::new(
                    api.swagger_ui_html().replace(&api.spec(), &String::from_utf8_lossy(&document)),
                )
            })
            .response()
        })
    };
    let mut undocumented: Vec<(String, &'static [Method])> =
        ["/openapi.json", "/docs", "/docs/", "/healthz"].into_iter().map(|p| (p.to_string(), READ_ONLY)).collect();
    let route = Route::new()
        .nest("/", api)
        .at("/openapi.json", page("application/json", document.clone()))
        .at("/docs", ui_endpoint())
        .at("/docs/", ui_endpoint())
        .at("/healthz", healthz);
    // Plugins' routes are matched on their exact path before the router: the OpenAPI service,
    // nested at "/", would otherwise answer "/" itself (the dashboard's page).
    let mut exact: HashMap<String, BoxEndpoint<'static>> = HashMap::new();
    for plugin in bw_api::registry::http_plugins().unwrap_or(&[]) {
        for r in (plugin.routes)() {
            undocumented.push((r.path.to_string(), r.methods));
            exact.insert(r.path.to_string(), r.endpoint);
        }
    }
    let methods = Methods { documented: Arc::new(RouteIndex::from_plugins()), undocumented: Arc::new(undocumented) };
    ExactFirst { exact, rest: route.boxed() }
        .with(CatchPanic::new())
        .around(limit_body)
        .data(BodyTimeout(state.config.server.request_timeout))
        .around(admit)
        .around(shape_errors)
        .around(access_log)
        .data(methods)
        .data(state)
}
