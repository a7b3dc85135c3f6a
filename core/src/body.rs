//! Request bodies taken as raw JSON but documented with a typed schema.
//!
//! poem-openapi's typed parsing answers 400 for a wrong field type, while the contract wants
//! 422 `Unexpected data` for anything that is JSON but not acceptable, and 400 only for a body
//! that is not JSON at all. So the payload keeps the parsed `serde_json::Value` and the plugin
//! validates it; the OpenAPI document still shows the schema of `D`.

use std::borrow::Cow;
use std::marker::PhantomData;

use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::{ParseFromJSON, ParseResult, ToJSON, Type};

use serde_json::{Map, Value};

use crate::ApiError;

pub struct JsonBody<D> {
    pub value: Value,
    _doc: PhantomData<fn() -> D>,
}

impl<D> JsonBody<D> {
    pub fn new(value: Value) -> Self {
        Self { value, _doc: PhantomData }
    }

    /// The body as an object, or the contract's 400.
    pub fn into_object(self) -> Result<Map<String, Value>, ApiError> {
        match self.value {
            Value::Object(map) => Ok(map),
            _ => Err(ApiError::InvalidBody("the body must be a JSON object".into())),
        }
    }
}

impl<D: Type> Type for JsonBody<D> {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        D::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        D::schema_ref()
    }

    fn register(registry: &mut Registry) {
        D::register(registry)
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl<D: Type> ParseFromJSON for JsonBody<D> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        Ok(Self::new(value.unwrap_or(Value::Null)))
    }
}

impl<D: Type> ToJSON for JsonBody<D> {
    fn to_json(&self) -> Option<Value> {
        Some(self.value.clone())
    }
}

/// `{"message": "..."}`: the success answer of edits and deletes.
#[derive(poem_openapi::Object, Debug, Clone, PartialEq)]
pub struct Message {
    pub message: String,
}

impl Message {
    pub fn success() -> poem_openapi::payload::Json<Message> {
        poem_openapi::payload::Json(Message { message: "success".into() })
    }
}

/// `{"success": "..."}`: the answer of a cron route.
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
