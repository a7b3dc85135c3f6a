//! A real borg client backs up into a repository placed on a storage target, through the link
//! in the pool and the unchanged `authorized_keys` line; the checks read it there, and a delete
//! removes it from the target.

use std::fs;

use bw_tests::{du, json};

use crate::harness::{self, Borg, Server, Sshd};

#[test]
fn borg_backs_up_into_a_storage_target_and_a_delete_removes_it_there() {
    let Some(tools) = harness::tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    // A second "disk": a folder marked as a target on purpose (it is on the root filesystem).
    let disk = dir.path().join("disk2");
    fs::create_dir_all(&disk).unwrap();
    fs::write(disk.join(bw_host::storage_target::MARKER), "").unwrap();
    let env = vec![("STORAGE_TARGETS".to_string(), format!("{}|Second disk", disk.display()))];
    let server = Server::start(dir.path(), &env);
    let sshd = Sshd::start(&tools, dir.path(), &home);
    let token = server.cli_token("e2e-target", "create,read,delete");
    let key = harness::keygen(dir.path(), "client-target");
    let (status, created) = server.post(
        "/api/v1/repositories",
        &token,
        &json!({"alias": "on disk 2", "sshPublicKey": key.public, "storageSize": 1, "alert": 3600,
                "storageTarget": disk.to_string_lossy()}),
    );
    assert_eq!(status, 200, "{created}");
    let name = created["repositoryName"].as_str().unwrap().to_string();
    let on_target = disk.join(&name);

    let borg = Borg::new(&tools, dir.path(), &sshd);
    borg.ok(&key, &["init", "-e", "none", &borg.url(&name)]);
    let src = dir.path().join("src");
    harness::random_file(&src.join("data.bin"), 2 * 1024 * 1024);
    borg.ok(&key, &["create", &format!("{}::first", borg.url(&name)), src.to_str().unwrap()]);
    assert!(on_target.join("data").is_dir(), "the backup landed on the target");
    assert!(fs::symlink_metadata(home.join("repos").join(&name)).unwrap().file_type().is_symlink());

    assert_eq!(server.cron("/api/v1/cron/status").0, 200);
    assert_eq!(server.cron("/api/v1/cron/storage").0, 200);
    let repo = server.repo(&token, &name);
    assert_eq!(repo["storageTarget"], json!(disk.to_string_lossy()));
    assert_eq!(repo["status"], true, "{repo}");
    assert_eq!(repo["storageUsed"].as_u64().unwrap(), du(&on_target), "storageUsed is du of the folder on the target");
    let (_, st) = server.get("/api/v1/storage-targets/status", &token);
    assert_eq!(st["statuses"][0]["name"], "Second disk");
    assert_eq!(st["statuses"][0]["available"], true);

    assert_eq!(server.delete(&format!("/api/v1/repositories/{name}"), &token).0, 200);
    assert!(!on_target.exists(), "the repository is gone from the target");
    assert!(fs::symlink_metadata(home.join("repos").join(&name)).is_err(), "the link is gone");
    assert!(!borg.run(&key, &["list", &borg.url(&name)]).status.success(), "the client still gets in");
}
