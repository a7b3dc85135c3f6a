//! The HTTP application: plugin routes, the OpenAPI document and Swagger UI, and the
//! middleware every request passes (body limit, panic catching, error shaping, access log).

use std::time::Instant;

use bw_core::error::{error_response, ErrorBody};
use bw_core::{AppState, PluginApis};
use poem::http::StatusCode;
use poem::middleware::CatchPanic;
use poem::web::Data;
use poem::{handler, Body, Endpoint, EndpointExt, IntoResponse, Request, Response, Route};
use poem_openapi::OpenApiService;
use tokio::io::AsyncReadExt;

/// Bodies above this answer 413; the largest legitimate body is a repository with an RSA key.
pub const BODY_LIMIT: usize = 64 * 1024;

fn service() -> OpenApiService<PluginApis, ()> {
    OpenApiService::new(PluginApis, "BorgWarehouse API", bw_core::VERSION)
        .description("Control plane of a BorgBackup server: repositories, API tokens and scheduled checks, compatible with BorgWarehouse clients.")
}

/// The OpenAPI document of the plugins built in, as `/openapi.json` serves it.
pub fn openapi_spec() -> String {
    service().spec()
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

/// Which methods each documented path takes, for the `Allow` header of a 405.
#[derive(Clone)]
struct AllowedMethods(std::sync::Arc<Vec<(Vec<String>, String)>>);

impl AllowedMethods {
    fn from_plugins() -> Self {
        use poem_openapi::OpenApi;
        let mut by_path: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for api in PluginApis::meta() {
            for path in api.paths {
                let methods = by_path.entry(path.path.clone()).or_default();
                methods.extend(path.operations.iter().map(|o| o.method.to_string()));
            }
        }
        let table = by_path
            .into_iter()
            .map(|(path, mut methods)| {
                methods.sort();
                methods.dedup();
                (path.split('/').map(str::to_string).collect(), methods.join(", "))
            })
            .collect();
        AllowedMethods(std::sync::Arc::new(table))
    }

    /// The methods of the documented path `path` matches (`{param}` matches any segment).
    fn for_path(&self, path: &str) -> Option<&str> {
        let segments: Vec<&str> = path.split('/').collect();
        self.0.iter().find_map(|(template, methods)| {
            let matches = template.len() == segments.len()
                && template.iter().zip(&segments).all(|(t, s)| (t.starts_with(':') || t.starts_with('{')) || t == s);
            matches.then_some(methods.as_str())
        })
    }
}

pub fn app(state: AppState) -> impl Endpoint<Output = Response> {
    let api = service();
    let spec = api.spec_endpoint();
    let ui = api.swagger_ui();
    Route::new()
        .nest("/", api)
        .at("/openapi.json", spec)
        .nest("/docs", ui)
        .at("/healthz", healthz)
        .with(CatchPanic::new())
        .around(limit_body)
        .data(BodyTimeout(state.config.request_timeout))
        .around(shape_errors)
        .data(AllowedMethods::from_plugins())
        .around(access_log)
        .data(state)
}

/// How long the body may take to arrive.
#[derive(Clone, Copy)]
struct BodyTimeout(std::time::Duration);

/// Reads the body up front, answering 413 past [`BODY_LIMIT`] whether or not the client sent
/// a `Content-Length`.
async fn limit_body<E: Endpoint>(ep: std::sync::Arc<E>, mut req: Request) -> poem::Result<Response> {
    let too_large = || {
        error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            &ErrorBody {
                status: None,
                message: "Payload Too Large".into(),
                detail: Some(format!("request bodies are limited to {BODY_LIMIT} bytes")),
            },
        )
    };
    let declared = req
        .headers()
        .get(poem::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if matches!(declared, Some(n) if n > BODY_LIMIT as u64) {
        return Ok(too_large());
    }
    let mut buf = Vec::new();
    let timeout = req.data::<BodyTimeout>().map(|t| t.0).unwrap_or(std::time::Duration::from_secs(30));
    let mut reader = req.take_body().into_async_read().take(BODY_LIMIT as u64 + 1);
    match tokio::time::timeout(timeout, reader.read_to_end(&mut buf)).await {
        Err(_) => {
            return Ok(error_response(
                StatusCode::REQUEST_TIMEOUT,
                &ErrorBody {
                    status: None,
                    message: "Request Timeout".into(),
                    detail: Some("the body did not arrive in time".into()),
                },
            ));
        }
        Ok(Err(_)) => {
            return Ok(error_response(
                StatusCode::BAD_REQUEST,
                &ErrorBody {
                    status: None,
                    message: "Invalid request body".into(),
                    detail: Some("the body could not be read".into()),
                },
            ));
        }
        Ok(Ok(_)) => {}
    }
    if buf.len() > BODY_LIMIT {
        return Ok(too_large());
    }
    req.set_body(Body::from(buf));
    ep.call(req).await.map(IntoResponse::into_response)
}

/// Gives every error answer the contract's JSON shape, including the ones poem and
/// poem-openapi produce themselves (unknown path, wrong method, unparsable body, panics).
async fn shape_errors<E: Endpoint>(ep: std::sync::Arc<E>, req: Request) -> poem::Result<Response> {
    let allow = req.data::<AllowedMethods>().and_then(|a| a.for_path(req.uri().path())).map(str::to_string);
    let resp = match ep.call(req).await {
        Ok(r) => r.into_response(),
        Err(e) => e.into_response(),
    };
    let status = resp.status();
    if status.as_u16() < 400 || is_json(&resp) {
        return Ok(resp);
    }
    let (message, detail, with_status): (&str, Option<String>, bool) = match status {
        StatusCode::NOT_FOUND => ("Not Found", None, false),
        StatusCode::METHOD_NOT_ALLOWED => ("Method Not Allowed", None, false),
        StatusCode::BAD_REQUEST => ("Invalid request body", Some(resp_text(resp).await), false),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ("Unsupported Media Type", Some("send the body as JSON with Content-Type: application/json".into()), false)
        }
        StatusCode::PAYLOAD_TOO_LARGE => ("Payload Too Large", None, false),
        s if s.is_server_error() => {
            let body = resp_text(resp).await;
            tracing::error!(status = s.as_u16(), body = %body, "internal error");
            ("Internal Server Error", None, true)
        }
        s => (s.canonical_reason().unwrap_or("Error"), None, false),
    };
    let status = if status.is_server_error() { StatusCode::INTERNAL_SERVER_ERROR } else { status };
    let mut shaped = error_response(
        status,
        &ErrorBody { status: with_status.then_some(status.as_u16()), message: message.into(), detail },
    );
    if status == StatusCode::METHOD_NOT_ALLOWED {
        if let Some(allow) = allow.and_then(|a| poem::http::HeaderValue::from_str(&a).ok()) {
            shaped.headers_mut().insert(poem::http::header::ALLOW, allow);
        }
    }
    Ok(shaped)
}

fn is_json(resp: &Response) -> bool {
    resp.content_type().map(|c| c.starts_with("application/json")).unwrap_or(false)
}

async fn resp_text(resp: Response) -> String {
    let text = resp.into_body().into_string().await.unwrap_or_default();
    text.chars().take(300).collect()
}

/// One line per request: method, path (never the query, which may hold a cron key), status,
/// latency. The `Authorization` header is never logged.
async fn access_log<E: Endpoint>(ep: std::sync::Arc<E>, req: Request) -> poem::Result<Response> {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let resp = ep.call(req).await?.into_response();
    tracing::info!(
        target: "access",
        method = %method,
        path = %path,
        status = resp.status().as_u16(),
        latency_ms = start.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    Ok(resp)
}
