//! Moving a BorgWarehouse host over, on the files BorgWarehouse 2.4.4 and 3.6.0 wrote
//! themselves (`../shared/fixtures/`), and on fixtures of our own for what they lack.

use std::path::{Path, PathBuf};

use bw_tests::{ed25519_key, json, test_config, TestServer};
use serde_json::Value;

fn fixture(version: &str, file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../shared/fixtures/borgwarehouse-{version}/{file}"))
}

fn json_file(version: &str, file: &str) -> Vec<Value> {
    serde_json::from_str(&std::fs::read_to_string(fixture(version, file)).unwrap()).unwrap()
}

/// An administrator's own key, on a line BorgWarehouse did not write: it must stay as it is.
const ADMIN_LINE: &str =
    "no-pty ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJm admin@host";

/// A borg home as BorgWarehouse `version` left it, moved to `home` (its lines name
/// `/home/borgwarehouse`), with the administrator's own line in the middle.
fn borg_home(version: &str, home: &Path, reorder: bool) -> String {
    let text = std::fs::read_to_string(fixture(version, "authorized_keys")).unwrap();
    let text = text.replace("/home/borgwarehouse", &home.display().to_string());
    let mut lines: Vec<&str> = text.lines().collect();
    if reorder {
        lines.reverse();
    }
    lines.insert(1, ADMIN_LINE);
    let content = format!("{}\n", lines.join("\n"));
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(home.join(".ssh/authorized_keys"), &content).unwrap();
    content
}

fn start_on(version: &str, reorder: bool) -> (TestServer, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path());
    let original = borg_home(version, &config.home(), reorder);
    (TestServer::start_in(dir, config), original)
}

fn import(s: &TestServer, version: &str, dry_run: bool) -> bw_store::repo_store::import::ImportReport {
    s.block_on(s.state.repos.import_borgwarehouse(json_file(version, "repo.json"), dry_run)).unwrap()
}

/// Every repository of repo.json is served under its BorgWarehouse id, with its fields.
fn assert_managed_as_borgwarehouse_had_them(s: &TestServer, version: &str, token: &str) {
    let entries = json_file(version, "repo.json");
    let (_, list) = s.get("/api/v1/repositories", Some(token));
    assert_eq!(list["repoList"].as_array().unwrap().len(), entries.len());
    for entry in &entries {
        let id = entry["id"].as_u64().unwrap();
        let (status, one) = s.get(&format!("/api/repo/id/{id}"), Some(token));
        assert_eq!(status, 200, "BorgWarehouse id {id}");
        let repo = &one["repo"];
        for field in
            ["repositoryName", "alias", "storageSize", "alert", "comment", "appendOnlyMode", "lanCommand", "lastSave"]
        {
            assert_eq!(repo[field], entry[field], "id {id}: {field}");
        }
        assert_eq!(repo["archived"], entry.get("archived").cloned().unwrap_or(json!(false)), "id {id}: archived");
        assert!(repo.get("icon").is_none(), "the 2.x paths do not show icon");
        let name = entry["repositoryName"].as_str().unwrap();
        let (_, v1) = s.get(&format!("/api/v1/repositories/{name}"), Some(token));
        assert_eq!(v1["repo"].get("icon"), entry.get("icon"), "id {id}: icon on the v1 paths");
        assert_eq!(v1["repo"]["id"], id);
    }
}

/// The lines: one per repository in the current form (archived ones commented out), and the
/// administrator's line untouched, in place.
fn assert_lines(s: &TestServer, version: &str) {
    let text = s.authorized_keys_text();
    assert_eq!(text.lines().nth(1), Some(ADMIN_LINE), "the administrator's line moved or changed:\n{text}");
    for entry in json_file(version, "repo.json") {
        let name = entry["repositoryName"].as_str().unwrap();
        let line = text
            .lines()
            .find(|l| l.contains(&format!("/repos/{name} ")))
            .unwrap_or_else(|| panic!("no line for {name}"));
        assert!(
            line.contains(&format!("--restrict-to-repository {}/{name} ", s.home.join("repos").display())),
            "{line}"
        );
        assert!(!line.contains("--restrict-to-path"), "{line}");
        assert_eq!(line.starts_with("#BW-ARCHIVED "), entry.get("archived") == Some(&json!(true)), "{line}");
        assert!(line.ends_with(entry["sshPublicKey"].as_str().unwrap()), "{line}");
    }
    assert_eq!(text.lines().count(), json_file(version, "repo.json").len() + 1);
}

fn moved_host(version: &str, reorder: bool) {
    let (s, original) = start_on(version, reorder);
    // Before the import, every client still connects: the lines were taken in.
    assert_eq!(s.state.repos.len(), 3);
    if version.starts_with("2.") {
        assert_ne!(s.authorized_keys_text(), original, "old-form lines are rewritten to the current form");
    } else {
        assert_eq!(s.authorized_keys_text(), original, "lines already in the current form stay byte for byte");
    }
    let dry = import(&s, version, true);
    assert_eq!(dry.added.len() + dry.updated.len(), 3, "{dry:?}");
    let text_before = s.authorized_keys_text();
    let report = import(&s, version, false);
    assert_eq!(report.added, Vec::<String>::new(), "{report:?}");
    assert_eq!(report.updated.len(), 3, "{report:?}");
    if reorder {
        assert!(!report.renumbered.is_empty(), "{report:?}");
    }
    assert!(text_before.lines().nth(1) == Some(ADMIN_LINE));

    // BorgWarehouse's tokens keep working, with their permissions.
    let users = json_file(version, "users.json");
    let tokens = s.state.tokens.import_borgwarehouse(&users, false).unwrap();
    assert_eq!(tokens.added, ["ansible", "monitoring"], "{tokens:?}");
    let ansible = users[0]["tokens"][0]["token"].as_str().unwrap().to_string();
    let monitoring = users[0]["tokens"][1]["token"].as_str().unwrap().to_string();
    assert_managed_as_borgwarehouse_had_them(&s, version, &ansible);
    assert_lines(&s, version);
    assert_eq!(s.get("/api/v1/repositories", Some(&monitoring)).0, 200);
    assert_eq!(s.delete("/api/repo/id/0/delete", Some(&ansible)).0, 403, "ansible has no delete");
    let (status, _) = s.post(
        "/api/v1/repositories",
        Some(&monitoring),
        &json!({"alias": "x", "sshPublicKey": ed25519_key(9, ""), "storageSize": 1}),
    );
    assert_eq!(status, 403, "monitoring only reads");

    // A second run changes nothing.
    let text = s.authorized_keys_text();
    let again = import(&s, version, false);
    assert_eq!((again.added.len(), again.updated.len(), again.unchanged.len()), (0, 0, 3), "{again:?}");
    assert!(again.renumbered.is_empty());
    assert_eq!(s.authorized_keys_text(), text);
    let tokens = s.state.tokens.import_borgwarehouse(&users, false).unwrap();
    assert_eq!(tokens.unchanged, ["ansible", "monitoring"], "{tokens:?}");

    // The next repository made here continues after BorgWarehouse's highest id.
    let (_, created) = s.post(
        "/api/v1/repositories",
        Some(&ansible),
        &json!({"alias": "new", "sshPublicKey": ed25519_key(9, ""), "storageSize": 1}),
    );
    assert_eq!(created["id"], 3);

    // And all of it survives a restart.
    let (dir, config) = s.stop();
    let s = TestServer::start_in(dir, config);
    assert_managed_as_borgwarehouse_had_them_after_restart(&s, version, &ansible);
}

fn assert_managed_as_borgwarehouse_had_them_after_restart(s: &TestServer, version: &str, token: &str) {
    for entry in json_file(version, "repo.json") {
        let (status, one) = s.get(&format!("/api/repo/id/{}", entry["id"]), Some(token));
        assert_eq!((status, &one["repo"]["repositoryName"]), (200, &entry["repositoryName"]));
    }
    assert_eq!(s.state.repos.len(), 4);
}

#[test]
fn a_borgwarehouse_2_4_4_host_moves_over() {
    if bw_tests::embedded_store_only("BorgWarehouse's lines taken in from authorized_keys (file key mode)") {
        return;
    }
    moved_host("2.4.4", false);
}

#[test]
fn a_borgwarehouse_3_6_0_host_moves_over_archived_repository_included() {
    if bw_tests::embedded_store_only("BorgWarehouse's lines taken in from authorized_keys (file key mode)") {
        return;
    }
    moved_host("3.6.0", false);
}

/// Our own fixture: lines in another order than BorgWarehouse's ids, so the records taken in
/// at first start get other ids, which the import corrects (no client has seen them).
#[test]
fn ids_taken_in_at_first_start_become_borgwarehouse_ids() {
    if bw_tests::embedded_store_only("BorgWarehouse's lines taken in from authorized_keys (file key mode)") {
        return;
    }
    moved_host("2.4.4", true);
    moved_host("3.6.0", true);
}

/// An id clients have seen is never changed: a repository made here through the API keeps its
/// id, and an import that wants it for another repository is refused, naming both.
#[test]
fn an_id_clients_have_seen_is_never_taken() {
    let s = TestServer::start();
    let t = s.full_token();
    let (_, mine) = s.post(
        "/api/v1/repositories",
        Some(&t),
        &json!({"alias": "mine", "sshPublicKey": ed25519_key(9, ""), "storageSize": 1}),
    );
    assert_eq!(mine["id"], 0);
    let before = s.authorized_keys_text();
    let err =
        s.block_on(s.state.repos.import_borgwarehouse(json_file("2.4.4", "repo.json"), false)).unwrap_err().to_string();
    assert!(
        err.contains("BorgWarehouse id 0 (81ffe3c7)") && err.contains(mine["repositoryName"].as_str().unwrap()),
        "{err}"
    );
    assert_eq!(s.authorized_keys_text(), before);
    assert_eq!(s.state.repos.len(), 1);
}

/// BorgWarehouse's tokens: a name that exists here, or that two users share, is skipped and
/// said; only hashes are stored.
#[test]
fn token_names_taken_here_or_shared_are_skipped() {
    let s = TestServer::start();
    s.token("ansible", "read");
    let mut users = json_file("2.4.4", "users.json");
    let mut second = users[0].clone();
    second["username"] = json!("other");
    second["tokens"] = json!([{"name": "shared", "token": "11111111-1111-4111-8111-111111111111", "creation": 1, "permissions": {"create": false, "read": true, "update": false, "delete": false}}]);
    users[0]["tokens"].as_array_mut().unwrap().push(json!({"name": "shared", "token": "22222222-2222-4222-8222-222222222222", "creation": 1, "permissions": {"create": false, "read": true, "update": false, "delete": false}}));
    users.push(second);
    let report = s.state.tokens.import_borgwarehouse(&users, false).unwrap();
    assert_eq!(report.added, ["monitoring"]);
    let skipped: Vec<&str> = report.skipped.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(skipped, ["ansible", "shared"], "{report:?}");
    let value = users[0]["tokens"][0]["token"].as_str().unwrap();
    assert_eq!(s.get("/api/repo", Some(value)).0, 403, "the ansible here is another token");
    assert_eq!(s.get("/api/repo", Some("22222222-2222-4222-8222-222222222222")).0, 403);
    let dump = format!("{:?}", s.state.tokens.list().unwrap());
    assert!(!dump.contains(users[0]["tokens"][1]["token"].as_str().unwrap()), "a value stored in clear");
}

/// A repo.json whose alert BorgWarehouse 3.x accepted (any number) and an old alias are taken
/// as they are; a later edit validates only what it sends.
#[test]
fn what_borgwarehouse_accepted_is_taken_as_it_is() {
    let s = TestServer::start();
    let t = s.full_token();
    let long_alias = "a".repeat(140);
    let entries =
        vec![json!({"id": 7, "alias": long_alias, "repositoryName": "0a1b2c3d", "sshPublicKey": ed25519_key(3, "x\n"),
        "storageSize": 10, "alert": 7200, "unixUser": "borgwarehouse"})];
    let report = s.block_on(s.state.repos.import_borgwarehouse(entries, false)).unwrap();
    assert_eq!(report.added, ["0a1b2c3d"]);
    let (_, one) = s.get("/api/repo/id/7", Some(&t));
    assert_eq!((one["repo"]["alert"].as_u64(), one["repo"]["alias"].as_str()), (Some(7200), Some(long_alias.as_str())));
    assert_eq!(
        s.patch("/api/repo/id/7/edit", Some(&t), &json!({"storageSize": 20})).0,
        200,
        "an edit of another field passes"
    );
    assert_eq!(
        s.patch("/api/repo/id/7/edit", Some(&t), &json!({"alert": 7200})).0,
        422,
        "sent again, the alert is validated"
    );
}

/// BorgWarehouse's `status` is shown as it was until this server's next status check computes
/// its own.
#[test]
fn the_imported_status_holds_until_the_next_check() {
    let s = TestServer::with_config(|c| c.auth.cronjob_key = Some("k".into()));
    let t = s.full_token();
    let entries = vec![json!({"id": 0, "alias": "a", "repositoryName": "0a1b2c3d", "sshPublicKey": ed25519_key(3, ""),
        "storageSize": 10, "alert": 3600, "lastSave": 0, "status": true})];
    s.block_on(s.state.repos.import_borgwarehouse(entries.clone(), false)).unwrap();
    for path in ["/api/repo", "/api/v1/repositories"] {
        let (_, list) = s.get(path, Some(&t));
        assert_eq!(list["repoList"][0]["status"], true, "{path}");
        assert!(list["repoList"][0].get("importedStatus").is_none(), "{path}: an internal field shows");
    }
    let again = s.block_on(s.state.repos.import_borgwarehouse(entries, false)).unwrap();
    assert_eq!(again.unchanged, ["0a1b2c3d"]);
    assert_eq!(s.call("POST", "/api/cronjob/checkStatus", Some("Bearer k"), None).0, 200);
    let (_, one) = s.get("/api/v1/repositories/0a1b2c3d", Some(&t));
    assert_eq!(one["repo"]["status"], false, "the check computed this server's own status");
    let (_, list) = s.get("/api/repo", Some(&t));
    assert_eq!(list["repoList"][0]["status"], false);
}

/// When `authorized_keys` cannot be written, the import is undone: records, ids and the marks
/// of first-start records come back, and the same import succeeds once the file can be written.
#[test]
fn an_import_that_cannot_write_the_file_is_undone() {
    if bw_tests::embedded_store_only("authorized_keys made unwritable (file key mode)") {
        return;
    }
    let (s, _) = start_on("2.4.4", true);
    let ids_before: Vec<(u64, String)> =
        s.state.repos.list().unwrap().into_iter().map(|r| (r.id, r.repository_name)).collect();
    // The file reads, but its replacement cannot be made: a folder stands where the atomic
    // write puts its temporary file.
    let in_the_way = s.authorized_keys().with_file_name(format!(".authorized_keys.{}.tmp", std::process::id()));
    std::fs::create_dir_all(in_the_way.join("x")).unwrap();
    let text = s.authorized_keys_text();
    // A quota that differs from the line's, so the import has to write the file.
    let mut entries = json_file("2.4.4", "repo.json");
    entries[0]["storageSize"] = json!(77);
    let err = s.block_on(s.state.repos.import_borgwarehouse(entries.clone(), false));
    assert!(err.is_err(), "the import claimed success without its file");
    let ids_after: Vec<(u64, String)> =
        s.state.repos.list().unwrap().into_iter().map(|r| (r.id, r.repository_name)).collect();
    assert_eq!(ids_after, ids_before, "the store was not put back");
    assert_eq!(s.authorized_keys_text(), text);
    std::fs::remove_dir_all(&in_the_way).unwrap();
    let report = s.block_on(s.state.repos.import_borgwarehouse(entries, false)).unwrap();
    assert!(!report.renumbered.is_empty(), "the first-start records lost their marks: {report:?}");
    assert!(s.authorized_keys_text().contains("--storage-quota 77G"));
}
