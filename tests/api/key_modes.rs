//! Command key mode over the API, without sshd (the end-to-end tests log in through it): what a
//! mutation writes into the key folder, what stays in `authorized_keys`, and what the key folder
//! is good for when the store is lost.

use std::fs;
use std::path::{Path, PathBuf};

use bw_api::config::KeyMode;
use bw_host::key_lookup::{lookup, Miss};
use bw_tests::{ed25519_key, json, repo_body, TestServer};

const FOREIGN: &str =
    "# the admin's own key\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJm admin\n";

fn key_dir_of(data_dir: &Path) -> PathBuf {
    data_dir.parent().unwrap().join("keys")
}

fn command_mode() -> TestServer {
    TestServer::with_config(|c| {
        c.ssh.key_mode = KeyMode::Command;
        c.ssh.key_lookup_dir = Some(key_dir_of(&c.server.data_dir));
        let ssh = c.home().join(".ssh");
        fs::create_dir_all(&ssh).unwrap();
        fs::write(ssh.join("authorized_keys"), FOREIGN).unwrap();
    })
}

/// What the lookup prints for `key` (`kind BASE64 comment`), as sshd would call it.
fn looked_up(s: &TestServer, key: &str) -> Result<String, Miss> {
    let dir = key_dir_of(&s.state.config.server.data_dir);
    let mut parts = key.split(' ');
    let (kind, b64) = (parts.next().unwrap(), parts.next().unwrap());
    lookup(&dir, "borg", "borg", kind, b64).unwrap()
}

/// Every line file in the key folder.
fn files(s: &TestServer) -> Vec<PathBuf> {
    let dir = key_dir_of(&s.state.config.server.data_dir);
    let mut out: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .flat_map(|d| fs::read_dir(d.path()).unwrap().flatten().map(|e| e.path()))
        .collect();
    out.sort();
    out
}

#[test]
fn each_mutation_writes_one_key_file_and_authorized_keys_keeps_only_foreign_lines() {
    let s = command_mode();
    let t = s.full_token();
    let (key_a, key_b) = (ed25519_key(71, "a"), ed25519_key(72, "b"));
    let (status, created) = s.post("/api/v1/repositories", Some(&t), &repo_body(&key_a));
    assert_eq!(status, 200, "{created}");
    let name = created["repositoryName"].as_str().unwrap().to_string();
    let path = format!("/api/v1/repositories/{name}");
    let line = looked_up(&s, &key_a).unwrap();
    assert_eq!(
        line,
        s.state.repos.authorized_keys().render(&s.state.repos.get_by_name(&name).unwrap().unwrap().lines()[0])
    );
    assert_eq!(files(&s).len(), 1);
    assert_eq!(fs::read_to_string(s.authorized_keys()).unwrap(), FOREIGN, "command mode wrote into authorized_keys");

    assert_eq!(s.patch(&path, Some(&t), &json!({"storageSize": 77, "appendOnlyMode": true})).0, 200);
    let line = looked_up(&s, &key_a).unwrap();
    assert!(line.contains("--append-only") && line.contains("--storage-quota 77G"), "{line}");

    // Archived: no file, so no login; unarchived: back.
    assert_eq!(s.post(&format!("{path}/archive"), Some(&t), &json!({"archived": true})).0, 200);
    assert_eq!(looked_up(&s, &key_a), Err(Miss::UnknownKey));
    assert!(files(&s).is_empty());
    assert_eq!(s.post(&format!("{path}/archive"), Some(&t), &json!({"archived": false})).0, 200);
    assert!(looked_up(&s, &key_a).is_ok());

    // A new key: the old one is refused at once.
    assert_eq!(s.patch(&path, Some(&t), &json!({"sshPublicKey": key_b})).0, 200);
    assert_eq!(looked_up(&s, &key_a), Err(Miss::UnknownKey));
    assert!(looked_up(&s, &key_b).unwrap().contains(&format!("/{name} ")));
    assert_eq!(files(&s).len(), 1);

    // A key standing on a foreign line is still refused for a repository.
    let admin = FOREIGN.lines().nth(1).unwrap();
    assert_eq!(s.post("/api/v1/repositories", Some(&t), &repo_body(admin)).0, 409);

    assert_eq!(s.delete(&path, Some(&t)).0, 200);
    assert_eq!(looked_up(&s, &key_b), Err(Miss::UnknownKey));
    assert!(files(&s).is_empty());
    assert_eq!(fs::read_to_string(s.authorized_keys()).unwrap(), FOREIGN);
}

/// docs/scale-out.md's last resort: with the store lost, the key folder's lines put into a fresh
/// borg home's authorized_keys are taken in at the first start, names, keys and quotas kept.
#[test]
fn the_key_folder_brings_the_repositories_back_when_the_store_is_lost() {
    let s = command_mode();
    let t = s.full_token();
    let mut made = Vec::new();
    for (i, quota) in [(81, 5), (82, 9)] {
        let mut body = repo_body(&ed25519_key(i, ""));
        body["storageSize"] = json!(quota);
        let (_, created) = s.post("/api/v1/repositories", Some(&t), &body);
        made.push((created["repositoryName"].as_str().unwrap().to_string(), ed25519_key(i, ""), quota));
    }
    let lines: String = files(&s).iter().map(|f| fs::read_to_string(f).unwrap()).collect();
    let home = s.home.clone();
    let (_dir, _) = s.stop();

    let fresh = TestServer::with_config(|c| {
        c.server.home = Some(home.clone());
        let ssh = home.join(".ssh");
        fs::write(ssh.join("authorized_keys"), format!("{FOREIGN}{lines}")).unwrap();
    });
    let t = fresh.full_token();
    for (name, key, quota) in made {
        let (status, one) = fresh.get(&format!("/api/v1/repositories/{name}"), Some(&t));
        assert_eq!(status, 200, "{name} not taken in: {one}");
        assert_eq!(
            (one["repo"]["sshPublicKey"].as_str(), one["repo"]["storageSize"].as_u64()),
            (Some(key.as_str()), Some(quota))
        );
    }
}

/// A package purged and installed again in command mode: the store is new, `authorized_keys`
/// holds none of the lines, and the kept key folder is where the repositories are found.
#[test]
fn a_first_start_over_a_kept_key_folder_takes_its_repositories_back() {
    let s = command_mode();
    let t = s.full_token();
    let key = ed25519_key(83, "kept");
    let (_, created) = s.post("/api/v1/repositories", Some(&t), &repo_body(&key));
    let name = created["repositoryName"].as_str().unwrap().to_string();
    let (home, keys) = (s.home.clone(), key_dir_of(&s.state.config.server.data_dir));
    let (_dir, _) = s.stop();
    assert!(!fs::read_to_string(home.join(".ssh/authorized_keys")).unwrap().contains(&name));

    let fresh = TestServer::with_config(|c| {
        c.server.home = Some(home.clone());
        c.ssh.key_mode = KeyMode::Command;
        c.ssh.key_lookup_dir = Some(keys.clone());
    });
    let t = fresh.full_token();
    let (status, one) = fresh.get(&format!("/api/v1/repositories/{name}"), Some(&t));
    assert_eq!(status, 200, "{name} not taken in from the key folder: {one}");
    assert_eq!(one["repo"]["sshPublicKey"].as_str(), Some(key.as_str()));
    // Still served from the kept folder, now on the new store's say-so.
    let b64 = key.split(' ').nth(1).unwrap();
    let line = lookup(&keys, "borg", "borg", "ssh-ed25519", b64).unwrap().unwrap();
    assert!(line.contains(&format!("/{name} ")), "{line}");
}

fn key_file_of(s: &TestServer, key: &str) -> PathBuf {
    let b64 = key.split(' ').nth(1).unwrap();
    let blob = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).unwrap();
    let name = bw_host::key_lookup::key_file_name(&blob);
    key_dir_of(&s.state.config.server.data_dir).join(&name[..2]).join(name)
}

/// After a graceful stop the next start trusts the key folder without reading its files (a
/// file removed by hand while the server was stopped stays removed, which shows it was not
/// read); after anything else (a crash: no mark) it reads and repairs the folder.
#[test]
fn a_clean_stop_lets_the_next_start_skip_reading_the_key_folder_and_a_crash_does_not() {
    if bw_tests::embedded_store_only("a clean stop is trusted only by a server alone on its store") {
        return;
    }
    let s = command_mode();
    let t = s.full_token();
    let key = ed25519_key(95, "");
    assert_eq!(s.post("/api/v1/repositories", Some(&t), &repo_body(&key)).0, 200);
    let file = key_file_of(&s, &key);
    let (dir, config) = s.stop();
    let marker = key_dir_of(&config.server.data_dir).join(".clean-stop");
    assert!(marker.is_file(), "a graceful stop marks the folder");

    fs::remove_file(&file).unwrap();
    let s = TestServer::start_in(dir, config);
    assert!(!file.exists(), "the folder was read although the stop was clean");
    assert!(!marker.exists(), "the mark counts once");
    let (dir, config) = s.stop();

    // A crash leaves no mark: the folder is read and repaired.
    fs::remove_file(&marker).unwrap();
    let s = TestServer::start_in(dir, config);
    assert!(file.is_file(), "the missing key file was not repaired");
    drop(s);
}

/// A run in file mode between two runs in command mode changes the store without the key
/// folder (here not even configured, so nothing touches the folder or its mark): the mark of
/// the first run must not let the third skip reading it.
#[test]
fn a_file_mode_run_in_between_voids_the_clean_stop() {
    if bw_tests::embedded_store_only("file key mode, which a database refuses") {
        return;
    }
    let s = command_mode();
    let t = s.full_token();
    let first = ed25519_key(96, "");
    assert_eq!(s.post("/api/v1/repositories", Some(&t), &repo_body(&first)).0, 200);
    let (dir, mut config) = s.stop();
    let folder = config.ssh.key_lookup_dir.take().unwrap();
    assert!(folder.join(".clean-stop").is_file());

    config.ssh.key_mode = KeyMode::File;
    let s = TestServer::start_in(dir, config);
    let second = ed25519_key(97, "");
    assert_eq!(s.post("/api/v1/repositories", Some(&t), &repo_body(&second)).0, 200);
    let (dir, mut config) = s.stop();
    assert!(folder.join(".clean-stop").is_file(), "the mark is still there, as a sysadmin's file mode leaves it");

    config.ssh.key_mode = KeyMode::Command;
    config.ssh.key_lookup_dir = Some(folder);
    let s = TestServer::start_in(dir, config);
    assert!(looked_up(&s, &first).is_ok(), "the first repository lost its key file");
    assert!(looked_up(&s, &second).is_ok(), "the repository made in file mode has no key file");
}

/// A clean stop lets the next start trust the key folder only when that start writes the same
/// lines: here the borg home (and so the pool every line names) was corrected while the server
/// was stopped, and every key file must name the new pool.
#[test]
fn a_changed_home_after_a_clean_stop_rewrites_every_key_file() {
    if bw_tests::embedded_store_only("a clean stop is trusted only by a server alone on its store") {
        return;
    }
    let s = command_mode();
    let t = s.full_token();
    let key = ed25519_key(98, "");
    let (status, created) = s.post("/api/v1/repositories", Some(&t), &repo_body(&key));
    assert_eq!(status, 200, "{created}");
    let name = created["repositoryName"].as_str().unwrap().to_string();
    let (dir, mut config) = s.stop();
    assert!(key_dir_of(&config.server.data_dir).join(".clean-stop").is_file(), "a graceful stop marks the folder");

    let home = dir.path().join("corrected-home");
    fs::create_dir_all(home.join(".ssh")).unwrap();
    config.server.home = Some(home.clone());
    let s = TestServer::start_in(dir, config);
    let line = looked_up(&s, &key).unwrap();
    let pool = home.join("repos");
    assert!(
        line.contains(&format!(" --restrict-to-repository {}/{name} ", pool.display())),
        "the key file still names the old pool: {line}"
    );
    // The next clean stop and start, with nothing changed, trusts the folder again.
    let file = key_file_of(&s, &key);
    let (dir, config) = s.stop();
    fs::remove_file(&file).unwrap();
    let s = TestServer::start_in(dir, config);
    assert!(!file.exists(), "the folder was read although neither it nor the lines' form changed");
    drop(s);
}
