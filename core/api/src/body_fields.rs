//! Request bodies described once. A body is a `#[derive(Object)]` struct whose fields are
//! [`Checked`] rules (or [`Given`] ones, for keys that may be left out). Each rule says, in one
//! place, its key, its schema in the document, and how a JSON value becomes it, in the
//! contract's words. [`JsonRequest::fields`] and [`Fields::parse`] then read a body in the
//! contract's order: a key the struct does not have, a key it requires, then the first field,
//! in the struct's order, whose rule refuses its value. Each refusal is a 422 naming the field.
//! Only the rules between fields (an edit needs one key) or against the settings (a storage
//! target) are left to the routes.

use std::borrow::Cow;
use std::marker::PhantomData;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::{Map, Value};

use crate::body::JsonRequest;
use crate::error::ApiError;

/// One field's rule.
pub trait Rule: Send + Sync + 'static {
    /// The key in the body, as the messages name it.
    const KEY: &'static str;
    /// What the field holds once accepted.
    type Value: Send + Sync;
    /// Its schema in the document (the field's own description is added by the struct).
    fn schema() -> MetaSchema;
    /// How the document shows it: the schema inline, unless the rule names a schema of its
    /// own (registered by [`Rule::register`]).
    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(Self::schema()))
    }
    /// Registers the schema [`Rule::schema_ref`] names, if any.
    fn register(_registry: &mut Registry) {}
    /// The value, or why it is refused, as a sentence naming [`Self::KEY`].
    fn parse(value: &Value) -> Result<Self::Value, String>;
    /// Why a body without this required key is refused.
    fn missing() -> String {
        format!("{} is required", Self::KEY)
    }
    /// The value as JSON again (documents and examples).
    fn to_json(value: &Self::Value) -> Value;
}

/// `tenant`: a tenant's name (a repository's, a scoped token's), 1 to 64 letters, digits, `_`,
/// `-` or `.`: one rule wherever a body names a tenant.
pub struct TenantName;

impl Rule for TenantName {
    const KEY: &'static str = "tenant";
    type Value = String;

    fn schema() -> MetaSchema {
        MetaSchema { pattern: Some("^[A-Za-z0-9_.-]{1,64}$".into()), ..MetaSchema::new("string") }
    }

    fn parse(value: &Value) -> Result<String, String> {
        match value.as_str() {
            Some(t) if bw_store::user_store::is_tenant_name(t) => Ok(t.to_string()),
            _ => Err(format!("{} must be 1 to 64 letters, digits, '_', '-' or '.'", Self::KEY)),
        }
    }

    fn to_json(value: &String) -> Value {
        serde_json::json!(value)
    }
}

/// A field accepted by its rule `R`.
pub struct Checked<R: Rule>(pub R::Value, PhantomData<R>);

impl<R: Rule> Checked<R> {
    pub fn into_inner(self) -> R::Value {
        self.0
    }
}

impl<R: Rule> Type for Checked<R> {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        format!("field_{}", R::KEY).into()
    }

    fn schema_ref() -> MetaSchemaRef {
        R::schema_ref()
    }

    fn register(registry: &mut Registry) {
        R::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl<R: Rule> ParseFromJSON for Checked<R> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(value) => R::parse(&value).map(|v| Checked(v, PhantomData)).map_err(own_words),
            None => Err(own_words(R::missing())),
        }
    }
}

impl<R: Rule> ToJSON for Checked<R> {
    fn to_json(&self) -> Option<Value> {
        Some(R::to_json(&self.0))
    }
}

/// A field that may be left out. Unlike `Option`, a `null` given is not "left out": its rule
/// answers it (the contract refuses `"alias": null`).
pub struct Given<T>(pub Option<T>);

impl<T> Given<T> {
    pub fn into_option(self) -> Option<T> {
        self.0
    }
}

impl<R: Rule> Given<Checked<R>> {
    /// The accepted value, if the key was given.
    pub fn value(self) -> Option<R::Value> {
        self.0.map(Checked::into_inner)
    }
}

impl<T: Type> Type for Given<T> {
    const IS_REQUIRED: bool = false;
    type RawValueType = T::RawValueType;
    type RawElementValueType = T::RawElementValueType;

    // The inner name, so an error passed up from the inner type gains no second "while
    // parsing" note.
    fn name() -> Cow<'static, str> {
        T::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        self.0.as_ref().and_then(Type::as_raw_value)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        match &self.0 {
            Some(v) => v.raw_element_iter(),
            None => Box::new(std::iter::empty()),
        }
    }

    fn is_none(&self) -> bool {
        self.0.is_none()
    }
}

impl<T: ParseFromJSON> ParseFromJSON for Given<T> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            None => Ok(Given(None)),
            Some(value) => T::parse_from_json(Some(value)).map(|v| Given(Some(v))).map_err(ParseError::propagate),
        }
    }
}

impl<T: ToJSON> ToJSON for Given<T> {
    fn to_json(&self) -> Option<Value> {
        self.0.as_ref().and_then(ToJSON::to_json)
    }
}

/// A rule's refusal, marked on both sides, so that what poem-openapi adds around it on its way
/// up ("failed to parse …", "occurred while parsing …") can be cut off again: the client gets
/// the rule's sentence alone, in the contract's words.
fn own_words<T: Type>(message: impl Into<String>) -> ParseError<T> {
    ParseError::custom(format!("{MARK}{}{MARK}", message.into()))
}

/// Marks a rule's sentence inside a parse error's message (a character no sentence holds).
const MARK: char = '\u{0}';

fn sentence(message: String) -> String {
    match message.split(MARK).nth(1) {
        Some(sentence) => sentence.to_string(),
        None => message,
    }
}

/// The keys of a body struct, in its order, and those it requires.
fn keys_of<D: Type>() -> (Vec<&'static str>, Vec<&'static str>) {
    let mut registry = Registry::new();
    D::register(&mut registry);
    let schema = registry.schemas.get(&*D::name());
    let keys = schema.map(|s| s.properties.iter().map(|(k, _)| *k).collect()).unwrap_or_default();
    let required = schema.map(|s| s.required.clone()).unwrap_or_default();
    (keys, required)
}

/// How a body's refusals are answered: the repository routes' 422 with a detail, or the token
/// routes' 400 with a message, each in their own words.
pub struct Refusals {
    /// A body that is not a JSON object (the error [`JsonRequest::object`] gives).
    pub not_an_object: fn(ApiError) -> ApiError,
    /// A key or a value refused, with the sentence that says why.
    pub refused: fn(String) -> ApiError,
    /// The sentence for a key the body may not have: the key (cut to 40 characters) and the
    /// keys it may have.
    pub unknown_key: fn(&str, &str) -> String,
    /// Every required key asked for before any value is read (the repository routes), or each
    /// in its turn by its rule ([`Rule::missing`]; the token routes).
    pub required_first: bool,
}

/// The repository routes' answers: 422 "Unexpected data" with a detail.
pub const UNEXPECTED_DATA: Refusals = Refusals {
    not_an_object: |e| e,
    refused: ApiError::UnexpectedData,
    unknown_key: |key, keys| format!("unknown field {key:?}; allowed: {keys}"),
    required_first: true,
};

/// A body whose keys are the struct's, its required keys all there, its values not yet read.
pub struct Fields<D> {
    map: Map<String, Value>,
    keys: Vec<&'static str>,
    refused: fn(String) -> ApiError,
    _body: PhantomData<D>,
}

impl<D: ParseFromJSON> Fields<D> {
    /// No key at all.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The keys the body may have, in the struct's order, for a message.
    pub fn keys(&self) -> String {
        self.keys.join(", ")
    }

    /// Each field read by its rule, in the struct's order; the first refusal is the answer.
    pub fn parse(self) -> Result<D, ApiError> {
        D::parse_from_json(Some(Value::Object(self.map))).map_err(|e| (self.refused)(sentence(e.into_message())))
    }
}

impl<D: ParseFromJSON> JsonRequest<D> {
    /// The body's keys checked against `D`, answered as the repository routes answer
    /// ([`UNEXPECTED_DATA`]).
    pub fn fields(&self) -> Result<Fields<D>, ApiError> {
        self.fields_with(&UNEXPECTED_DATA)
    }

    /// The body's keys checked against `D`: a body that is not a JSON object, then a key `D`
    /// does not have, then (when `refusals` asks for it first) a key it requires.
    pub fn fields_with(&self, refusals: &Refusals) -> Result<Fields<D>, ApiError> {
        let map = self.object().map_err(|e| match e {
            ApiError::UnsupportedMediaType => e,
            other => (refusals.not_an_object)(other),
        })?;
        let (keys, required) = keys_of::<D>();
        if let Some(k) = map.keys().find(|k| !keys.contains(&k.as_str())) {
            let shown: String = k.chars().take(40).collect();
            return Err((refusals.refused)((refusals.unknown_key)(&shown, &keys.join(", "))));
        }
        if refusals.required_first {
            if let Some(missing) = required.iter().find(|k| !map.contains_key(**k)) {
                return Err((refusals.refused)(format!("{missing} is required")));
            }
        }
        Ok(Fields { map, keys, refused: refusals.refused, _body: PhantomData })
    }
}
