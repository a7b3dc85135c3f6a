//! How a repository record is kept in the store: one version byte, then the fields in
//! postcard's compact binary form (about 150 bytes, against 420 as JSON with field names).
//! sled keeps in memory every page it has read, whatever its cache setting, so at 100,000
//! repositories the size of a record is the size of the store in memory.
//!
//! Records written as JSON by earlier versions are read too, and rewritten in this form at the
//! first start (see [`super::RepoStore::open`]).

use serde::{Deserialize, Serialize};

use super::Repo;
use crate::store_error::{StoreError, StoreResult};

/// The first byte of a record in this form; a JSON record starts with `{`.
const V2: u8 = 2;

/// Every field of [`Repo`], in a fixed order (postcard has no field names: adding a field
/// means a new version byte).
#[derive(Serialize, Deserialize)]
struct StoredV2<'a> {
    /// When the record was written, from sled's persistent monotonic counter: a checks file
    /// saved earlier than this holds older check figures for it (see [`super::checks_file`]).
    seq: u64,
    id: u64,
    alias: std::borrow::Cow<'a, str>,
    repository_name: std::borrow::Cow<'a, str>,
    status: bool,
    last_save: i64,
    alert: u64,
    storage_size: u64,
    storage_used: u64,
    ssh_public_key: std::borrow::Cow<'a, str>,
    comment: std::borrow::Cow<'a, str>,
    display_details: bool,
    lan_command: bool,
    append_only_mode: bool,
    last_status_alert_send: Option<i64>,
    archived: bool,
    icon: Option<std::borrow::Cow<'a, str>>,
    storage_target: Option<std::borrow::Cow<'a, str>>,
    imported_status: Option<bool>,
}

pub(super) fn encode_record(r: &Repo, seq: u64) -> StoreResult<Vec<u8>> {
    use std::borrow::Cow::Borrowed;
    let stored = StoredV2 {
        seq,
        id: r.id,
        alias: Borrowed(&r.alias),
        repository_name: Borrowed(&r.repository_name),
        status: r.status,
        last_save: r.last_save,
        alert: r.alert,
        storage_size: r.storage_size,
        storage_used: r.storage_used,
        ssh_public_key: Borrowed(&r.ssh_public_key),
        comment: Borrowed(&r.comment),
        display_details: r.display_details,
        lan_command: r.lan_command,
        append_only_mode: r.append_only_mode,
        last_status_alert_send: r.last_status_alert_send,
        archived: r.archived,
        icon: r.icon.as_deref().map(Borrowed),
        storage_target: r.storage_target.as_deref().map(Borrowed),
        imported_status: r.imported_status,
    };
    postcard::to_extend(&stored, vec![V2]).map_err(|e| StoreError::corrupt(format!("repository {}", r.id), e))
}

/// True when `bytes` is a record in an earlier form, to be rewritten.
pub(super) fn is_legacy(bytes: &[u8]) -> bool {
    bytes.first() != Some(&V2)
}

pub(super) fn decode_record(what: impl FnOnce() -> String, bytes: &[u8]) -> StoreResult<Repo> {
    decode_with_seq(what, bytes).map(|(r, _)| r)
}

/// The record and when it was written (0 for a record of an earlier version).
pub(super) fn decode_with_seq(what: impl FnOnce() -> String, bytes: &[u8]) -> StoreResult<(Repo, u64)> {
    match bytes.split_first() {
        Some((&V2, rest)) => {
            let s: StoredV2 = postcard::from_bytes(rest).map_err(|e| StoreError::corrupt(what(), e))?;
            let seq = s.seq;
            let repo = Repo {
                id: s.id,
                alias: s.alias.into_owned(),
                repository_name: s.repository_name.into_owned(),
                status: s.status,
                last_save: s.last_save,
                alert: s.alert,
                storage_size: s.storage_size,
                storage_used: s.storage_used,
                ssh_public_key: s.ssh_public_key.into_owned(),
                comment: s.comment.into_owned(),
                display_details: s.display_details,
                lan_command: s.lan_command,
                append_only_mode: s.append_only_mode,
                last_status_alert_send: s.last_status_alert_send,
                archived: s.archived,
                icon: s.icon.map(|c| c.into_owned()),
                storage_target: s.storage_target.map(|c| c.into_owned()),
                ssh_url: None,
                lan_ssh_url: None,
                imported_status: s.imported_status,
            };
            Ok((repo, seq))
        }
        _ => crate::store_error::decode(what, bytes).map(|r| (r, 0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Repo {
        Repo {
            id: 123,
            alias: "web-01 ✓".into(),
            repository_name: "0a1b2c3d".into(),
            status: true,
            last_save: 1_700_000_000,
            alert: 90_000,
            storage_size: 100,
            storage_used: 123_456,
            ssh_public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGLAbQvO4tD8Sw5B0mPxhrrmVttuMjUhl4k1yQmEQ4RF me"
                .into(),
            comment: "a comment".into(),
            display_details: true,
            lan_command: false,
            append_only_mode: true,
            last_status_alert_send: Some(1_700_000_100),
            archived: false,
            icon: Some("IconServer".into()),
            storage_target: None,
            ssh_url: None,
            lan_ssh_url: None,
            imported_status: Some(false),
        }
    }

    #[test]
    fn a_record_comes_back_as_it_went_in_and_is_small() {
        let r = sample();
        let bytes = encode_record(&r, 7).unwrap();
        assert!(!is_legacy(&bytes));
        // id 123 is also `{` in postcard's varint: the version byte keeps the forms apart.
        assert_eq!(decode_with_seq(|| "r".into(), &bytes).unwrap(), (r.clone(), 7));
        let json = serde_json::to_vec(&r).unwrap();
        assert!(bytes.len() * 2 < json.len(), "{} bytes against {} as JSON", bytes.len(), json.len());
    }

    #[test]
    fn a_store_of_an_earlier_version_is_rewritten_in_the_compact_form_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path().join("db")).unwrap();
        let tree = db.open_tree("repos").unwrap();
        let r = sample();
        tree.insert(123u64.to_be_bytes(), serde_json::to_vec(&r).unwrap()).unwrap();
        let home = dir.path().join("home");
        let keys = crate::authorized_keys::AuthorizedKeys::new(home.join(".ssh/authorized_keys"), home.join("repos"));
        let sink = super::super::KeySink::File { stale_dir: None };
        let pool = crate::pool::Pool::new(home.join("repos"));
        let store = super::super::RepoStore::open(&db, keys, sink, pool, dir.path().join("checks.bin")).unwrap();
        assert_eq!(store.get(123).unwrap(), Some(r.clone()));
        assert_eq!(store.get_by_name("0a1b2c3d").unwrap(), Some(r));
        let raw = tree.get(123u64.to_be_bytes()).unwrap().unwrap();
        assert_eq!(raw[0], V2, "still JSON after open");
    }

    #[test]
    fn a_json_record_of_an_earlier_version_is_read() {
        let r = sample();
        let json = serde_json::to_vec(&r).unwrap();
        assert!(is_legacy(&json));
        assert_eq!(decode_record(|| "r".into(), &json).unwrap(), r);
        assert!(decode_record(|| "r".into(), &[V2, 0xff]).is_err());
    }
}
