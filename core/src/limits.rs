//! The contract's limits on repository fields, defined once: request validation, the import and
//! the OpenAPI document use these (the document's validators are literals in attributes; a test
//! compares them with these constants).

use std::ops::RangeInclusive;

/// `alias`: non-empty after trimming, at most this many characters.
pub const ALIAS_MAX_CHARS: usize = 100;
/// `comment`: at most this many characters (may be empty).
pub const COMMENT_MAX_CHARS: usize = 500;
/// `storageSize`, in GB.
pub const STORAGE_GB: RangeInclusive<u64> = 1..=1_000_000;
/// `alert`, in seconds; 0 turns alerts off.
pub const ALERT_VALUES: &[u64] =
    &[0, 3600, 21600, 43200, 90000, 172800, 259200, 345600, 432000, 518400, 604800, 864000, 1209600, 2592000];

/// Why a text field is refused, as a sentence naming it; `None` when it is acceptable.
pub fn text_problem(field: &str, value: &str, max: usize, allow_empty: bool) -> Option<String> {
    if !allow_empty && value.trim().is_empty() {
        return Some(format!("{field} must not be empty"));
    }
    if value.chars().count() > max {
        return Some(format!("{field} must be at most {max} characters"));
    }
    if value.chars().any(char::is_control) {
        return Some(format!("{field} must not contain control characters"));
    }
    None
}
