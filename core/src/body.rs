//! Request and answer bodies.
//!
//! Request bodies are read as bytes by [`JsonRequest`] and parsed only when the handler asks,
//! after it has checked the caller: an unauthenticated request gets 401 whatever its body, and
//! the contract's split holds (400 `Invalid request body` for what is not a JSON object, 422
//! `Unexpected data` for JSON that is not acceptable). The OpenAPI document still shows the
//! schema of the documented type `D`.

use std::marker::PhantomData;

use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use serde_json::{Map, Value};

use crate::ApiError;

/// A JSON request body, documented as `D`, parsed on demand. Any `Content-Type` is read as
/// JSON: curl scripts that forget the header still work.
pub struct JsonRequest<D> {
    bytes: Result<bytes::Bytes, String>,
    _doc: PhantomData<fn() -> D>,
}

impl<D> JsonRequest<D> {
    /// The body as a JSON object, or the contract's 400.
    pub fn object(&self) -> Result<Map<String, Value>, ApiError> {
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
        _request: &'a poem::Request,
        body: &mut poem::RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let bytes = match body.take() {
            Ok(b) => b.into_bytes().await.map_err(|e| format!("the body could not be read: {e}")),
            Err(_) => Ok(bytes::Bytes::new()),
        };
        Ok(JsonRequest { bytes, _doc: PhantomData })
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
/// schema: large, hot answers are cached as bytes instead of rebuilt per request.
pub struct PreJson<T> {
    bytes: bytes::Bytes,
    _doc: PhantomData<fn() -> T>,
}

impl<T> PreJson<T> {
    pub fn new(bytes: bytes::Bytes) -> Self {
        Self { bytes, _doc: PhantomData }
    }
}

impl<T: Type> poem_openapi::payload::Payload for PreJson<T> {
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry)
    }
}

impl<T> poem::IntoResponse for PreJson<T> {
    fn into_response(self) -> poem::Response {
        poem::Response::builder().content_type("application/json; charset=utf-8").body(self.bytes)
    }
}

impl<T: Type> poem_openapi::ApiResponse for PreJson<T> {
    fn meta() -> poem_openapi::registry::MetaResponses {
        use poem_openapi::payload::Payload;
        poem_openapi::registry::MetaResponses {
            responses: vec![poem_openapi::registry::MetaResponse {
                description: "",
                status: Some(200),
                status_range: None,
                content: vec![poem_openapi::registry::MetaMediaType {
                    content_type: Self::CONTENT_TYPE,
                    schema: Self::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry)
    }
}
