//! The HTTP application: plugin routes (documented and not), the OpenAPI document and Swagger
//! UI, and the middleware every request passes ([`middleware`]).

pub mod middleware;

use std::sync::Arc;

use bw_core::error::{error_response, ErrorBody};
use bw_core::routes::RouteIndex;
use bw_core::{AppState, PluginApis};
use poem::endpoint::make_sync;
use poem::http::{Method, StatusCode};
use poem::middleware::CatchPanic;
use poem::web::{Data, Html};
use poem::{handler, Endpoint, EndpointExt, Response, Route};
use poem_openapi::{LicenseObject, OpenApiService, ServerObject};

pub use middleware::BODY_LIMIT;
use middleware::{access_log, admit, limit_body, shape_errors, BodyTimeout, Methods};

const READ_ONLY: &[Method] = &[Method::GET, Method::HEAD];

fn service() -> OpenApiService<PluginApis, ()> {
    OpenApiService::new(PluginApis, "BorgWarehouse API", bw_core::VERSION)
        .description("Control plane of a BorgBackup server: repositories, API tokens and scheduled checks, compatible with BorgWarehouse clients.")
        .license(LicenseObject::new("AGPL-3.0-only").url("https://www.gnu.org/licenses/agpl-3.0.html"))
        .server(ServerObject::new("/").description("this server"))
}

/// The OpenAPI document of the plugins built in, as `/openapi.json` serves it. poem-openapi
/// leaves `security` out of an operation that has none, which a reader takes as "the
/// document's default"; a public operation says `security: []`.
pub fn openapi_spec() -> String {
    let generated = service().spec();
    let Ok(mut doc) = serde_json::from_str::<serde_json::Value>(&generated) else { return generated };
    if let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) {
        for operation in paths.values_mut().filter_map(|ops| ops.as_object_mut()).flat_map(|ops| ops.values_mut()) {
            if let Some(op) = operation.as_object_mut() {
                op.entry("security").or_insert_with(|| serde_json::json!([]));
            }
        }
    }
    serde_json::to_string_pretty(&doc).unwrap_or(generated)
}

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
    // Swagger UI embeds the document it is given; give it the one /openapi.json serves.
    let ui = api.swagger_ui_html().replace(&api.spec(), &document);
    let mut undocumented: Vec<(String, &'static [Method])> =
        ["/openapi.json", "/docs", "/docs/", "/healthz"].into_iter().map(|p| (p.to_string(), READ_ONLY)).collect();
    let mut route = Route::new()
        .nest("/", api)
        .at(
            "/openapi.json",
            make_sync(move |_| Response::builder().content_type("application/json").body(document.clone())),
        )
        .at("/docs", make_sync(move |_| Html(ui.clone())))
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
