//! The rules a user's name, email and tenant follow, wherever they come from (the API, the
//! command line, an import).

/// A name a new user may have: what a URL path and a log line carry plainly.
pub fn is_user_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'@'))
}

/// An email address as far as a store can tell: one `@`, something on each side, no space or
/// control character, at most 254 bytes.
pub fn is_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else { return false };
    email.len() <= 254
        && !local.is_empty()
        && domain.contains('.')
        && !domain.contains('@')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.chars().all(|c| !c.is_whitespace() && !c.is_control())
}

/// A tenant's name follows the alias rules' safe part: letters, digits, `_`, `-`, `.`, 1-64.
pub fn is_tenant_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}
