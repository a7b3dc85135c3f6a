//! How a repository record is kept in the store: one version byte, then the fields in
//! postcard's compact binary form (about 150 bytes, against 420 as JSON with field names).
//! sled keeps in memory every page it has read, whatever its cache setting, so at 100,000
//! repositories the size of a record is the size of the store in memory.
//!
//! Records of earlier versions (JSON, then version 2 with one key per repository) are read
//! too, and rewritten in this form at the first start (see [`super::RepoStore::open`]).

use serde::{Deserialize, Serialize};

use super::access_key::{AccessKey, KeyMode};
use super::record::Repo;
use crate::store_error::{StoreError, StoreResult};
use std::borrow::Cow;

/// The first byte of a record in the form of the versions with one key per repository; a JSON
/// record starts with `{`.
const V2: u8 = 2;
/// The first byte of a record in the form of 0.2: keys of their own.
const V3: u8 = 3;
/// The first byte of a record in this form: V3's fields, then the tenant.
const V4: u8 = 4;

/// Every field of [`Repo`], in a fixed order (postcard has no field names: adding a field
/// means a new version byte).
#[derive(Serialize, Deserialize)]
struct StoredV3<'a> {
    /// When the record was written, from the store's monotonic counter: a page of figures
    /// saved earlier than this holds older check figures for it (see [`super::check_figures`]).
    seq: u64,
    id: u64,
    alias: Cow<'a, str>,
    repository_name: Cow<'a, str>,
    status: bool,
    last_save: i64,
    alert: u64,
    storage_size: u64,
    storage_used: u64,
    comment: Cow<'a, str>,
    display_details: bool,
    lan_command: bool,
    last_status_alert_send: Option<i64>,
    archived: bool,
    icon: Option<Cow<'a, str>>,
    storage_target: Option<Cow<'a, str>>,
    imported_status: Option<bool>,
    keys: Vec<StoredKey<'a>>,
}

#[derive(Serialize, Deserialize)]
struct StoredKey<'a> {
    ssh_public_key: Cow<'a, str>,
    append_only: bool,
    name: Cow<'a, str>,
    created_at: i64,
    last_used_at: i64,
}

/// The form of the versions with one key per repository: read, never written (but by tests).
#[derive(Serialize, Deserialize)]
struct StoredV2<'a> {
    /// When the record was written, from the store's monotonic counter: a page of figures
    /// saved earlier than this holds older check figures for it (see [`super::check_figures`]).
    seq: u64,
    id: u64,
    alias: Cow<'a, str>,
    repository_name: Cow<'a, str>,
    status: bool,
    last_save: i64,
    alert: u64,
    storage_size: u64,
    storage_used: u64,
    ssh_public_key: Cow<'a, str>,
    comment: Cow<'a, str>,
    display_details: bool,
    lan_command: bool,
    append_only_mode: bool,
    last_status_alert_send: Option<i64>,
    archived: bool,
    icon: Option<Cow<'a, str>>,
    storage_target: Option<Cow<'a, str>>,
    imported_status: Option<bool>,
}

pub(super) fn encode_record(r: &Repo, seq: u64) -> StoreResult<Vec<u8>> {
    // postcard writes a tuple as its parts one after the other: V3's fields, then the tenant.
    postcard::to_extend(&(as_stored_v3(r, seq), r.tenant.as_deref()), vec![V4])
        .map_err(|e| StoreError::corrupt(format!("repository {}", r.id), e))
}

fn as_stored_v3(r: &Repo, seq: u64) -> StoredV3<'_> {
    use std::borrow::Cow::Borrowed;
    StoredV3 {
        seq,
        id: r.id,
        alias: Borrowed(&r.alias),
        repository_name: Borrowed(&r.repository_name),
        status: r.status,
        last_save: r.last_save,
        alert: r.alert,
        storage_size: r.storage_size,
        storage_used: r.storage_used,
        comment: Borrowed(&r.comment),
        display_details: r.display_details,
        lan_command: r.lan_command,
        last_status_alert_send: r.last_status_alert_send,
        archived: r.archived,
        icon: r.icon.as_deref().map(Borrowed),
        storage_target: r.storage_target.as_deref().map(Borrowed),
        imported_status: r.imported_status,
        keys: r
            .keys
            .iter()
            .map(|k| StoredKey {
                ssh_public_key: Borrowed(&k.ssh_public_key),
                append_only: k.mode.is_append_only(),
                name: Borrowed(&k.name),
                created_at: k.created_at,
                last_used_at: k.last_used_at,
            })
            .collect(),
    }
}

/// True when `bytes` is a record in an earlier form, to be rewritten.
pub(super) fn is_legacy(bytes: &[u8]) -> bool {
    bytes.first() != Some(&V4)
}

pub(super) fn decode_record(what: impl FnOnce() -> String, bytes: &[u8]) -> StoreResult<Repo> {
    decode_with_seq(what, bytes).map(|(r, _)| r)
}

impl StoredV3<'_> {
    /// The record and when it was written.
    fn into_repo(self, tenant: Option<String>) -> (Repo, u64) {
        let s = self;
        let repo = Repo {
            id: s.id,
            alias: s.alias.into_owned(),
            repository_name: s.repository_name.into_owned(),
            status: s.status,
            last_save: s.last_save,
            alert: s.alert,
            storage_size: s.storage_size,
            storage_used: s.storage_used,
            keys: s
                .keys
                .into_iter()
                .map(|k| AccessKey {
                    ssh_public_key: k.ssh_public_key.into_owned(),
                    mode: KeyMode::from_append_only(k.append_only),
                    name: k.name.into_owned(),
                    created_at: k.created_at,
                    last_used_at: k.last_used_at,
                })
                .collect(),
            comment: s.comment.into_owned(),
            display_details: s.display_details,
            lan_command: s.lan_command,
            last_status_alert_send: s.last_status_alert_send,
            archived: s.archived,
            icon: s.icon.map(Cow::into_owned),
            storage_target: s.storage_target.map(Cow::into_owned),
            imported_status: s.imported_status,
            tenant,
        };
        (repo, s.seq)
    }
}

impl<'a> From<StoredV2<'a>> for StoredV3<'a> {
    /// The one key of that version, undated: its creation time is given at the rewrite.
    fn from(s: StoredV2<'a>) -> StoredV3<'a> {
        StoredV3 {
            seq: s.seq,
            id: s.id,
            alias: s.alias,
            repository_name: s.repository_name,
            status: s.status,
            last_save: s.last_save,
            alert: s.alert,
            storage_size: s.storage_size,
            storage_used: s.storage_used,
            comment: s.comment,
            display_details: s.display_details,
            lan_command: s.lan_command,
            last_status_alert_send: s.last_status_alert_send,
            archived: s.archived,
            icon: s.icon,
            storage_target: s.storage_target,
            imported_status: s.imported_status,
            keys: vec![StoredKey {
                ssh_public_key: s.ssh_public_key,
                append_only: s.append_only_mode,
                name: Cow::Borrowed(""),
                created_at: 0,
                last_used_at: 0,
            }],
        }
    }
}

/// The record and when it was written (0 for a record of an earlier version).
pub(super) fn decode_with_seq(what: impl FnOnce() -> String, bytes: &[u8]) -> StoreResult<(Repo, u64)> {
    match bytes.split_first() {
        Some((&V4, rest)) => {
            let (s, tenant): (StoredV3, Option<Cow<str>>) = match postcard::from_bytes(rest) {
                Ok(s) => s,
                Err(e) => return Err(StoreError::corrupt(what(), e)),
            };
            if s.keys.is_empty() {
                return Err(StoreError::corrupt(what(), "a record without a key"));
            }
            Ok(s.into_repo(tenant.map(Cow::into_owned)))
        }
        Some((&V3, rest)) => {
            let s: StoredV3 = match postcard::from_bytes(rest) {
                Ok(s) => s,
                Err(e) => return Err(StoreError::corrupt(what(), e)),
            };
            if s.keys.is_empty() {
                return Err(StoreError::corrupt(what(), "a record without a key"));
            }
            Ok(s.into_repo(None))
        }
        Some((&V2, rest)) => {
            let s: StoredV2 = postcard::from_bytes(rest).map_err(|e| StoreError::corrupt(what(), e))?;
            Ok(StoredV3::from(s).into_repo(None))
        }
        _ => crate::store_error::decode(what, bytes).map(|r| (r, 0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGLAbQvO4tD8Sw5B0mPxhrrmVttuMjUhl4k1yQmEQ4RF me";
    const KEY_2: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl admin";

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
            keys: vec![AccessKey {
                ssh_public_key: KEY.into(),
                mode: KeyMode::AppendOnly,
                name: String::new(),
                created_at: 0,
                last_used_at: 0,
            }],
            comment: "a comment".into(),
            display_details: true,
            lan_command: false,
            last_status_alert_send: Some(1_700_000_100),
            archived: false,
            icon: Some("IconServer".into()),
            storage_target: None,
            imported_status: Some(false),
            tenant: Some("acme".into()),
        }
    }

    /// `r` as the versions with one key per repository wrote it.
    fn as_v2(r: &Repo, seq: u64) -> Vec<u8> {
        let v2 = StoredV2 {
            seq,
            id: r.id,
            alias: Cow::Borrowed(&r.alias),
            repository_name: Cow::Borrowed(&r.repository_name),
            status: r.status,
            last_save: r.last_save,
            alert: r.alert,
            storage_size: r.storage_size,
            storage_used: r.storage_used,
            ssh_public_key: Cow::Borrowed(r.ssh_public_key()),
            comment: Cow::Borrowed(&r.comment),
            display_details: r.display_details,
            lan_command: r.lan_command,
            append_only_mode: r.append_only_mode(),
            last_status_alert_send: r.last_status_alert_send,
            archived: r.archived,
            icon: r.icon.as_deref().map(Cow::Borrowed),
            storage_target: r.storage_target.as_deref().map(Cow::Borrowed),
            imported_status: r.imported_status,
        };
        postcard::to_extend(&v2, vec![V2]).unwrap()
    }

    fn open_store(dir: &std::path::Path, db: &crate::backend::SharedBackend, now: i64) -> super::super::RepoStore {
        let home = dir.join("home");
        let keys = bw_host::authorized_keys::AuthorizedKeys::new(home.join(".ssh/authorized_keys"), home.join("repos"));
        let sink = crate::key_sink::KeySink::File { stale_dir: None };
        let pool = bw_host::pool::Pool::new(home.join("repos"));
        let clock = crate::clock::Clock::fixed(now);
        super::super::RepoStore::open(db, keys, sink, pool, dir, clock).unwrap()
    }

    #[test]
    fn a_record_comes_back_as_it_went_in_and_is_small() {
        let mut r = sample();
        r.keys.push(AccessKey {
            ssh_public_key: KEY_2.into(),
            mode: KeyMode::Full,
            name: "the admin who prunes".into(),
            created_at: 1_700_000_200,
            last_used_at: 1_700_000_300,
        });
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
        let db: crate::backend::SharedBackend =
            std::sync::Arc::new(crate::backend::SledBackend::open(&dir.path().join("db"), 1 << 20).unwrap());
        let tree = db.table("repos").unwrap();
        let r = sample();
        tree.insert(123u64.to_be_bytes(), serde_json::to_vec(&r).unwrap()).unwrap();
        let store = open_store(dir.path(), &db, 1_800_000_000);
        let mut upgraded = r.clone();
        upgraded.keys[0].created_at = 1_800_000_000;
        assert_eq!(store.get(123).unwrap(), Some(upgraded.clone()));
        assert_eq!(store.get_by_name("0a1b2c3d").unwrap(), Some(upgraded));
        let raw = tree.get(123u64.to_be_bytes()).unwrap().unwrap();
        assert_eq!(raw[0], V4, "still JSON after open");
    }

    /// A 0.2 host's records (keys of their own, no tenant) are read as the host's own and
    /// rewritten with a tenant field at the first open.
    #[test]
    fn a_store_of_0_2_reads_with_no_tenant_and_is_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let db: crate::backend::SharedBackend =
            std::sync::Arc::new(crate::backend::SledBackend::open(&dir.path().join("db"), 1 << 20).unwrap());
        let tree = db.table("repos").unwrap();
        let mut r = sample();
        r.keys[0].created_at = 1_700_000_000;
        tree.insert(123u64.to_be_bytes(), postcard::to_extend(&as_stored_v3(&r, 5), vec![V3]).unwrap()).unwrap();
        let store = open_store(dir.path(), &db, 1_800_000_000);
        assert_eq!(store.get(123).unwrap(), Some(Repo { tenant: None, ..r }));
        assert_eq!(tree.get(123u64.to_be_bytes()).unwrap().unwrap()[0], V4);
    }

    /// A host running the version with one key per repository upgrades in place: its records
    /// get keys of their own, dated at the upgrade, with the key and mode they had.
    #[test]
    fn a_store_of_the_one_key_version_gets_keys_of_their_own_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let db: crate::backend::SharedBackend =
            std::sync::Arc::new(crate::backend::SledBackend::open(&dir.path().join("db"), 1 << 20).unwrap());
        let tree = db.table("repos").unwrap();
        let r = sample();
        tree.insert(123u64.to_be_bytes(), as_v2(&r, 5)).unwrap();
        assert!(is_legacy(&tree.get(123u64.to_be_bytes()).unwrap().unwrap()));
        let store = open_store(dir.path(), &db, 1_800_000_000);
        let got = store.get(123).unwrap().unwrap();
        assert_eq!(got.keys.len(), 1);
        assert_eq!(got.ssh_public_key(), KEY);
        assert!(got.append_only_mode());
        assert_eq!((got.keys[0].created_at, got.keys[0].last_used_at), (1_800_000_000, 0));
        assert_eq!(got.keys[0].id().len(), 16);
        assert_eq!(got.tenant, None, "0.1 had no tenants");
        let raw = tree.get(123u64.to_be_bytes()).unwrap().unwrap();
        assert_eq!(raw[0], V4);
        drop(store);
        // A second start finds nothing to upgrade, and the date stays.
        let store = open_store(dir.path(), &db, 1_900_000_000);
        assert_eq!(store.get(123).unwrap().unwrap().keys[0].created_at, 1_800_000_000);
    }

    /// The upgrade leaves `authorized_keys` as it was: the one key's line is the first key's.
    #[test]
    fn the_upgrade_keeps_the_lines_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let db: crate::backend::SharedBackend =
            std::sync::Arc::new(crate::backend::SledBackend::open(&dir.path().join("db"), 1 << 20).unwrap());
        let tree = db.table("repos").unwrap();
        let r = sample();
        tree.insert(123u64.to_be_bytes(), as_v2(&r, 5)).unwrap();
        let home = dir.path().join("home");
        let keys = bw_host::authorized_keys::AuthorizedKeys::new(home.join(".ssh/authorized_keys"), home.join("repos"));
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        let line = format!(
            "command=\"cd {pool};borg serve --append-only --restrict-to-repository {pool}/0a1b2c3d --storage-quota 100G\",restrict {KEY}\n",
            pool = home.join("repos").display()
        );
        let file = format!("# the admin's own\n{line}");
        std::fs::write(keys.path(), &file).unwrap();
        db.table("meta").unwrap().insert(b"initialized", [1u8]).unwrap();
        let store = open_store(dir.path(), &db, 1_800_000_000);
        let report = store.reconcile().unwrap();
        assert!(report.added.is_empty() && report.rewritten.is_empty() && report.removed.is_empty(), "{report:?}");
        assert!(!report.written);
        assert_eq!(std::fs::read_to_string(keys.path()).unwrap(), file);
    }

    #[test]
    fn a_json_record_of_an_earlier_version_is_read() {
        let r = sample();
        let json = serde_json::to_vec(&r).unwrap();
        assert!(is_legacy(&json));
        assert_eq!(decode_record(|| "r".into(), &json).unwrap(), r);
        // The first versions wrote no `keys`: the one key comes from `sshPublicKey`.
        let mut old: serde_json::Value = serde_json::from_slice(&json).unwrap();
        old.as_object_mut().unwrap().remove("keys");
        assert_eq!(decode_record(|| "r".into(), &serde_json::to_vec(&old).unwrap()).unwrap(), r);
        assert!(decode_record(|| "r".into(), &[V3, 0xff]).is_err());
        assert!(decode_record(|| "r".into(), &[V2, 0xff]).is_err());
    }
}
