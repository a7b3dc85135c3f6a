//! Command key mode end to end: sshd asks `borgwarehouse key-lookup` (installed as sshd demands,
//! run as an unprivileged user) for each login's key, instead of reading one line per repository
//! in `authorized_keys`.

use std::fs;
use std::path::Path;

use bw_tests::json;

use crate::harness::{self, Borg, KeyLookupInstall, Server, Sshd, Tools};

fn command_mode_env(root: &Path) -> Vec<(String, String)> {
    vec![
        ("BW_KEY_MODE".to_string(), "command".to_string()),
        ("BW_KEY_LOOKUP_DIR".to_string(), root.join("keys").display().to_string()),
    ]
}

fn create(server: &Server, token: &str, alias: &str, key: &str) -> String {
    let (status, created) = server.post(
        "/api/v1/repositories",
        token,
        &json!({"alias": alias, "sshPublicKey": key, "storageSize": 1, "alert": 90000}),
    );
    assert_eq!(status, 200, "{created}");
    created["repositoryName"].as_str().unwrap().to_string()
}

fn setup() -> Option<(Tools, KeyLookupInstall, tempfile::TempDir)> {
    let tools = harness::tools()?;
    let lookup = KeyLookupInstall::install(std::path::Path::new(harness::BIN))?;
    let dir = tempfile::tempdir().unwrap();
    // The lookup's user must reach the key folder under the test's (otherwise private) folder.
    harness::open_to_others(dir.path());
    Some((tools, lookup, dir))
}

#[test]
fn sshd_asks_the_key_lookup_and_backups_do_not_need_the_api() {
    let Some((tools, lookup, dir)) = setup() else { return };
    let home = dir.path().join("home");
    let key_dir = dir.path().join("keys");

    // An administrator's own key stands in authorized_keys before the server ever starts.
    let admin_key = harness::keygen(dir.path(), "admin");
    fs::create_dir_all(home.join(".ssh")).unwrap();
    fs::write(home.join(".ssh/authorized_keys"), format!("{}\n", admin_key.public)).unwrap();

    let mut server = Server::start(dir.path(), &command_mode_env(dir.path()));
    let sshd = Sshd::start_with(&tools, dir.path(), &home, "sshd", &lookup.sshd_lines(&key_dir, &tools.user));
    let borg = Borg::new(&tools, dir.path(), &sshd);
    let token = server.cli_token("e2e", "create,read,update,delete");

    // A backup succeeds through the lookup; authorized_keys still holds only the admin's line.
    let key_a = harness::keygen(dir.path(), "client-a");
    let name_a = create(&server, &token, "a", &key_a.public);
    borg.ok(&key_a, &["init", "-e", "none", &borg.url(&name_a)]);
    let src = dir.path().join("src");
    harness::random_file(&src.join("f.bin"), 256 * 1024);
    borg.ok(&key_a, &["create", &format!("{}::one", borg.url(&name_a)), src.to_str().unwrap()]);
    assert!(home.join("repos").join(&name_a).join("data").is_dir());
    let file = fs::read_to_string(home.join(".ssh/authorized_keys")).unwrap();
    assert_eq!(file, format!("{}\n", admin_key.public), "command mode wrote into authorized_keys");
    // The lookup's line is the one file mode would write.
    let looked_up = std::process::Command::new(&lookup.program)
        .args(["key-lookup", "--dir", key_dir.to_str().unwrap(), "--user", &tools.user, &tools.user, "ssh-ed25519"])
        .arg(key_a.public.split(' ').nth(1).unwrap())
        .output()
        .unwrap();
    let line = String::from_utf8(looked_up.stdout).unwrap();
    assert!(
        line.contains(&format!("--restrict-to-repository {}", home.join("repos").join(&name_a).display())),
        "{line}"
    );
    assert!(line.trim_end().ends_with(&key_a.public), "{line}");
    // The admin's own line still works (sshd reads both the file and the lookup).
    let out = sshd.ssh(&admin_key, "echo admin-in");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "admin-in", "{}", String::from_utf8_lossy(&out.stderr));

    // A stranger's key is refused; the key reaches only its own repository and gets no shell.
    let stranger = harness::keygen(dir.path(), "stranger");
    assert!(!borg.run(&stranger, &["list", &borg.url(&name_a)]).status.success(), "a stranger got in");
    assert!(!borg.run(&key_a, &["init", "-e", "none", &borg.url("deadbeef")]).status.success());
    assert!(!String::from_utf8_lossy(&sshd.ssh(&key_a, "id").stdout).contains("uid="), "the key got a shell");

    // An edit takes effect at the next login: append-only refuses a delete of an archive.
    let (status, body) =
        server.patch(&format!("/api/v1/repositories/{name_a}"), &token, &json!({"appendOnlyMode": true}));
    assert_eq!(status, 200, "{body}");
    let line = fs::read_to_string(
        fs::read_dir(&key_dir)
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_dir())
            .flat_map(|d| fs::read_dir(d.path()).unwrap().flatten())
            .next()
            .unwrap()
            .path(),
    )
    .unwrap();
    assert!(line.contains("--append-only"), "{line}");

    // Archived: refused; unarchived: back in.
    let archive = format!("/api/v1/repositories/{name_a}/archive");
    assert_eq!(server.post(&archive, &token, &json!({"archived": true})).0, 200);
    assert!(
        !borg.run(&key_a, &["list", &borg.url(&name_a)]).status.success(),
        "an archived repository's client got in"
    );
    assert_eq!(server.post(&archive, &token, &json!({"archived": false})).0, 200);
    borg.ok(&key_a, &["list", &borg.url(&name_a)]);

    // With the API server stopped, existing clients still back up.
    let key_b = harness::keygen(dir.path(), "client-b");
    let name_b = create(&server, &token, "b", &key_b.public);
    borg.ok(&key_b, &["init", "-e", "none", &borg.url(&name_b)]);
    server.stop();
    borg.ok(&key_b, &["create", &format!("{}::while-stopped", borg.url(&name_b)), src.to_str().unwrap()]);
    borg.ok(&key_a, &["create", &format!("{}::while-stopped", borg.url(&name_a)), src.to_str().unwrap()]);

    // Restarted: a delete revokes access at the very next login.
    let server = Server::start(dir.path(), &command_mode_env(dir.path()));
    let (status, body) = server.delete(&format!("/api/v1/repositories/{name_b}"), &token);
    assert_eq!(status, 200, "{body}");
    let out = sshd.ssh(&key_b, "true");
    assert!(!out.status.success(), "a deleted repository's key still logs in");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    borg.ok(&key_a, &["list", &borg.url(&name_a)]);
}

/// The packaged unit runs the server with `UMask=0077`. The key folder, its shards and files
/// must still be readable by sshd's lookup user, and a start after a clean stop (which trusts
/// the folder's contents) must still repair modes a umask or a `chmod` took away.
#[test]
fn under_the_units_umask_the_lookup_user_reads_every_key_even_after_a_clean_stop() {
    let Some((tools, lookup, dir)) = setup() else { return };
    let home = dir.path().join("home");
    let key_dir = dir.path().join("keys");
    let mut server = Server::start_under_unit_umask(dir.path(), &command_mode_env(dir.path()));
    let sshd = Sshd::start_with(&tools, dir.path(), &home, "sshd", &lookup.sshd_lines(&key_dir, &tools.user));
    let borg = Borg::new(&tools, dir.path(), &sshd);
    let token = server.cli_token("e2e", "create,read,update,delete");
    let key = harness::keygen(dir.path(), "client");
    let name = create(&server, &token, "umask", &key.public);
    borg.ok(&key, &["init", "-e", "none", &borg.url(&name)]);

    // A clean stop, then the modes an older version left under the umask.
    server.stop();
    let shard = fs::read_dir(&key_dir).unwrap().flatten().find(|e| e.path().is_dir()).unwrap().path();
    let file = fs::read_dir(&shard).unwrap().flatten().next().unwrap().path();
    for (path, mode) in [(&key_dir, 0o700), (&shard, 0o700)] {
        fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
    }
    assert!(!borg.run(&key, &["list", &borg.url(&name)]).status.success(), "the test's broken modes let a login in");
    // What sshd logs names the path the lookup could not read.
    let refused = std::process::Command::new("runuser")
        .args(["-u", &lookup.run_as, "--", lookup.program.to_str().unwrap(), "key-lookup", "--dir"])
        .arg(&key_dir)
        .args(["--user", &tools.user, &tools.user, "ssh-ed25519", key.public.split(' ').nth(1).unwrap()])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && said.contains(&key_dir.display().to_string()), "{said}");

    let _server = Server::start_under_unit_umask(dir.path(), &command_mode_env(dir.path()));
    borg.ok(&key, &["list", &borg.url(&name)]);
    let modes: Vec<u32> = [&key_dir, &shard, &file]
        .iter()
        .map(|p| std::os::unix::fs::PermissionsExt::mode(&fs::metadata(p).unwrap().permissions()) & 0o777)
        .collect();
    assert_eq!(modes, [0o755, 0o755, 0o644]);
}

#[test]
fn switching_back_to_file_mode_puts_the_lines_back_and_empties_the_key_folder() {
    let Some((tools, lookup, dir)) = setup() else { return };
    let home = dir.path().join("home");
    let key_dir = dir.path().join("keys");
    let mut server = Server::start(dir.path(), &command_mode_env(dir.path()));
    let token = server.cli_token("e2e", "create,read,update,delete");
    let key = harness::keygen(dir.path(), "client");
    let name = create(&server, &token, "c", &key.public);
    server.stop();

    // Back to file mode, the key folder still configured (as a sysadmin who only flips the mode).
    let env = vec![
        ("BW_KEY_MODE".to_string(), "file".to_string()),
        ("BW_KEY_LOOKUP_DIR".to_string(), key_dir.display().to_string()),
    ];
    let _server = Server::start(dir.path(), &env);
    let file = fs::read_to_string(home.join(".ssh/authorized_keys")).unwrap();
    assert!(file.contains(&format!("/{name} ")) && file.contains(&key.public), "{file}");
    // An sshd still configured with the lookup now reads the file alone: nothing stale is left
    // in the folder to grant a login the store no longer knows.
    let leftovers: Vec<_> = fs::read_dir(&key_dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .flat_map(|d| fs::read_dir(d.path()).unwrap().flatten())
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let sshd = Sshd::start_with(&tools, dir.path(), &home, "sshd", &lookup.sshd_lines(&key_dir, &tools.user));
    let borg = Borg::new(&tools, dir.path(), &sshd);
    borg.ok(&key, &["init", "-e", "none", &borg.url(&name)]);
}

/// docs/scale-out.md, locally: two sshd instances stand for two storage hosts (two ports on
/// 127.0.0.1) over one pool on a shared folder, and both ask the key lookup of one control
/// plane. A client backs up through either, and one delete shuts it out of both.
#[test]
fn two_storage_hosts_answer_through_one_control_plane() {
    let Some((tools, lookup, dir)) = setup() else { return };
    let home = dir.path().join("home");
    let key_dir = dir.path().join("keys");
    let server = Server::start(dir.path(), &command_mode_env(dir.path()));
    let lines = lookup.sshd_lines(&key_dir, &tools.user);
    let host_a = Sshd::start_with(&tools, dir.path(), &home, "sshd-host-a", &lines);
    let host_b = Sshd::start_with(&tools, dir.path(), &home, "sshd-host-b", &lines);
    assert_ne!(host_a.port, host_b.port);
    let (via_a, via_b) = (Borg::new(&tools, dir.path(), &host_a), Borg::new(&tools, dir.path(), &host_b));
    let token = server.cli_token("e2e", "create,read,update,delete");

    let client = harness::keygen(dir.path(), "client");
    let name = create(&server, &token, "shared", &client.public);
    let src = dir.path().join("src");
    harness::random_file(&src.join("f.bin"), 128 * 1024);
    via_a.ok(&client, &["init", "-e", "none", &via_a.url(&name)]);
    via_a.ok(&client, &["create", &format!("{}::through-a", via_a.url(&name)), src.to_str().unwrap()]);
    via_b.ok(&client, &["create", &format!("{}::through-b", via_b.url(&name)), src.to_str().unwrap()]);
    let listed = String::from_utf8_lossy(&via_a.ok(&client, &["list", &via_a.url(&name)]).stdout).into_owned();
    assert!(listed.contains("through-a") && listed.contains("through-b"), "{listed}");

    let stranger = harness::keygen(dir.path(), "stranger");
    for host in [&host_a, &host_b] {
        assert!(!host.ssh(&stranger, "true").status.success(), "a stranger got into port {}", host.port);
    }
    assert_eq!(server.delete(&format!("/api/v1/repositories/{name}"), &token).0, 200);
    for host in [&host_a, &host_b] {
        let out = host.ssh(&client, "true");
        assert!(!out.status.success(), "a deleted repository's key still logs in on port {}", host.port);
    }
}
