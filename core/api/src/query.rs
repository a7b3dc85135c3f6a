//! Query parameters the routes read as text, so that a bad value gets the contract's 400 naming
//! the parameter (poem-openapi's own parsing would answer in its words).

use crate::error::{ApiError, ApiResult};

/// A count or position (`limit`, `offset`): a plain decimal from `min` to `max`, or the
/// contract's 400 naming it.
pub fn whole_number(value: Option<&str>, name: &str, min: usize, max: usize) -> ApiResult<Option<usize>> {
    let Some(text) = value else { return Ok(None) };
    let plain = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    // A whole number too large for this machine is still a whole number: with no upper
    // bound (an offset) it is past the end, as the document's schema allows any integer.
    let parsed = plain.then(|| text.parse::<usize>().ok().or((max == usize::MAX).then_some(usize::MAX))).flatten();
    match parsed {
        Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ if max == usize::MAX => Err(ApiError::BadRequest(format!("{name} must be a whole number from {min}"))),
        _ => Err(ApiError::BadRequest(format!("{name} must be a whole number from {min} to {max}"))),
    }
}
