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
