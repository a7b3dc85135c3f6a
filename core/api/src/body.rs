//! Request and answer bodies.
//!
//! Request bodies are read as bytes by [`JsonRequest`] and parsed only when the handler asks,
//! after it has checked the caller: an unauthenticated request gets 401 whatever its body, and
//! the contract's split holds (400 `Invalid request body` for what is not a JSON object, 422
//! `Unexpected data` for JSON that is not acceptable). The OpenAPI document still shows the
//! schema of the documented type `D`.

use std::marker::PhantomData;

use poem_openapi::registry::{MetaMediaType, MetaRequest, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// A JSON request body, documented as `D`, parsed on demand. It must be sent as
/// `application/json` (BorgWarehouse's own API parses no other type either): a body sent as
/// text or a form, or in another charset, is refused with 415 rather than guessed at.
pub struct JsonRequest<D> {
    bytes: Result<bytes::Bytes, String>,
    json: bool,
    _doc: PhantomData<fn() -> D>,
}

/// `application/json`, with no parameter but a utf-8 charset (JSON is UTF-8, RFC 8259).
fn is_json_content_type(value: Option<&str>) -> bool {
    let Some(value) = value else { return false };
    let mut parts = value.split(';').map(str::trim);
    if !parts.next().is_some_and(|t| t.eq_ignore_ascii_case("application/json")) {
        return false;
    }
    parts.filter(|p| !p.is_empty()).all(|p| {
        let (name, val) = p.split_once('=').unwrap_or((p, ""));
        name.trim().eq_ignore_ascii_case("charset") && val.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
    })
}

impl<D> JsonRequest<D> {
    /// The body's fields as sent, for an audit entry once the change they made is accepted
    /// (the entry drops any that name a secret); `{}` for a body that is not an object.
    pub fn sent_fields(&self) -> Value {
        Value::Object(self.object().unwrap_or_default())
    }

    /// The body as a JSON object, or the contract's 400.
    pub(crate) fn object(&self) -> Result<Map<String, Value>, ApiError> {
        if !self.json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = self.bytes.as_ref().map_err(|e| ApiError::InvalidBody(e.clone()))?;
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(ApiError::InvalidBody("the body must be a JSON object".into())),
            Err(e) => Err(ApiError::InvalidBody(format!("the body is not JSON: {e}"))),
        }
    }
}

impl<'a, D: Type> ApiExtractor<'a> for JsonRequest<D> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        D::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType { content_type: "application/json", schema: D::schema_ref() }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a poem::Request,
        body: &mut poem::RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let bytes = match body.take() {
            Ok(b) => b.into_bytes().await.map_err(|e| format!("the body could not be read: {e}")),
            Err(_) => Ok(bytes::Bytes::new()),
        };
        let content_type = request.headers().get(poem::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        Ok(JsonRequest { bytes, json: is_json_content_type(content_type), _doc: PhantomData })
    }
}

/// The plain answer as a body: the kept bytes of a small list, else inflated from the gzipped
/// copy as the client reads it, in chunks of [`bw_store::memory::LIST_CHUNK`], each its own
/// mapping, handed back to the system when sent.
fn plain_body(answer: &crate::list_answer::ListAnswer) -> poem::Body {
    match answer.plain_bytes() {
        Some(bytes) => poem::Body::from_bytes(bytes),
        None => poem::Body::from_bytes_stream(tokio_util::io::ReaderStream::with_capacity(
            answer.plain_reader(),
            bw_store::memory::LIST_CHUNK,
        )),
    }
}

#[cfg(test)]
mod content_type_tests {
    use super::is_json_content_type as json;

    #[test]
    fn only_application_json_in_utf_8_is_json() {
        for ok in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=\"UTF-8\"",
        ] {
            assert!(json(Some(ok)), "{ok}");
        }
        for refused in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/json; charset=latin1",
            "application/jsonx",
            "application/merge-patch+json",
            "application/json; boundary=x",
        ] {
            assert!(!json(Some(refused)), "{refused}");
        }
        assert!(!json(None));
    }
}

/// Done: `{"message":"success"}`.
#[derive(poem_openapi::Object, Debug, Clone, PartialEq)]
pub struct Message {
    pub message: String,
}

impl Message {
    pub fn success() -> poem_openapi::payload::Json<Message> {
        poem_openapi::payload::Json(Message { message: "success".into() })
    }
}

/// The check ran: `{"success":"..."}`.
#[derive(poem_openapi::Object, Debug, Clone, PartialEq)]
pub struct CronSuccess {
    pub success: String,
}

/// A JSON answer serialized once (with serde, straight to bytes) and documented with `T`'s
/// schema, with its entity tag: 200 with `ETag`, or 304 (no body) when the client's
/// `If-None-Match` names it. Large, hot answers are cached as bytes; pollers that already have
/// them get 304.
pub enum TaggedJson<T> {
    /// The answer, gzipped when `gzip` is set (`Content-Encoding: gzip`), else inflated as it
    /// is sent.
    Fresh {
        list: crate::list_answer::ListAnswer,
        etag: String,
        gzip: bool,
        _doc: PhantomData<fn() -> T>,
    },
    NotModified {
        etag: String,
    },
    /// An answer made for this request alone (a page): no tag.
    Untagged {
        bytes: bytes::Bytes,
        _doc: PhantomData<fn() -> T>,
    },
}

impl<T> TaggedJson<T> {
    pub fn untagged(bytes: bytes::Bytes) -> Self {
        TaggedJson::Untagged { bytes, _doc: PhantomData }
    }

    /// The answer to a request with these `If-None-Match` and `Accept-Encoding` headers: 304
    /// when the client holds this answer, gzipped when it accepts gzip. The gzipped
    /// representation has its own tag, and either tag stands for the answer in `If-None-Match`.
    pub fn answer(
        list: crate::list_answer::ListAnswer,
        if_none_match: Option<&str>,
        accept_encoding: Option<&str>,
    ) -> Self {
        let gzip = accept_encoding.is_some_and(accepts_gzip);
        let gz_tag = format!("{}-gz\"", list.etag.trim_end_matches('"'));
        let held = if_none_match.is_some_and(|h| matches_etag(h, &list.etag) || matches_etag(h, &gz_tag));
        let etag = if gzip { gz_tag } else { list.etag.clone() };
        match (held, gzip) {
            (true, _) => TaggedJson::NotModified { etag },
            (false, gzip) => TaggedJson::Fresh { list, etag, gzip, _doc: PhantomData },
        }
    }
}

/// `Accept-Encoding` names gzip (or `*`) without `q=0`.
fn accepts_gzip(header: &str) -> bool {
    header.split(',').any(|part| {
        let mut fields = part.split(';').map(str::trim);
        let coding = fields.next().unwrap_or_default();
        let refused = fields
            .any(|f| f.replace(' ', "").strip_prefix("q=").is_some_and(|q| q.parse::<f32>().is_ok_and(|q| q == 0.0)));
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
    })
}

/// `If-None-Match`: `*`, or a list of tags, weak (`W/"x"`) or strong, compared weakly.
fn matches_etag(header: &str, etag: &str) -> bool {
    header.split(',').map(str::trim).any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
}

fn etag_header() -> poem_openapi::registry::MetaHeader {
    poem_openapi::registry::MetaHeader {
        name: "ETag".into(),
        description: Some(
            "Names this answer (whole lists; a page has none); send it back as If-None-Match to get 304 while nothing changed"
                .into(),
        ),
        required: false,
        deprecated: false,
        schema: String::schema_ref(),
    }
}

impl<T> poem::IntoResponse for TaggedJson<T> {
    fn into_response(self) -> poem::Response {
        match self {
            TaggedJson::Fresh { list, etag, gzip, .. } => {
                let resp = poem::Response::builder()
                    .content_type("application/json; charset=utf-8")
                    .header(poem::http::header::ETAG, etag)
                    // Caches keep the gzipped and the plain answer apart.
                    .header(poem::http::header::VARY, "Accept-Encoding");
                if gzip {
                    resp.header(poem::http::header::CONTENT_ENCODING, "gzip")
                        .header(poem::http::header::CONTENT_LENGTH, list.gzip_len())
                        .body(poem::Body::from_bytes_stream(tokio_util::io::ReaderStream::with_capacity(
                            list.gzip_reader(),
                            bw_store::memory::LIST_CHUNK,
                        )))
                } else {
                    // Streamed with its length known, so clients see a Content-Length.
                    resp.header(poem::http::header::CONTENT_LENGTH, list.plain_len()).body(plain_body(&list))
                }
            }
            TaggedJson::NotModified { etag } => poem::Response::builder()
                .status(poem::http::StatusCode::NOT_MODIFIED)
                .header(poem::http::header::ETAG, etag)
                .finish(),
            TaggedJson::Untagged { bytes, .. } => {
                poem::Response::builder().content_type("application/json; charset=utf-8").body(bytes)
            }
        }
    }
}

impl<T: Type> poem_openapi::ApiResponse for TaggedJson<T> {
    fn meta() -> poem_openapi::registry::MetaResponses {
        poem_openapi::registry::MetaResponses {
            responses: vec![
                poem_openapi::registry::MetaResponse {
                    description: "",
                    status: Some(200),
                    status_range: None,
                    content: vec![poem_openapi::registry::MetaMediaType {
                        content_type: "application/json; charset=utf-8",
                        schema: T::schema_ref(),
                    }],
                    headers: vec![etag_header()],
                },
                poem_openapi::registry::MetaResponse {
                    description: "Not Modified: the answer is still the one If-None-Match names",
                    status: Some(304),
                    status_range: None,
                    content: vec![],
                    headers: vec![etag_header()],
                },
            ],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn accept_encoding() {
        for yes in ["gzip", "deflate, gzip;q=0.5", "*", "GZIP", "br, gzip; q=1.0"] {
            assert!(super::accepts_gzip(yes), "{yes}");
        }
        for no in ["deflate", "gzip;q=0", "gzip; q=0.0, br", "identity", ""] {
            assert!(!super::accepts_gzip(no), "{no}");
        }
    }

    #[test]
    fn if_none_match_compares_weakly_and_takes_lists_and_star() {
        let tag = "\"abc-1\"";
        for header in ["\"abc-1\"", "W/\"abc-1\"", "\"x\", \"abc-1\"", "*"] {
            assert!(super::matches_etag(header, tag), "{header}");
        }
        for header in ["\"abc-2\"", "abc-1", ""] {
            assert!(!super::matches_etag(header, tag), "{header}");
        }
    }
}
