//! The fields of the repository bodies, each rule said once: its key, its schema in the
//! document and how a value is read, in the contract's words (see `bw_api::body_fields`). The
//! values come from `bw_api::limits` and `bw_host::ssh_key`.

use std::marker::PhantomData;

use bw_api::body_fields::Rule;
use bw_api::limits::{text_problem, Blank, ALERT_VALUES, ALIAS_MAX_CHARS, COMMENT_MAX_CHARS, STORAGE_GB};
use bw_host::ssh_key::{ClientKey, ALLOWED_TYPES};
use poem_openapi::registry::MetaSchema;
use serde_json::{json, Value};

/// Text without control characters (what `char::is_control` refuses: C0, DEL, C1).
const NO_CONTROL: &str = r"^[^\u0000-\u001F\u007F-\u009F]*$";

/// The same, and not blank: one character at least that is not white space, a control or a
/// format character ([`bw_api::limits::is_invisible`], from the same list).
fn not_blank() -> String {
    // Those of the Basic Multilingual Plane as `\uXXXX`; the others as the characters
    // themselves, which Python's `re` and ECMAScript's `u` mode (what validators use) both read
    // as one code point (neither reads the other's escape for them).
    let format: String = bw_api::limits::FORMAT_CHARS
        .iter()
        .map(|(lo, hi)| match *hi as u32 <= 0xFFFF {
            true => format!(r"\u{:04X}-\u{:04X}", *lo as u32, *hi as u32),
            false => format!("{lo}-{hi}"),
        })
        .collect();
    format!(r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F{format}][^\u0000-\u001F\u007F-\u009F]*$")
}

/// `icon`: BorgWarehouse 3.x's icon names.
pub const ICON_PATTERN: &str = "^Icon[A-Za-z0-9]{1,40}$";

fn text(key: &str, value: &Value, max: usize, blank: Blank) -> Result<String, String> {
    let Value::String(s) = value else { return Err(format!("{key} must be a string")) };
    match text_problem(key, s, max, blank) {
        Some(problem) => Err(problem),
        None => Ok(s.clone()),
    }
}

/// `alias`: not blank, at most [`ALIAS_MAX_CHARS`] characters, no control character.
pub struct Alias;

impl Rule for Alias {
    const KEY: &'static str = "alias";
    type Value = String;

    fn schema() -> MetaSchema {
        MetaSchema {
            min_length: Some(1),
            max_length: Some(ALIAS_MAX_CHARS),
            pattern: Some(not_blank()),
            ..MetaSchema::new("string")
        }
    }

    fn parse(value: &Value) -> Result<String, String> {
        text(Self::KEY, value, ALIAS_MAX_CHARS, Blank::Refused)
    }

    fn to_json(value: &String) -> Value {
        json!(value)
    }
}

/// `comment`: at most [`COMMENT_MAX_CHARS`] characters, no control character; may be empty.
pub struct Comment;

impl Rule for Comment {
    const KEY: &'static str = "comment";
    type Value = String;

    fn schema() -> MetaSchema {
        MetaSchema {
            max_length: Some(COMMENT_MAX_CHARS),
            pattern: Some(NO_CONTROL.into()),
            ..MetaSchema::new("string")
        }
    }

    fn parse(value: &Value) -> Result<String, String> {
        text(Self::KEY, value, COMMENT_MAX_CHARS, Blank::Allowed)
    }

    fn to_json(value: &String) -> Value {
        json!(value)
    }
}

/// `sshPublicKey`: one OpenSSH public key of an accepted type ([`ClientKey::parse`]).
pub struct SshPublicKey;

impl Rule for SshPublicKey {
    const KEY: &'static str = "sshPublicKey";
    type Value = ClientKey;

    fn schema() -> MetaSchema {
        let kinds: Vec<String> = ALLOWED_TYPES.iter().map(|k| k.replace('.', r"\.")).collect();
        let pattern = format!(r"^({}) [A-Za-z0-9+/]+={{0,2}}( [^\u0000-\u001F\u007F-\u009F]*)?$", kinds.join("|"));
        MetaSchema { pattern: Some(pattern), ..MetaSchema::new("string") }
    }

    fn parse(value: &Value) -> Result<ClientKey, String> {
        let Value::String(s) = value else { return Err(format!("{} must be a string", Self::KEY)) };
        ClientKey::parse(s)
    }

    fn to_json(value: &ClientKey) -> Value {
        json!(value.to_openssh())
    }
}

/// `storageSize`: a whole number of GB in [`STORAGE_GB`].
pub struct StorageSize;

impl Rule for StorageSize {
    const KEY: &'static str = "storageSize";
    type Value = u64;

    fn schema() -> MetaSchema {
        MetaSchema {
            minimum: Some(*STORAGE_GB.start() as f64),
            maximum: Some(*STORAGE_GB.end() as f64),
            ..MetaSchema::new_with_format("integer", "uint64")
        }
    }

    fn parse(value: &Value) -> Result<u64, String> {
        match value.as_u64() {
            Some(n) if STORAGE_GB.contains(&n) => Ok(n),
            _ => Err(format!(
                "{} must be a whole number of GB from {} to {}",
                Self::KEY,
                STORAGE_GB.start(),
                STORAGE_GB.end()
            )),
        }
    }

    fn to_json(value: &u64) -> Value {
        json!(value)
    }
}

/// `alert`: one of [`ALERT_VALUES`], in seconds; 0 turns alerts off.
pub struct Alert;

impl Rule for Alert {
    const KEY: &'static str = "alert";
    type Value = u64;

    fn schema() -> MetaSchema {
        MetaSchema {
            enum_items: ALERT_VALUES.iter().map(|v| json!(v)).collect(),
            ..MetaSchema::new_with_format("integer", "uint64")
        }
    }

    fn parse(value: &Value) -> Result<u64, String> {
        match value.as_u64() {
            Some(n) if ALERT_VALUES.contains(&n) => Ok(n),
            _ => Err(format!(
                "{} must be one of {}",
                Self::KEY,
                ALERT_VALUES.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
            )),
        }
    }

    fn to_json(value: &u64) -> Value {
        json!(value)
    }
}

/// The key of a true-or-false field.
pub trait FlagKey: Send + Sync + 'static {
    const KEY: &'static str;
}

/// A true-or-false field, whose key `K` names.
pub struct Flag<K>(PhantomData<K>);

/// `lanCommand`.
pub struct LanCommand;

impl FlagKey for LanCommand {
    const KEY: &'static str = "lanCommand";
}

/// `appendOnlyMode`.
pub struct AppendOnlyMode;

impl FlagKey for AppendOnlyMode {
    const KEY: &'static str = "appendOnlyMode";
}

/// `archived`, the archive route's one key.
pub struct Archived;

impl FlagKey for Archived {
    const KEY: &'static str = "archived";
}

impl<K: FlagKey> Rule for Flag<K> {
    const KEY: &'static str = K::KEY;
    type Value = bool;

    fn schema() -> MetaSchema {
        MetaSchema::new("boolean")
    }

    fn parse(value: &Value) -> Result<bool, String> {
        value.as_bool().ok_or_else(|| format!("{} must be true or false", Self::KEY))
    }

    fn to_json(value: &bool) -> Value {
        json!(value)
    }
}

/// `icon`: BorgWarehouse 3.x's icon name, [`ICON_PATTERN`].
pub struct Icon;

impl Rule for Icon {
    const KEY: &'static str = "icon";
    type Value = String;

    fn schema() -> MetaSchema {
        MetaSchema { pattern: Some(ICON_PATTERN.into()), ..MetaSchema::new("string") }
    }

    fn parse(value: &Value) -> Result<String, String> {
        let ok = value.as_str().filter(|s| {
            s.len() <= 44
                && s.strip_prefix("Icon")
                    .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
        });
        ok.map(str::to_string).ok_or_else(|| format!("{} must be a string matching {ICON_PATTERN}", Self::KEY))
    }

    fn to_json(value: &String) -> Value {
        json!(value)
    }
}

/// `storageTarget`: a string, read as given. Whether it names a configured target is a rule
/// against the settings, checked by the route (`None`: not a string, refused there too).
pub struct StorageTargetPath;

impl Rule for StorageTargetPath {
    const KEY: &'static str = "storageTarget";
    type Value = Option<String>;

    fn schema() -> MetaSchema {
        MetaSchema::new("string")
    }

    fn parse(value: &Value) -> Result<Option<String>, String> {
        Ok(value.as_str().map(str::to_string))
    }

    fn to_json(value: &Option<String>) -> Value {
        json!(value)
    }
}

/// `mode` of a key: `full` or `append-only` (`borg serve --append-only`).
pub struct Mode;

impl Rule for Mode {
    const KEY: &'static str = "mode";
    type Value = bw_store::repo_store::KeyMode;

    fn schema() -> MetaSchema {
        MetaSchema { enum_items: vec![json!("full"), json!("append-only")], ..MetaSchema::new("string") }
    }

    fn parse(value: &Value) -> Result<Self::Value, String> {
        use bw_store::repo_store::KeyMode;
        match value.as_str() {
            Some("full") => Ok(KeyMode::Full),
            Some("append-only") => Ok(KeyMode::AppendOnly),
            _ => Err(format!("{} must be \"full\" or \"append-only\"", Self::KEY)),
        }
    }

    fn to_json(value: &Self::Value) -> Value {
        json!(value)
    }
}

/// `name` of a key: the alias rules, but it may be empty.
pub struct KeyName;

impl Rule for KeyName {
    const KEY: &'static str = "name";
    type Value = String;

    fn schema() -> MetaSchema {
        MetaSchema { max_length: Some(ALIAS_MAX_CHARS), pattern: Some(NO_CONTROL.into()), ..MetaSchema::new("string") }
    }

    fn parse(value: &Value) -> Result<String, String> {
        text(Self::KEY, value, ALIAS_MAX_CHARS, Blank::Allowed)
    }

    fn to_json(value: &String) -> Value {
        json!(value)
    }
}
