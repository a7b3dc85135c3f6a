//! The store seam's conformance suite: the promises every backend keeps, then the stores run
//! over it. A backend's crate calls [`run`] (feature `conformance`) with a function that gives
//! a new, empty backend; a broken promise panics with what it is. This crate runs it on sled and
//! on the in-memory backend.

use crate::backend::{Batch, SharedBackend};
use crate::history::{HistoryStore, HostPoint};
use crate::repo_store::{NewRepo, RepoKey, RepoPatch, RepoStore};
use crate::session_store::{Session, SessionStore};
use crate::token_store::{Permissions, TokenStore};

/// Runs every check, each on a new backend from `make`.
pub fn run(make: &dyn Fn() -> SharedBackend) {
    a_table_is_an_ordered_map(&make());
    tables_are_apart(&make());
    a_batch_applies_whole(&make());
    a_write_across_tables_applies_whole(&make());
    compare_and_swap_sets_only_over_the_value_seen(&make());
    ids_only_grow(&make());
    tokens_keep_hashes_and_revoke_whole(&make());
    sessions_keep_the_newest_per_repository(&make());
    history_answers_by_range(&make());
    repositories_come_back_after_a_reopen(&make());
    crate::health_marks::checks::marks_survive_a_reopen_and_zero_forgets(&make());
    crate::verify_results::checks::results_survive_a_reopen(&make());
}

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn a_table_is_an_ordered_map(db: &SharedBackend) {
    let t = db.table("t").unwrap();
    assert!(t.is_empty() && t.is_empty() && t.get("a").unwrap().is_none());
    for k in ["b", "a", "c", "ab"] {
        t.insert(k, k.to_uppercase()).unwrap();
    }
    t.insert("b", "B2").unwrap();
    assert_eq!(t.len(), 4);
    assert_eq!(t.get("b").unwrap().as_deref(), Some(&b"B2"[..]), "an insert replaces");
    let keys: Vec<Vec<u8>> = t.iter().keys().map(|k| k.unwrap().to_vec()).collect();
    assert_eq!(keys, [b("a"), b("ab"), b("b"), b("c")], "iteration in key order");
    let listed: Vec<Vec<u8>> = t.keys_raw().unwrap().iter().map(|k| k.to_vec()).collect();
    assert_eq!(listed, keys, "the keys alone, in order");
    // A part of a value, and a part past its end cut short.
    assert_eq!(t.get_part_raw(b"b", 1, 1).unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(t.get_part_raw(b"b", 1, 9).unwrap().as_deref(), Some(&b"2"[..]));
    assert!(t.get_part_raw(b"x", 0, 1).unwrap().is_none());
    let back: Vec<Vec<u8>> = t.iter().keys().rev().map(|k| k.unwrap().to_vec()).collect();
    assert_eq!(back, [b("c"), b("b"), b("ab"), b("a")], "reversed");
    let range: Vec<Vec<u8>> = t.range("ab".."c").keys().map(|k| k.unwrap().to_vec()).collect();
    assert_eq!(range, [b("ab"), b("b")], "a range includes its start, not its end");
    let inclusive: Vec<Vec<u8>> = t.range("ab"..="c").keys().rev().map(|k| k.unwrap().to_vec()).collect();
    assert_eq!(inclusive, [b("c"), b("b"), b("ab")]);
    let prefixed: Vec<Vec<u8>> = t.scan_prefix("a").keys().map(|k| k.unwrap().to_vec()).collect();
    assert_eq!(prefixed, [b("a"), b("ab")]);
    assert_eq!(t.first().unwrap().map(|(k, _)| k.to_vec()), Some(b("a")));
    assert_eq!(t.last().unwrap().map(|(k, v)| (k.to_vec(), v.to_vec())), Some((b("c"), b("C"))));
    assert!(t.contains_key("ab").unwrap() && !t.contains_key("x").unwrap());
    assert!(t.remove("ab").unwrap(), "a remove says there was a value");
    assert!(!t.remove("ab").unwrap(), "and that there was none");
    t.clear().unwrap();
    assert!(t.is_empty() && t.iter().next().is_none());
    // Keys as stores write them: big-endian numbers sort as numbers.
    for n in [256u64, 1, 65_536] {
        t.insert(n.to_be_bytes(), []).unwrap();
    }
    let numbers: Vec<u64> = t.iter().keys().map(|k| u64::from_be_bytes(k.unwrap()[..].try_into().unwrap())).collect();
    assert_eq!(numbers, [1, 256, 65_536]);
}

fn tables_are_apart(db: &SharedBackend) {
    let (x, y) = (db.table("x").unwrap(), db.table("y").unwrap());
    x.insert("k", "in x").unwrap();
    assert!(y.get("k").unwrap().is_none(), "a key of one table is not in another");
    let again = db.table("x").unwrap();
    assert_eq!(again.get("k").unwrap().as_deref(), Some(&b"in x"[..]), "a table opened twice is one table");
    let names = db.table_names().unwrap();
    assert!(names.iter().any(|n| n == "x") && names.iter().any(|n| n == "y"), "{names:?}");
}

fn a_batch_applies_whole(db: &SharedBackend) {
    let t = db.table("batch").unwrap();
    t.insert("gone", "1").unwrap();
    let mut batch = Batch::default();
    batch.insert("a", "1");
    batch.remove("gone");
    batch.insert("a", "2");
    batch.insert("b", "3");
    t.apply(batch).unwrap();
    assert_eq!(t.get("a").unwrap().as_deref(), Some(&b"2"[..]), "writes apply in order");
    assert!(t.get("gone").unwrap().is_none() && t.len() == 2);
}

fn a_write_across_tables_applies_whole(db: &SharedBackend) {
    let (mut records, mut meta) = (Batch::default(), Batch::default());
    records.insert(7u64.to_be_bytes(), "record");
    meta.insert("next", 8u64.to_be_bytes());
    db.apply_across(vec![("records", records), ("meta", meta)]).unwrap();
    assert!(db.table("records").unwrap().get(7u64.to_be_bytes()).unwrap().is_some());
    assert_eq!(db.table("meta").unwrap().get("next").unwrap().as_deref(), Some(&8u64.to_be_bytes()[..]));
    let mut both = Batch::default();
    both.remove(7u64.to_be_bytes());
    let mut same = Batch::default();
    same.insert("other", "x");
    // One table named twice gets both batches.
    db.apply_across(vec![("records", both), ("records", same)]).unwrap();
    let records = db.table("records").unwrap();
    assert!(records.get(7u64.to_be_bytes()).unwrap().is_none() && records.get("other").unwrap().is_some());
}

fn compare_and_swap_sets_only_over_the_value_seen(db: &SharedBackend) {
    let t = db.table("cas").unwrap();
    assert!(t.compare_and_swap("k", None, Some(b"1")).unwrap(), "absent, as seen");
    assert!(!t.compare_and_swap("k", None, Some(b"2")).unwrap(), "no longer absent");
    assert!(!t.compare_and_swap("k", Some(b"0"), Some(b"2")).unwrap());
    assert!(t.compare_and_swap("k", Some(b"1"), Some(b"2")).unwrap());
    assert_eq!(t.get("k").unwrap().as_deref(), Some(&b"2"[..]));
    assert!(t.compare_and_swap("k", Some(b"2"), None).unwrap(), "a swap to nothing removes");
    assert!(t.get("k").unwrap().is_none());
}

fn ids_only_grow(db: &SharedBackend) {
    let ids: Vec<u64> = (0..1000).map(|_| db.generate_id().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids grow");
    db.flush().unwrap();
    assert!(db.healthy());
}

fn tokens_keep_hashes_and_revoke_whole(db: &SharedBackend) {
    let tokens = TokenStore::open(db).unwrap();
    let perms = Permissions { read: true, ..Default::default() };
    let token = tokens.create("ci", perms, None, 100).unwrap();
    assert_eq!(tokens.verify(&token, 200).unwrap().map(|r| r.permissions), Some(perms));
    let stored: Vec<Vec<u8>> = ["tokens", "token_hashes"]
        .iter()
        .flat_map(|t| {
            let table = db.table(t).unwrap();
            let all: Vec<Vec<u8>> =
                table.iter().map(|e| e.unwrap()).flat_map(|(k, v)| [k.to_vec(), v.to_vec()]).collect();
            all
        })
        .collect();
    let secret = token.trim_start_matches("bw_").as_bytes();
    assert!(!stored.iter().any(|s| s.windows(secret.len()).any(|w| w == secret)), "a token is kept as its hash");
    assert!(tokens.revoke("ci", None).unwrap());
    assert!(tokens.verify(&token, 200).unwrap().is_none());
    assert!(db.table("token_hashes").unwrap().is_empty(), "a revoke removes the record and its hash together");
}

fn sessions_keep_the_newest_per_repository(db: &SharedBackend) {
    let sessions = SessionStore::open(db).unwrap();
    let session = |ended_at| Session {
        key_id: "k1".into(),
        started_at: ended_at - 10,
        ended_at,
        exit_code: 0,
        client: "127.0.0.1 5000 22".into(),
        wrote: Some(true),
    };
    for t in [100, 300, 200] {
        sessions.record(1, &session(t)).unwrap();
    }
    sessions.record(2, &session(50)).unwrap();
    let newest: Vec<i64> = sessions.newest(1, 10).unwrap().iter().map(|s| s.ended_at).collect();
    assert_eq!(newest, [300, 200, 100], "newest first, of one repository");
    sessions.remove_repository(1).unwrap();
    assert!(sessions.newest(1, 10).unwrap().is_empty());
    assert_eq!(SessionStore::open(db).unwrap().newest(2, 10).unwrap().len(), 1, "kept across a reopen");
}

fn history_answers_by_range(db: &SharedBackend) {
    let dir = tempfile::tempdir().unwrap();
    let history = HistoryStore::open(db, &dir.path().join("runs")).unwrap();
    const T: i64 = 1_700_000_000;
    history
        .record(T, &[(1, 10, T - 5)], Some(HostPoint { at: T, storage_used: 10, repositories: 1, late: 0 }))
        .unwrap();
    history.record(T + 3600, &[(1, 20, T + 3000)], None).unwrap();
    let points: Vec<(i64, u64)> =
        history.repository(1, 0, T + 7200).unwrap().iter().map(|p| (p.at, p.storage_used)).collect();
    assert_eq!(points, [(T, 10), (T + 3600, 20)]);
    assert_eq!(history.repository(1, T + 1, T + 7200).unwrap().len(), 1, "from a time on");
    assert_eq!(history.host(0, T + 7200).unwrap().len(), 1);
    history.remove_repository(1).unwrap();
    assert!(
        history.repository(1, 0, T + 7200).unwrap().iter().all(|p| p.at != T + 3600),
        "a session's point goes with its repository"
    );
}

/// `n` repositories as records, ids 0 to n-1, each with one key: for tests of what is built
/// from records (the index, the list answer).
pub fn sample_repos(n: u64) -> impl Iterator<Item = crate::repo_store::Repo> {
    (0..n).map(|i| crate::repo_store::Repo {
        id: i,
        alias: format!("host-{i}"),
        repository_name: format!("{i:08x}"),
        status: false,
        last_save: 1_700_000_000,
        alert: 90_000,
        storage_size: 100,
        storage_used: 1234,
        keys: vec![crate::repo_store::AccessKey {
            ssh_public_key: format!("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{i:043} c{i}"),
            mode: crate::repo_store::KeyMode::Full,
            name: String::new(),
            created_at: 0,
            last_used_at: 0,
        }],
        comment: "a comment that makes the record longer".into(),
        display_details: true,
        lan_command: false,
        last_status_alert_send: None,
        archived: false,
        icon: None,
        storage_target: None,
        imported_status: None,
        tenant: None,
    })
}

const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGLAbQvO4tD8Sw5B0mPxhrrmVttuMjUhl4k1yQmEQ4RF me";
const KEY_2: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl admin";

fn repositories_come_back_after_a_reopen(db: &SharedBackend) {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        let home = dir.path().join("home");
        let keys = bw_host::authorized_keys::AuthorizedKeys::new(home.join(".ssh/authorized_keys"), home.join("repos"));
        let sink = crate::key_sink::KeySink::File { stale_dir: None };
        let pool = bw_host::pool::Pool::new(home.join("repos"));
        RepoStore::open(db, keys, sink, pool, dir.path(), crate::clock::Clock::fixed(1_700_000_000)).unwrap()
    };
    let new = |alias: &str, key: &str| NewRepo {
        alias: alias.into(),
        key: bw_host::ssh_key::ClientKey::parse(key).unwrap(),
        storage_size: 10,
        comment: String::new(),
        alert: 3600,
        lan_command: false,
        append_only_mode: false,
        icon: None,
        storage_target: None,
        tenant: None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (one, two) = runtime.block_on(async {
        let repos = open();
        let one = repos.create(new("one", KEY), None).await.unwrap();
        let two = repos.create(new("two", KEY_2), None).await.unwrap();
        assert!(one.id < two.id, "ids grow");
        assert!(matches!(repos.create(new("again", KEY), None).await, Err(crate::store_error::StoreError::KeyInUse)));
        let patch = RepoPatch { alias: Some("one, renamed".into()), ..Default::default() };
        repos.update(&RepoKey::Id(one.id), patch).await.unwrap();
        repos.delete(&RepoKey::Name(two.repository_name.clone()), None).await.unwrap();
        repos.flush().await.unwrap();
        (one, two)
    });
    let repos = open();
    assert_eq!(repos.len(), 1, "what was written is what a reopen reads");
    assert_eq!(repos.get(one.id).unwrap().map(|r| r.alias), Some("one, renamed".into()));
    assert_eq!(repos.id_of_name(&two.repository_name), None);
    let three = runtime.block_on(repos.create(new("three", KEY_2), None)).unwrap();
    assert!(three.id > two.id, "an id is never given twice, even after a delete and a reopen");
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn sled_keeps_the_seams_promises() {
        run(&crate::backend::temporary_sled);
    }

    #[test]
    fn memory_keeps_the_seams_promises() {
        run(&|| -> SharedBackend { crate::backend::InMemoryBackend::new() });
    }

    /// What sled wrote is there after the process lets go of it and opens it again.
    #[test]
    fn sled_keeps_what_it_wrote_across_an_opening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = crate::backend::SledBackend::open(dir.path(), 1 << 20).unwrap();
            use crate::backend::Backend;
            let (mut t, mut m) = (Batch::default(), Batch::default());
            t.insert("k", "v");
            m.insert("n", "1");
            db.apply_across(vec![("t", t), ("m", m)]).unwrap();
            db.flush().unwrap();
        }
        let db: SharedBackend = Arc::new(crate::backend::SledBackend::open(dir.path(), 1 << 20).unwrap());
        assert_eq!(db.table("t").unwrap().get("k").unwrap().as_deref(), Some(&b"v"[..]));
        assert_eq!(db.table("m").unwrap().get("n").unwrap().as_deref(), Some(&b"1"[..]));
    }
}
