//! Lines this server did not write survive every change, and the store is the truth.

use bw_tests::{ed25519_key, json, repo_body, TestServer};
use std::os::unix::fs::PermissionsExt;

const FOREIGN_HEAD: &str = "# managed by hand\nno-pty,from=\"10.0.0.1\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl admin@laptop\n\n";
const FOREIGN_TAIL: &str = "ssh-rsa   AAAAweird   spacing kept\n";

fn write_foreign(s: &TestServer) {
    let path = s.authorized_keys();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, format!("{FOREIGN_HEAD}{FOREIGN_TAIL}")).unwrap();
}

fn foreign_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.starts_with("command=\"cd ")).collect()
}

#[test]
fn foreign_lines_survive_create_edit_delete_and_reconcile() {
    if bw_tests::embedded_store_only("lines of authorized_keys (file key mode)") {
        return;
    }
    let s = TestServer::start();
    write_foreign(&s);
    let expected_foreign =
        foreign_lines(&format!("{FOREIGN_HEAD}{FOREIGN_TAIL}")).iter().map(|l| l.to_string()).collect::<Vec<_>>();
    let t = s.full_token();
    let (_, a) = s.post("/api/repo/add", Some(&t), &repo_body(&ed25519_key(1, "")));
    let (_, b) = s.post("/api/repo/add", Some(&t), &repo_body(&ed25519_key(2, "")));
    let text = s.authorized_keys_text();
    assert!(text.starts_with(&format!("{FOREIGN_HEAD}{FOREIGN_TAIL}")), "foreign lines first, in place:\n{text}");
    assert_eq!(text.lines().count(), 6);
    let mode = std::fs::metadata(s.authorized_keys()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let pool_mode = std::fs::metadata(s.home.join("repos")).unwrap().permissions().mode() & 0o777;
    assert_eq!(pool_mode, 0o700);

    let a_id = a["id"].as_u64().unwrap();
    assert_eq!(s.patch(&format!("/api/repo/id/{a_id}/edit"), Some(&t), &json!({"storageSize": 7})).0, 200);
    let b_id = b["id"].as_u64().unwrap();
    assert_eq!(s.delete(&format!("/api/repo/id/{b_id}/delete"), Some(&t)).0, 200);
    let text = s.authorized_keys_text();
    assert_eq!(foreign_lines(&text), expected_foreign);
    assert_eq!(text.lines().count(), 5);
    assert!(text.contains("--storage-quota 7G"));

    // Someone tampers with our line and removes nothing else; a restart puts it back.
    let tampered = text.replace("--storage-quota 7G\",restrict", "--storage-quota 9999G\",restrict");
    std::fs::write(s.authorized_keys(), &tampered).unwrap();
    let (dir, config) = s.stop();
    let s = TestServer::start_in(dir, config);
    assert_eq!(s.authorized_keys_text(), text, "reconcile restores our line and keeps the rest");
}

#[test]
fn reconcile_adds_missing_lines_and_drops_stale_ones() {
    if bw_tests::embedded_store_only("lines of authorized_keys (file key mode)") {
        return;
    }
    let s = TestServer::start();
    let t = s.full_token();
    let (_, a) = s.post("/api/repo/add", Some(&t), &repo_body(&ed25519_key(1, "")));
    let name = a["repositoryName"].as_str().unwrap();
    let good = s.authorized_keys_text();
    let stale = good.replace(name, "deadbeef");
    // The file lost our line and holds a line for a repository the store does not know.
    std::fs::write(s.authorized_keys(), format!("{FOREIGN_TAIL}{stale}")).unwrap();
    let (dir, config) = s.stop();
    let s = TestServer::start_in(dir, config);
    assert_eq!(s.authorized_keys_text(), format!("{FOREIGN_TAIL}{good}"));
}

#[test]
fn a_key_on_a_foreign_line_is_in_use() {
    let s = TestServer::start();
    write_foreign(&s);
    let t = s.full_token();
    let admin_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl other-comment";
    let (status, body) = s.post("/api/repo/add", Some(&t), &repo_body(admin_key));
    assert_eq!(status, 409, "{body}");
    assert!(s.state.repos.is_empty());
}

/// Pointed at a borg home that a BorgWarehouse server managed, a fresh store takes in the
/// repository lines instead of cutting every client off; after that first start, the store is
/// the truth.
#[test]
fn a_fresh_store_takes_in_existing_repository_lines() {
    if bw_tests::embedded_store_only("lines of authorized_keys (file key mode)") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let pool = home.join("repos");
    let existing = format!(
        "{FOREIGN_TAIL}command=\"cd {p};borg serve --restrict-to-repository {p}/0a1b2c3d --storage-quota 50G\",restrict {}\n\
         command=\"cd {p};borg serve --append-only --restrict-to-repository {p}/deadbeef --storage-quota 7G\",restrict {}\n",
        ed25519_key(1, "laptop"),
        ed25519_key(2, ""),
        p = pool.display()
    );
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(home.join(".ssh/authorized_keys"), &existing).unwrap();
    // Sessions off: with them on, the lines would be rewritten to run the recorder
    // (tests/api/sessions.rs).
    let config = bw_api::config::Config::in_process(dir.path());
    assert_eq!(config.server.home.as_ref(), Some(&home));
    let s = TestServer::start_in(dir, config);
    assert_eq!(s.authorized_keys_text(), existing, "nothing cut off, nothing rewritten");
    let t = s.full_token();
    let (_, list) = s.get("/api/repo", Some(&t));
    let repos = list["repoList"].as_array().unwrap();
    assert_eq!(repos.len(), 2);
    assert_eq!((repos[0]["repositoryName"].as_str(), repos[0]["storageSize"].as_u64()), (Some("0a1b2c3d"), Some(50)));
    assert_eq!(
        (repos[1]["repositoryName"].as_str(), repos[1]["appendOnlyMode"].as_bool()),
        (Some("deadbeef"), Some(true))
    );
    assert_eq!(repos[0]["sshPublicKey"], ed25519_key(1, "laptop"));

    // Later starts: the store is the truth; a line added by hand in our form is stale.
    let (_, created) = s.post("/api/repo/add", Some(&t), &repo_body(&ed25519_key(3, "")));
    assert_eq!(created["id"], 2, "ids continue after the adopted ones");
    let (dir, config) = s.stop();
    let stale = format!(
        "command=\"cd {p};borg serve --restrict-to-repository {p}/feedf00d --storage-quota 1G\",restrict {}\n",
        ed25519_key(4, ""),
        p = pool.display()
    );
    let mut text = std::fs::read_to_string(home.join(".ssh/authorized_keys")).unwrap();
    text.push_str(&stale);
    std::fs::write(home.join(".ssh/authorized_keys"), &text).unwrap();
    let s = TestServer::start_in(dir, config);
    assert!(!s.authorized_keys_text().contains("feedf00d"));
    assert_eq!(s.state.repos.len(), 3);
}
