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

/// Whether a text field may be blank (`comment`) or not (`alias`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blank {
    Allowed,
    Refused,
}

/// Why a text field is refused, as a sentence naming it; `None` when it is acceptable.
pub fn text_problem(field: &str, value: &str, max: usize, blank: Blank) -> Option<String> {
    if blank == Blank::Refused && value.chars().all(is_invisible) {
        return Some(format!("{field} must not be empty (white space and invisible format characters do not count)"));
    }
    if value.chars().count() > max {
        return Some(format!("{field} must be at most {max} characters"));
    }
    if value.chars().any(char::is_control) {
        return Some(format!("{field} must not contain control characters"));
    }
    None
}

/// The format characters (Unicode category Cf, all of it as of Unicode 16): zero-width spaces
/// and joiners, direction marks and overrides, the byte order mark, and those of the other
/// planes (Kaithi number signs, Egyptian hieroglyph and shorthand format controls, musical
/// beams, tags). They show nothing, so a text of them alone is as blank as white space. Listed,
/// not looked up, because the document's pattern must name the very same ranges (JSON Schema
/// patterns have no `\p{Cf}`).
pub const FORMAT_CHARS: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

/// A character that shows nothing: white space (Rust's, plus U+FEFF, which the document's
/// `\s` also counts), a control character, or a format character.
pub fn is_invisible(c: char) -> bool {
    c.is_whitespace() || c.is_control() || FORMAT_CHARS.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_of_invisible_characters_alone_is_blank() {
        for blank in [
            "",
            " ",
            "\u{FEFF}",
            "\u{200B}\u{200D}",
            "\u{202E} \u{2066}",
            "\u{00A0}\u{3000}",
            "\u{E0020}\u{E0001}\u{1D173}\u{13430}\u{110BD}",
        ] {
            assert!(
                text_problem("alias", blank, 100, Blank::Refused).is_some_and(|p| p.contains("empty")),
                "{blank:?}"
            );
        }
        for shown in ["a", "\u{FEFF}a", "👨\u{200D}👩", "日本"] {
            assert_eq!(text_problem("alias", shown, 100, Blank::Refused), None, "{shown:?}");
        }
    }
}
