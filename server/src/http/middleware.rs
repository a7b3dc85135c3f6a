//! The middleware every request passes, outermost first: access log, error shaping, method
//! and credential check on the request head, body limit.

use std::sync::Arc;
use std::time::Instant;

use bw_api::error::{error_response, ErrorBody};
use bw_api::route_index::RouteIndex;
use bw_api::AppState;
use poem::http::{Method, StatusCode};
use poem::{Body, Endpoint, IntoResponse, Request, Response};
use tokio::io::AsyncReadExt;

/// Bodies above this answer 413; the largest legitimate body is a repository with an RSA key.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Which methods every path takes: the documented operations, and the routes outside the
/// document (the document itself, Swagger UI, health, plugins' own routes).
#[derive(Clone)]
pub struct Methods {
    pub documented: Arc<RouteIndex>,
    pub undocumented: Arc<Vec<(String, &'static [Method])>>,
}

impl Methods {
    fn undocumented(&self, path: &str) -> Option<&'static [Method]> {
        self.undocumented.iter().find(|(p, _)| p == path).map(|(_, m)| *m)
    }

    /// What a request to `path` is counted under: its documented template, the path of a
    /// route outside the document, or `unmatched`.
    fn route_label(&self, path: &str) -> &str {
        if let Some(p) = self.documented.find(path) {
            return p.template();
        }
        match self.undocumented.iter().find(|(p, _)| p == path) {
            Some((p, _)) => p,
            None => bw_api::telemetry::UNMATCHED_ROUTE,
        }
    }

    /// The `Allow` header for `path`, when it is a known path.
    fn allow(&self, path: &str) -> Option<String> {
        if let Some(p) = self.documented.find(path) {
            return Some(p.allow());
        }
        self.undocumented(path).map(|m| m.iter().map(Method::as_str).collect::<Vec<_>>().join(", "))
    }
}

fn set_allow(resp: &mut Response, allow: Option<&str>) {
    if let Some(allow) = allow.and_then(|a| poem::http::HeaderValue::from_str(a).ok()) {
        resp.headers_mut().insert(poem::http::header::ALLOW, allow);
    }
}

fn method_not_allowed(allow: Option<&str>) -> Response {
    let mut resp = error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        &ErrorBody { status: None, message: "Method Not Allowed".into(), detail: None },
    );
    set_allow(&mut resp, allow);
    resp
}

/// RFC 9112, 3.2: a server answers 400 to an HTTP/1.1 request without `Host`, and to any
/// request with more than one `Host` line or one whose value is not `host[:port]`.
fn host_refusal(req: &Request) -> Option<String> {
    let mut hosts = req.headers().get_all(poem::http::header::HOST).iter();
    let Some(host) = hosts.next() else {
        return (req.version() == poem::http::Version::HTTP_11)
            .then(|| "Bad request: HTTP/1.1 requests must carry a Host header".into());
    };
    if hosts.next().is_some() {
        return Some("Bad request: more than one Host header".into());
    }
    let valid = host.to_str().ok().is_some_and(|h| {
        h.is_empty() || (!h.contains('@') && h.parse::<poem::http::uri::Authority>().is_ok_and(|a| a.as_str() == h))
    });
    (!valid).then(|| "Bad request: the Host header is not a host and port".into())
}

/// One of the operation's own query parameters given twice (`?repositoryName=a&repositoryName=b`):
/// which one the route would take is a guess, so none is. Others are not read, and stay
/// ignored.
fn repeated_query_parameter(req: &Request, documented: &[String]) -> Option<String> {
    let query = req.uri().query()?;
    let mut seen = std::collections::HashSet::new();
    form_urlencoded::parse(query.as_bytes())
        .map(|(name, _)| name)
        .filter(|name| documented.iter().any(|d| d == name))
        .find(|name| !seen.insert(name.clone()))
        .map(|name| format!("Bad request: the query parameter {name} is given more than once"))
}

/// On the request head, before any body is read: a method the path does not take gets 405
/// (a HEAD on an API route too: it must never run the GET's work), and an operation that
/// declares a security scheme gets its caller identified, or 401/403. The caller goes into the
/// request for the route's guard.
pub async fn admit<E: Endpoint>(ep: Arc<E>, mut req: Request) -> poem::Result<Response> {
    if let Some(message) = host_refusal(&req) {
        return Ok(error_response(StatusCode::BAD_REQUEST, &ErrorBody { status: None, message, detail: None }));
    }
    if let Some(uri) = literal_undecodable_segments(req.uri()) {
        *req.uri_mut() = uri;
    }
    let Some(methods) = req.data::<Methods>().cloned() else {
        return ep.call(req).await.map(IntoResponse::into_response);
    };
    let path = req.uri().path().to_string();
    if let Some(documented) = methods.documented.find(&path) {
        let Some(operation) = documented.operation(req.method()) else {
            return Ok(method_not_allowed(Some(&documented.allow())));
        };
        if let Some(message) = repeated_query_parameter(&req, &operation.query) {
            return Ok(error_response(StatusCode::BAD_REQUEST, &ErrorBody { status: None, message, detail: None }));
        }
        if !operation.schemes.is_empty() {
            let Some(state) = req.data::<AppState>().cloned() else {
                return Ok(bw_api::ApiError::internal("no state in the request").into_response());
            };
            match bw_api::auth::authenticate(&state, &req, &operation.schemes).await {
                Ok(principal) => {
                    req.extensions_mut().insert(principal);
                }
                Err(e) => return Ok(e.into_response()),
            }
        }
    } else if let Some(allowed) = methods.undocumented(&path) {
        if !allowed.contains(req.method()) {
            return Ok(method_not_allowed(methods.allow(&path).as_deref()));
        }
    }
    ep.call(req).await.map(IntoResponse::into_response)
}

/// A path segment whose percent-escapes do not decode to UTF-8 (`/api/repo/id/%FF`) is taken
/// literally, its `%` escaped, so that it reaches the route as the text the client sent (and
/// gets the route's own 404) instead of failing in the router as a malformed request.
fn literal_undecodable_segments(uri: &poem::http::Uri) -> Option<poem::http::Uri> {
    let path = uri.path();
    let decodes = |segment: &str| percent_encoding::percent_decode_str(segment).decode_utf8().is_ok();
    if decodes(path) {
        return None;
    }
    let fixed: Vec<String> =
        path.split('/').map(|seg| if decodes(seg) { seg.to_string() } else { seg.replace('%', "%25") }).collect();
    let mut path_and_query = fixed.join("/");
    if let Some(query) = uri.query() {
        path_and_query.push('?');
        path_and_query.push_str(query);
    }
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = path_and_query.parse().ok();
    poem::http::Uri::from_parts(parts).ok()
}

/// How long the body may take to arrive.
#[derive(Clone, Copy)]
pub struct BodyTimeout(pub std::time::Duration);

/// Reads the body up front, answering 413 past [`BODY_LIMIT`] whether or not the client sent
/// a `Content-Length`.
pub async fn limit_body<E: Endpoint>(ep: Arc<E>, mut req: Request) -> poem::Result<Response> {
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
pub async fn shape_errors<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    // Kept to name the allowed methods, should the answer be a 405.
    let methods = req.data::<Methods>().cloned();
    let path = req.uri().path().to_owned();
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
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (bw_api::error::UNSUPPORTED_MEDIA_TYPE, None, false),
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
        set_allow(&mut shaped, methods.and_then(|m| m.allow(&path)).as_deref());
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
/// latency. The `Authorization` header is never logged. Also counts the request, by route
/// template, for the metrics.
pub async fn access_log<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let counted = req.data::<AppState>().cloned().zip(req.data::<Methods>().cloned());
    let resp = ep.call(req).await?.into_response();
    if let Some((state, methods)) = counted {
        state.telemetry.request(methods.route_label(&path), method.as_str(), resp.status().as_u16());
    }
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
