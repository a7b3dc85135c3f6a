//! What every kind of registration shares: the entries `inventory` collected, walked once,
//! sorted by name (inventory gives no order, and a stable order keeps the OpenAPI document and
//! the help stable), and refused when two share a name.

use std::sync::OnceLock;

/// Two plugins of one kind share a name (a feature or crate built in twice).
#[derive(Debug, Clone, thiserror::Error)]
#[error("two {kind} plugins are named {name:?}; each plugin needs a name of its own (check the features and crates built in)")]
pub struct DuplicatePlugin {
    pub kind: &'static str,
    pub name: &'static str,
}

pub(crate) type Registered<T> = OnceLock<Result<Vec<&'static T>, DuplicatePlugin>>;

pub(crate) fn sorted<T: 'static>(
    items: impl Iterator<Item = &'static T>,
    name: fn(&T) -> &'static str,
    kind: &'static str,
) -> Result<Vec<&'static T>, DuplicatePlugin> {
    let mut v: Vec<&'static T> = items.collect();
    v.sort_by_key(|p| name(p));
    for w in v.windows(2) {
        if name(w[0]) == name(w[1]) {
            return Err(DuplicatePlugin { kind, name: name(w[0]) });
        }
    }
    Ok(v)
}
