//! Several servers on one PostgreSQL (#34), as they are deployed: one database, and one borg
//! home (key folder, pool, spool) both reach. What one server checks, counts or changes, the
//! other shows; changes made through both at once lose nothing; a change cut off between the
//! database and its key file is repaired by the lease holder.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bw_tests::postgres::TempPostgres;
use bw_tests::{ed25519_key, TestServer};
use serde_json::json;

const CRON_KEY: &str = "several-servers-cron-key";

/// Two servers of the database at `url`, sharing the home and key folder under `shared`.
fn pair(url: &str, shared: &Path, change: impl Fn(&mut bw_api::config::Config)) -> (TestServer, TestServer) {
    let start = || {
        TestServer::with_config(|c| {
            c.server.database_url = Some(bw_api::config::Secret::new(url));
            c.server.home = Some(shared.join("home"));
            c.ssh.key_mode = bw_api::config::KeyMode::Command;
            c.ssh.key_lookup_dir = Some(shared.join("keys"));
            c.auth.cronjob_key = Some(CRON_KEY.into());
            change(c);
        })
    };
    (start(), start())
}

/// Waits for `done`, up to a bound generous enough for a loaded machine; prints the time taken
/// (no timing is asserted: the machines are shared).
fn wait_for(what: &str, done: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !done() {
        assert!(t0.elapsed() < Duration::from_secs(30), "{what}: not within 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("{what}: after {} ms", t0.elapsed().as_millis());
}

fn create(s: &TestServer, token: &str, seed: u32) -> (u16, serde_json::Value) {
    let body = json!({"alias": format!("client {seed}"), "sshPublicKey": ed25519_key(seed, ""), "storageSize": 5});
    s.post("/api/v1/repositories", Some(token), &body)
}

/// Every repository as the server lists it: name -> public key.
fn listed(s: &TestServer, token: &str) -> std::collections::BTreeMap<String, String> {
    let (status, list) = s.get("/api/v1/repositories", Some(token));
    assert_eq!(status, 200, "{list}");
    list["repoList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["repositoryName"].as_str().unwrap().to_string(), r["sshPublicKey"].as_str().unwrap().to_string()))
        .collect()
}

/// The key folder says what the database says: one file per repository key, naming its
/// repository, and no other.
fn key_folder_matches(keys: &Path, repos: &std::collections::BTreeMap<String, String>) -> Result<(), String> {
    use base64::Engine;
    let mut expected = std::collections::BTreeSet::new();
    for (name, key) in repos {
        let blob = base64::engine::general_purpose::STANDARD.decode(key.split(' ').nth(1).unwrap()).unwrap();
        let file = bw_host::key_lookup::key_file_name(&blob);
        let path = keys.join(&file[..2]).join(&file);
        let line = std::fs::read_to_string(&path).map_err(|e| format!("{name}: {}: {e}", path.display()))?;
        if !line.contains(&format!("/{name} ")) && !line.contains(&format!("/{name}\"")) {
            return Err(format!("{name}: its key file names another repository: {line}"));
        }
        expected.insert(path);
    }
    let mut found = std::collections::BTreeSet::new();
    for shard in std::fs::read_dir(keys).map_err(|e| e.to_string())?.flatten() {
        if shard.path().is_dir() {
            for f in std::fs::read_dir(shard.path()).map_err(|e| e.to_string())?.flatten() {
                found.insert(f.path());
            }
        }
    }
    let extra: Vec<&PathBuf> = found.difference(&expected).collect();
    match extra.is_empty() {
        true => Ok(()),
        false => Err(format!("key files for no repository: {extra:?}")),
    }
}

#[test]
fn what_one_server_checks_the_other_shows() {
    let Some(pg) = TempPostgres::start() else { return };
    let shared = tempfile::tempdir().unwrap();
    let (a, b) = pair(&pg.fresh_schema_url(), shared.path(), |_| {});
    let token = a.full_token();
    let (status, made) = create(&a, &token, 1);
    assert_eq!(status, 200, "{made}");
    let name = made["repositoryName"].as_str().unwrap().to_string();
    // The pool is shared: what the client wrote through a's folder is b's too.
    let folder = shared.path().join("home/repos").join(&name);
    std::fs::create_dir_all(folder.join("data/0")).unwrap();
    std::fs::write(folder.join("data/0/1"), vec![7u8; 300_000]).unwrap();
    let used = bw_tests::du(&folder);
    // The check runs on a; b shows its figures and its history point.
    let (status, ran) = a.call("POST", "/api/v1/cron/storage", Some(&format!("Bearer {CRON_KEY}")), None);
    assert_eq!(status, 200, "{ran}");
    let used_on =
        |s: &TestServer| s.get(&format!("/api/v1/repositories/{name}"), Some(&token)).1["repo"]["storageUsed"].as_u64();
    assert_eq!(used_on(&a), Some(used));
    wait_for("a's check figures, on b", || used_on(&b) == Some(used));
    let (status, history) = b.get(&format!("/api/v1/repositories/{name}/history"), Some(&token));
    assert_eq!(status, 200, "{history}");
    let points = history["points"].as_array().unwrap();
    assert!(
        points.iter().any(|p| p["storageUsed"].as_u64() == Some(used)),
        "the check run's point, read by b from the database: {history}"
    );
    // And across a restart of b: the figures are the database's, not its data folder's.
    let (dir, config) = b.stop();
    let b = TestServer::start_in(dir, config);
    assert_eq!(used_on(&b), Some(used));
}

/// N servers do not give an attacker N times the attempts: failures through either add up,
/// and an address refused by one is refused by both.
#[test]
fn failed_authentications_add_up_across_servers() {
    let Some(pg) = TempPostgres::start() else { return };
    let shared = tempfile::tempdir().unwrap();
    let (a, b) = pair(&pg.fresh_schema_url(), shared.path(), |c| c.auth.failure_limit = 4);
    let ip: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    // Two failures on each: under the limit on each alone.
    for s in [&a, &b, &a, &b] {
        // The contract's answer to a token it does not know: 403, counted as a failure.
        assert_eq!(s.get("/api/v1/repositories", Some("not-a-token")).0, 403);
    }
    wait_for("refused by a", || a.state.throttle.is_blocked(ip));
    wait_for("refused by b", || b.state.throttle.is_blocked(ip));
    let good = a.full_token();
    assert_eq!(a.get("/api/v1/repositories", Some(&good)).0, 429, "refused, even with a good token");
    assert_eq!(b.get("/api/v1/repositories", Some(&good)).0, 429);
}

/// Four clients create, edit and delete through both servers at once: every acknowledged
/// change stands, ids and names are never given twice, both servers list the same, and the key
/// folder says what the database says.
#[test]
fn four_clients_through_two_servers_lose_nothing() {
    let Some(pg) = TempPostgres::start() else { return };
    let shared = tempfile::tempdir().unwrap();
    let (a, b) = pair(&pg.fresh_schema_url(), shared.path(), |_| {});
    let token = a.full_token();
    let servers = [&a, &b];
    let kept: Vec<(String, u32)> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..4u32)
            .map(|client| {
                let token = token.clone();
                scope.spawn(move || {
                    let mut kept = Vec::new();
                    for i in 0..8u32 {
                        let seed = client * 100 + i;
                        let s = servers[((client + i) % 2) as usize];
                        let (status, made) = create(s, &token, seed);
                        assert_eq!(status, 200, "client {client}, create {i}: {made}");
                        let name = made["repositoryName"].as_str().unwrap().to_string();
                        // Every third is deleted through the other server, every other edited.
                        let other = servers[((client + i + 1) % 2) as usize];
                        if i % 3 == 2 {
                            assert_eq!(other.delete(&format!("/api/v1/repositories/{name}"), Some(&token)).0, 200);
                        } else {
                            let (status, edited) = other.patch(
                                &format!("/api/v1/repositories/{name}"),
                                Some(&token),
                                &json!({"alias": format!("edited {seed}")}),
                            );
                            assert_eq!(status, 200, "{edited}");
                            kept.push((name, seed));
                        }
                    }
                    kept
                })
            })
            .collect();
        clients.into_iter().flat_map(|c| c.join().unwrap()).collect()
    });
    let on_a = listed(&a, &token);
    let names: std::collections::BTreeSet<&String> = kept.iter().map(|(n, _)| n).collect();
    assert_eq!(names.len(), kept.len(), "a name given twice");
    assert_eq!(on_a.keys().collect::<std::collections::BTreeSet<_>>(), names, "a lists every kept change, no other");
    wait_for("b lists what a lists", || listed(&b, &token) == on_a);
    for (name, seed) in &kept {
        let (_, one) = b.get(&format!("/api/v1/repositories/{name}"), Some(&token));
        assert_eq!(one["repo"]["alias"], format!("edited {seed}"), "the edit of {name} stands");
    }
    let (_, list) = a.get("/api/repo", Some(&token));
    let mut ids: Vec<u64> = list["repoList"].as_array().unwrap().iter().map(|r| r["id"].as_u64().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), kept.len(), "an id given twice");
    key_folder_matches(&shared.path().join("keys"), &on_a).unwrap();
    // Their lists' entity tags agree: a poller behind a load balancer sends one server's tag
    // to the other, and is told nothing changed.
    let tag_of = |s: &TestServer| {
        let resp = ureq::get(&format!("{}/api/v1/repositories", s.url))
            .set("Authorization", &format!("Bearer {token}"))
            .call()
            .unwrap();
        resp.header("ETag").unwrap().to_string()
    };
    let tag = tag_of(&a);
    assert_eq!(tag_of(&b), tag);
    let again = ureq::get(&format!("{}/api/v1/repositories", b.url))
        .set("Authorization", &format!("Bearer {token}"))
        .set("If-None-Match", &tag)
        .call()
        .unwrap();
    assert_eq!(again.status(), 304, "b did not take a's tag");
}

/// A server killed between a change's commit and its key file leaves the change's mark: the
/// lease holder finds it and makes the key folder match the database again.
#[test]
fn a_change_cut_off_before_its_key_file_is_repaired_by_the_lease_holder() {
    let Some(pg) = TempPostgres::start() else { return };
    let shared = tempfile::tempdir().unwrap();
    let url = pg.fresh_schema_url();
    let (a, b) = pair(&url, shared.path(), |_| {});
    let token = a.full_token();
    for seed in 1..=3 {
        assert_eq!(create(&b, &token, seed).0, 200);
    }
    let repos = listed(&a, &token);
    let keys = shared.path().join("keys");
    key_folder_matches(&keys, &repos).unwrap();
    // What a kill between the two leaves: the database changed (here: a key file gone, as if
    // its create had not reached it yet) and the change's mark standing.
    let (name, key) = repos.iter().next().unwrap();
    let blob = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.decode(key.split(' ').nth(1).unwrap()).unwrap()
    };
    let file = bw_host::key_lookup::key_file_name(&blob);
    std::fs::remove_file(keys.join(&file[..2]).join(&file)).unwrap();
    let db = bw_store::backend::PostgresBackend::open(&url).unwrap();
    use bw_store::backend::Backend;
    // The mark: the ninth byte of the change count, as a change under way leaves it.
    let meta = db.table("meta").unwrap();
    let mut count = meta.get("changes").unwrap().expect("changes were counted").to_vec();
    count.resize(9, 0);
    count[8] = 1;
    meta.insert("changes", &count).unwrap();
    wait_for(&format!("the key file of {name} written again"), || key_folder_matches(&keys, &repos).is_ok());
    wait_for("the mark taken away", || meta.get("changes").unwrap().is_some_and(|v| v.get(8) == Some(&0)));
    // Without a mark, a key file gone by hand is not looked for every 2 s (a start repairs it).
    std::fs::remove_file(keys.join(&file[..2]).join(&file)).unwrap();
    std::thread::sleep(Duration::from_secs(5));
    assert!(key_folder_matches(&keys, &repos).is_err(), "the folder was read again without a mark");
}

/// A token revoked through one server ends its live stream on another at once, not at the
/// stream's next ping 25 s later; and listeners on the other hear of tokens made through the
/// first, as they would through their own.
#[test]
fn a_token_revoked_through_one_server_ends_its_stream_on_the_other() {
    use crate::events::Stream;
    let Some(pg) = TempPostgres::start() else { return };
    let shared = tempfile::tempdir().unwrap();
    let (a, b) = pair(&pg.fresh_schema_url(), shared.path(), |_| {});
    let admin = a.create_admin();
    let (revoked, kept) = (a.token("to-revoke", "read"), a.token("to-keep", "read"));
    let (head, mut revoked_stream) = Stream::open(&b, &revoked);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let (head, mut kept_stream) = Stream::open(&b, &kept);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // Give the streams a moment to subscribe: what is published before is not for them.
    std::thread::sleep(Duration::from_millis(300));
    let made =
        json!({"name": "made-on-a", "permissions": {"create": false, "read": true, "update": false, "delete": false}});
    assert_eq!(a.post("/api/v1/integration/token-manager", Some(&admin), &made).0, 200);
    kept_stream.until("token");
    let revoke = json!({"name": "to-revoke"}).to_string();
    assert_eq!(a.call("DELETE", "/api/v1/integration/token-manager", Some(&admin), Some(&revoke)).0, 200);
    let t0 = Instant::now();
    // Within 15 s of the revoke (the first ping comes 25 s after the stream opened): `next`
    // fails the test when nothing, not even the end, comes within that.
    while let Some(event) = revoked_stream.next(Duration::from_secs(15)) {
        assert_ne!(event["type"], "ping", "the revoked token's stream went on to its ping: {event}");
    }
    println!("the revoked token's stream on b ended {} ms after the revoke through a", t0.elapsed().as_millis());
    // The other stream goes on: it hears the revoke's event, as a listener on a would.
    assert_eq!(kept_stream.until("token")["type"], "token");
}
