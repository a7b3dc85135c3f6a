//! Keys of their own (the contract's "Keys and sessions"): the routes, their answers, the lines
//! they write, and the rule that 2.x clients see no difference. (Logins with two keys under a
//! real sshd and borg: tests/e2e/keys.rs.)

use bw_tests::{as_sshd_reads, ed25519_key, json, repo_body, TestServer, NOW};
use serde_json::Value;

fn create(s: &TestServer, t: &str, seed: u32) -> String {
    let (status, created) = s.post("/api/v1/repositories", Some(t), &repo_body(&ed25519_key(seed, "client")));
    assert_eq!(status, 200, "{created}");
    created["repositoryName"].as_str().unwrap().to_string()
}

fn key_id(key: &str) -> String {
    bw_host::ssh_key::key_id(key).unwrap()
}

/// The active lines of ours in the file, as sshd reads them (comments left out).
fn lines_for(s: &TestServer, name: &str) -> Vec<String> {
    as_sshd_reads(&s.authorized_keys_text())
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains(&format!("/{name} ")))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_second_key_gets_its_own_line_and_object_and_the_first_stays_what_2x_clients_see() {
    let s = TestServer::start();
    let t = s.full_token();
    let name = create(&s, &t, 1);
    let (first, second) = (ed25519_key(1, "client"), ed25519_key(2, "admin"));

    let (status, listed) = s.get(&format!("/api/v1/repositories/{name}/keys"), Some(&t));
    assert_eq!(status, 200);
    let keys = listed["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["id"], json!(key_id(&first)));
    assert_eq!(keys[0]["sshPublicKey"], json!(first));
    assert_eq!(keys[0]["mode"], json!("full"));
    assert_eq!((keys[0]["createdAt"].as_i64(), keys[0]["lastUsedAt"].as_i64()), (Some(NOW), Some(0)));
    assert!(keys[0]["fingerprint"].as_str().unwrap().starts_with("SHA256:"));

    let body = json!({"sshPublicKey": second, "mode": "append-only", "name": "the backup client"});
    let (status, added) = s.post(&format!("/api/v1/repositories/{name}/keys"), Some(&t), &body);
    assert_eq!(status, 200, "{added}");
    assert_eq!(added["key"]["id"], json!(key_id(&second)));
    assert_eq!(added["key"]["mode"], json!("append-only"));
    assert_eq!(added["key"]["name"], json!("the backup client"));

    // One line per key, each with the restriction and quota, the second append-only.
    let lines = lines_for(&s, &name);
    assert_eq!(lines.len(), 2, "{lines:?}");
    let with = |key: &str| lines.iter().find(|l| l.ends_with(key)).cloned().unwrap();
    assert!(!with(&first).contains("--append-only"), "{lines:?}");
    assert!(with(&second).contains("--append-only"), "{lines:?}");
    assert!(lines.iter().all(
        |l| l.contains(&format!("--restrict-to-repository {}/repos/{name} --storage-quota 100G", s.home.display()))
    ));

    // The v1 object lists both, oldest first; both families keep the first key's fields.
    let (_, one) = s.get(&format!("/api/v1/repositories/{name}"), Some(&t));
    let keys: Vec<&Value> = one["repo"]["keys"].as_array().unwrap().iter().collect();
    assert_eq!(keys.iter().map(|k| k["sshPublicKey"].clone()).collect::<Vec<_>>(), vec![json!(first), json!(second)]);
    assert_eq!(one["repo"]["sshPublicKey"], json!(first));
    assert_eq!(one["repo"]["appendOnlyMode"], json!(false));
    let (_, seed) = s.get("/api/repo/id/0", Some(&t));
    assert_eq!(seed["repo"]["sshPublicKey"], json!(first));
    assert!(seed["repo"].get("keys").is_none(), "the 2.x paths answer as before: {seed}");
    let (_, list) = s.get("/api/v1/repositories?include=keys", Some(&t));
    assert_eq!(list["repoList"][0]["keys"].as_array().unwrap().len(), 2);

    // An edit of `appendOnlyMode` and `sshPublicKey` on a 2.x path changes the first key only.
    let third = ed25519_key(3, "new laptop");
    let edit = json!({"appendOnlyMode": true, "sshPublicKey": third});
    assert_eq!(s.patch("/api/repo/id/0/edit", Some(&t), &edit).0, 200);
    let (_, listed) = s.get(&format!("/api/v1/repositories/{name}/keys"), Some(&t));
    let keys = listed["keys"].as_array().unwrap();
    assert_eq!((keys[0]["sshPublicKey"].clone(), keys[0]["mode"].clone()), (json!(third), json!("append-only")));
    assert_eq!((keys[1]["sshPublicKey"].clone(), keys[1]["name"].clone()), (json!(second), json!("the backup client")));
    let lines = lines_for(&s, &name);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(!s.authorized_keys_text().contains(first.split(' ').nth(1).unwrap()), "the old key's line is gone");
}

#[test]
fn a_key_can_be_renamed_switched_and_removed_but_not_the_last() {
    let s = TestServer::start();
    let t = s.full_token();
    let name = create(&s, &t, 1);
    let second = ed25519_key(2, "");
    let (status, _) = s.post(&format!("/api/v1/repositories/{name}/keys"), Some(&t), &json!({"sshPublicKey": second}));
    assert_eq!(status, 200);
    let path = |key: &str| format!("/api/v1/repositories/{name}/keys/{}", key_id(key));

    let (status, changed) = s.patch(&path(&second), Some(&t), &json!({"mode": "append-only"}));
    assert_eq!((status, changed["key"]["mode"].clone()), (200, json!("append-only")));
    let (status, changed) = s.patch(&path(&second), Some(&t), &json!({"name": "prune job"}));
    assert_eq!(
        (status, changed["key"]["name"].clone(), changed["key"]["mode"].clone()),
        (200, json!("prune job"), json!("append-only"))
    );
    assert!(lines_for(&s, &name).iter().any(|l| l.contains("--append-only") && l.ends_with(&second)));

    // Removing the first key makes the second the one 2.x clients see.
    let (status, body) = s.delete(&path(&ed25519_key(1, "client")), Some(&t));
    assert_eq!((status, body), (200, json!({"message": "Key removed"})));
    let (_, one) = s.get(&format!("/api/v1/repositories/{name}"), Some(&t));
    assert_eq!(
        (one["repo"]["sshPublicKey"].clone(), one["repo"]["appendOnlyMode"].clone()),
        (json!(second), json!(true))
    );
    assert_eq!(lines_for(&s, &name).len(), 1);

    let before = s.authorized_keys_text();
    let (status, body) = s.delete(&path(&second), Some(&t));
    assert_eq!(
        (status, body),
        (409, json!({"message": "A repository keeps at least one key; delete the repository instead"}))
    );
    assert_eq!(s.authorized_keys_text(), before, "a refusal changes nothing");
    // The removed key is free again, for this repository or another.
    let (status, _) =
        s.post(&format!("/api/v1/repositories/{name}/keys"), Some(&t), &json!({"sshPublicKey": ed25519_key(1, "")}));
    assert_eq!(status, 200);
}

#[test]
fn refusals_answer_in_the_contract_words_and_change_nothing() {
    let s = TestServer::start();
    let t = s.full_token();
    let name = create(&s, &t, 1);
    let other = create(&s, &t, 2);
    let keys = format!("/api/v1/repositories/{name}/keys");
    let before = s.authorized_keys_text();

    // A key used anywhere: by this repository, or by another.
    for used in [ed25519_key(1, "another comment"), ed25519_key(2, "")] {
        let (status, body) = s.post(&keys, Some(&t), &json!({"sshPublicKey": used}));
        assert_eq!((status, body), (409, json!({"message": "The SSH key is already used in another repository."})));
    }
    // The edit of the first key to another of the repository's keys, or another repository's.
    let (status, _) =
        s.patch(&format!("/api/v1/repositories/{other}"), Some(&t), &json!({"sshPublicKey": ed25519_key(1, "")}));
    assert_eq!(status, 409);
    // Bad bodies: 422 with the add route's texts.
    for (body, detail) in [
        (json!({"sshPublicKey": "ssh-ed25519 nope"}), "sshPublicKey"),
        (json!({"sshPublicKey": ed25519_key(9, ""), "mode": "read-only"}), "mode must be \"full\" or \"append-only\""),
        (json!({"sshPublicKey": ed25519_key(9, ""), "name": "a\nb"}), "name must not contain control characters"),
        (json!({"sshPublicKey": ed25519_key(9, ""), "name": "x".repeat(101)}), "name must be at most 100 characters"),
        (json!({"mode": "full"}), "sshPublicKey is required"),
        (json!({"sshPublicKey": ed25519_key(9, ""), "extra": 1}), "unknown field"),
    ] {
        let (status, answer) = s.post(&keys, Some(&t), &body);
        assert_eq!((status, answer["message"].clone()), (422, json!("Unexpected data")), "{body}");
        assert!(answer["detail"].as_str().unwrap().contains(detail), "{answer}");
    }
    let first = format!("{keys}/{}", key_id(&ed25519_key(1, "")));
    for body in [json!({}), json!({"mode": "all"}), json!({"sshPublicKey": ed25519_key(9, "")})] {
        assert_eq!(s.patch(&first, Some(&t), &body).0, 422, "{body}");
    }
    // Unknown key ids, and unknown repositories.
    let missing = format!("{keys}/0123456789abcdef");
    let not_found = json!({"message": format!("Key ID not found in repository {name}")});
    assert_eq!(s.patch(&missing, Some(&t), &json!({"mode": "full"})), (404, not_found.clone()));
    assert_eq!(s.delete(&missing, Some(&t)), (404, not_found));
    let (status, body) = s.get("/api/v1/repositories/deadbeef/keys", Some(&t));
    assert_eq!((status, body), (404, json!({"message": "No repository with name deadbeef"})));
    assert_eq!(s.authorized_keys_text(), before, "nothing written");

    // Permissions: read lists, update changes.
    let reader = s.token("reader", "read");
    assert_eq!(s.get(&keys, Some(&format!("Bearer {reader}"))).0, 200);
    let (status, body) = s.post(&keys, Some(&format!("Bearer {reader}")), &json!({"sshPublicKey": ed25519_key(9, "")}));
    assert_eq!((status, body), (403, json!({"message": "Insufficient permissions"})));
    assert_eq!(s.get(&keys, None).0, 401);
}

#[test]
fn an_archived_repository_keeps_its_keys_unchanged_and_unreachable() {
    if bw_tests::embedded_store_only("the #BW-ARCHIVED lines of file key mode") {
        return;
    }
    let s = TestServer::start();
    let t = s.full_token();
    let name = create(&s, &t, 1);
    let keys = format!("/api/v1/repositories/{name}/keys");
    assert_eq!(s.post(&keys, Some(&t), &json!({"sshPublicKey": ed25519_key(2, "")})).0, 200);
    assert_eq!(s.post(&format!("/api/v1/repositories/{name}/archive"), Some(&t), &json!({"archived": true})).0, 200);
    assert!(lines_for(&s, &name).is_empty(), "no active line for any key");
    assert_eq!(s.authorized_keys_text().matches("#BW-ARCHIVED ").count(), 2);
    let archived = json!({"message": "Repository is archived (read-only). Unarchive it first."});
    assert_eq!(s.post(&keys, Some(&t), &json!({"sshPublicKey": ed25519_key(3, "")})), (403, archived.clone()));
    let second = format!("{keys}/{}", key_id(&ed25519_key(2, "")));
    assert_eq!(s.patch(&second, Some(&t), &json!({"mode": "append-only"})), (403, archived.clone()));
    assert_eq!(s.delete(&second, Some(&t)), (403, archived));
    assert_eq!(s.post(&format!("/api/v1/repositories/{name}/archive"), Some(&t), &json!({"archived": false})).0, 200);
    assert_eq!(lines_for(&s, &name).len(), 2, "both lines back");
}

/// Deleting a repository takes every key's line with it, and the keys are free again.
#[test]
fn a_deleted_repository_takes_all_its_lines() {
    let s = TestServer::start();
    let t = s.full_token();
    let name = create(&s, &t, 1);
    let keys = format!("/api/v1/repositories/{name}/keys");
    assert_eq!(s.post(&keys, Some(&t), &json!({"sshPublicKey": ed25519_key(2, "")})).0, 200);
    assert_eq!(s.delete(&format!("/api/v1/repositories/{name}"), Some(&t)).0, 200);
    assert!(!as_sshd_reads(&s.authorized_keys_text()).contains("borg serve"), "{}", s.authorized_keys_text());
    let again = json!({"alias": "again", "sshPublicKey": ed25519_key(2, ""), "storageSize": 1});
    assert_eq!(s.post("/api/v1/repositories", Some(&t), &again).0, 200);
}

/// The keys survive a restart, and the file the server finds is the one it left.
#[test]
fn keys_survive_a_restart_and_the_metrics_count_them() {
    let s = TestServer::start();
    let t = s.full_token();
    let name = create(&s, &t, 1);
    let keys = format!("/api/v1/repositories/{name}/keys");
    assert_eq!(s.post(&keys, Some(&t), &json!({"sshPublicKey": ed25519_key(2, ""), "mode": "append-only"})).0, 200);
    let (status, text) = s.get("/metrics", Some(&t));
    assert_eq!(status, 200);
    let text = text.as_str().unwrap().to_string();
    assert!(text.contains(&format!("borgwarehouse_repository_keys{{repositoryName=\"{name}\"")), "{text}");
    assert!(text.lines().any(|l| l.starts_with("borgwarehouse_repository_keys{") && l.ends_with(" 2")), "{text}");
    let file = s.authorized_keys_text();
    let (dir, config) = s.stop();
    let s = TestServer::start_in(dir, config);
    assert_eq!(s.authorized_keys_text(), file, "the restart found nothing to fix");
    let (_, listed) = s.get(&keys, Some(&t));
    let modes: Vec<Value> = listed["keys"].as_array().unwrap().iter().map(|k| k["mode"].clone()).collect();
    assert_eq!(modes, vec![json!("full"), json!("append-only")]);
}
