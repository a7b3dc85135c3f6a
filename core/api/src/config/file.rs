//! The configuration file, read and checked before figment merges it, so that every mistake in
//! it is answered with the file's path, the line where it is known, and what to do.

use std::io::ErrorKind;
use std::path::Path;

use super::{closest, keys, ConfigError};

/// The file's text once it is readable, valid TOML and holds only known keys.
pub(super) fn read_checked(path: &Path) -> Result<String, ConfigError> {
    let shown = path.display();
    if path.is_dir() {
        return Err(ConfigError(format!(
            "{shown} is a folder, not a configuration file; give the file's path (--config or BW_CONFIG), \
             e.g. {}",
            path.join("config.toml").display()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => ConfigError(format!(
            "config file {shown} does not exist; give the path of a TOML file (--config or BW_CONFIG), or \
             neither to use the defaults and the environment"
        )),
        ErrorKind::PermissionDenied => {
            let (name, uid) = match bw_host::users::effective_uid() {
                Ok(uid) => (bw_host::users::user_name(uid), uid.to_string()),
                Err(_) => ("this user".to_string(), "?".to_string()),
            };
            ConfigError(format!(
                "config file {shown} cannot be read by {name} (uid {uid}), which the server runs as (permission \
                 denied); make it readable for {name}: `chgrp {name} {shown} && chmod 0640 {shown}`"
            ))
        }
        _ => ConfigError(format!("config file {shown}: {e}")),
    })?;
    let text = String::from_utf8(bytes)
        .map_err(|_| ConfigError(format!("config file {shown} is not UTF-8 text; TOML files are")))?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let at = e.span().map(|s| position(&text, s.start)).map(|(l, c)| format!(", line {l}, column {c}"));
        ConfigError(format!(
            "config file {shown}{}: {}; each setting is `key = value`, text in double quotes \
             (docs/configuration.md lists every key)",
            at.unwrap_or_default(),
            e.message().trim_end()
        ))
    })?;
    let known = keys::accepted_keys();
    for key in table.keys() {
        if known.contains(key) {
            continue;
        }
        let hint = suggestion(&known, key)
            .map(|k| format!("did you mean `{k}`?"))
            .unwrap_or_else(|| "docs/configuration.md lists every key".to_string());
        return Err(ConfigError(format!(
            "config file {shown}{}: unknown key `{key}`; {hint}",
            line_of_key(&text, key).map(|l| format!(", line {l}")).unwrap_or_default()
        )));
    }
    Ok(text)
}

/// The known key a mistyped one most likely meant: the same name written as a variable
/// (`BW_LISTEN`, `LISTEN`), or the closest spelling.
fn suggestion<'k>(known: &'k [String], key: &str) -> Option<&'k str> {
    let lower = key.to_lowercase();
    let bare = lower.strip_prefix("bw_").unwrap_or(&lower);
    known.iter().find(|k| k.as_str() == bare).map(String::as_str).or_else(|| closest(known, bare))
}

/// 1-based line and column of a byte offset.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The 1-based line where `key` is set (`key = …` at the top level).
pub(super) fn line_of_key(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            let rest = l.strip_prefix(key).or_else(|| l.strip_prefix(&format!("\"{key}\"")));
            rest.is_some_and(|r| r.trim_start().starts_with('='))
        })
        .map(|i| i + 1)
}
