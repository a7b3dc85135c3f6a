//! The command line as a sysadmin uses it: against a stopped server, and against a running one
//! through its control socket.

use std::path::PathBuf;
use std::process::Command;

use crate::cli_env::{get, Env, Running, BIN};

#[test]
fn tokens_from_the_command_line_with_the_server_stopped_then_running() {
    let env = Env::new();
    let (ok, out, err) = env.run(&["token", "create", "--name", "offline", "--permissions", "read"], None);
    assert!(ok, "{err}");
    let offline = out.lines().last().unwrap().to_string();
    assert!(offline.starts_with("bw_") && !offline.contains(' '), "the token alone on the last line: {out:?}");
    let data_mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(env.dir.path().join("data")).unwrap().permissions());
    assert_eq!(data_mode & 0o777, 0o700, "the data folder holds secrets' hashes: private");

    let (ok, _, err) = env.run(&["token", "create", "--name", "offline", "--permissions", "read"], None);
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, err) = env.run(&["token", "create", "--name", "x", "--permissions", "read,admin"], None);
    assert!(!ok && err.contains("admin"), "{err}");
    let (ok, _, err) = env.run(&["token", "create", "--name", "x", "--permissions", ""], None);
    assert!(!ok && err.contains("at least one permission"), "a token that may do nothing: {err}");

    let (server, port) = Running::start(env.cmd(&[]), &env.dir.path().join("server.log"));
    let url = format!("http://127.0.0.1:{port}/api/repo");
    assert_eq!(get(&url, &offline), 200, "a token made offline works once the server runs");

    // The store is held by the server now: these go through the control socket.
    let (ok, out, err) =
        env.run(&["token", "create", "--name", "online", "--permissions", "read,create", "--expires-in", "30d"], None);
    assert!(ok, "{err}");
    let online = out.lines().last().unwrap().to_string();
    assert_eq!(get(&url, &online), 200);
    let (ok, out, _) = env.run(&["token", "list"], None);
    assert!(ok && out.contains("offline") && out.contains("online") && out.contains("create,read"), "{out}");
    assert!(!out.contains(&online) && !out.contains(&offline), "a listing never shows values");
    let (ok, _, err) = env.run(&["token", "revoke", "offline"], None);
    assert!(ok, "{err}");
    assert_eq!(get(&url, &offline), 403, "revoked while running");

    let (ok, _, err) = env.run(&["admin", "set-password"], Some("a long enough password\n"));
    assert!(ok, "{err}");
    let admin = ureq::get(&format!("http://127.0.0.1:{port}/api/v1/integration/token-manager"))
        .set("Authorization", &bw_tests::basic("admin", "a long enough password"))
        .call()
        .unwrap();
    assert_eq!(admin.status(), 200);

    let socket = env.dir.path().join("data/control.sock");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&socket).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "only the owner may use the control socket");
    drop(server);
}

#[test]
fn openapi_command_prints_the_served_document() {
    let env = Env::new();
    let (ok, out, _) = env.run(&["openapi"], None);
    assert!(ok);
    assert_eq!(out.trim_end(), borgwarehouse::openapi_spec().trim_end());
}

#[test]
fn a_bad_configuration_value_stops_start_up_naming_the_key() {
    let env = Env::new();
    let out = env.cmd(&[]).env("DISABLE_DELETE_REPO", "perhaps").output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("DISABLE_DELETE_REPO"), "{err}");
}

#[test]
fn short_admin_passwords_are_refused() {
    let env = Env::new();
    let (ok, _, err) = env.run(&["admin", "set-password"], Some("short\n"));
    assert!(!ok && err.contains("12"), "{err}");
}

#[test]
fn logs_hold_audit_lines_but_never_keys_or_tokens() {
    let env = Env::new();
    let (ok, out, _) = env.run(&["token", "create", "--name", "auditme", "--permissions", "read"], None);
    assert!(ok);
    let token = out.lines().last().unwrap().to_string();
    let cron_key = "very-secret-cron-key-42";
    let log = env.dir.path().join("server.log");
    let mut cmd = env.cmd(&[]);
    cmd.env("CRONJOB_KEY", cron_key).env("RUST_LOG", "trace,hyper=info,h2=info").env("BW_LOG_FORMAT", "json");
    let (server, port) = Running::start(cmd, &log);
    let base = format!("http://127.0.0.1:{port}");
    assert_eq!(ureq::get(&format!("{base}/api/v1/cron/status?key={cron_key}")).call().unwrap().status(), 200);
    assert!(ureq::get(&format!("{base}/api/v1/cron/status?key={cron_key}-wrong")).call().is_err());
    assert_eq!(
        ureq::post(&format!("{base}/api/cronjob/checkStatus"))
            .set("Authorization", &format!("Bearer {cron_key}"))
            .call()
            .unwrap()
            .status(),
        200
    );
    assert_eq!(get(&format!("{base}/api/repo"), &token), 200);
    assert_eq!(get(&format!("{base}/api/repo"), "bw_wrong-token-value"), 403);
    // Through the control socket, while the server runs: audited there, output never logged.
    let (ok, out, err) = env.run(&["token", "create", "--name", "viasocket", "--permissions", "read"], None);
    assert!(ok, "{err}");
    let socket_token = out.lines().last().unwrap().to_string();
    let (ok, _, err) = env.run(
        &["admin", "set-password"],
        Some(
            "a long enough password
",
        ),
    );
    assert!(ok, "{err}");
    drop(server);

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("/api/v1/cron/status"), "requests are logged:\n{text}");
    assert!(!text.contains(cron_key), "the cron key reached the log:\n{text}");
    assert!(!text.contains(&token) && !text.contains("bw_wrong-token-value"), "a token value reached the log");
    let audit: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "audit")
        .collect();
    let accepted =
        audit.iter().find(|v| v["fields"]["outcome"] == "accepted").expect("an audit line for the accepted token");
    assert_eq!(accepted["fields"]["token"], "auditme");
    assert_eq!(accepted["fields"]["route"], "/api/repo");
    assert_eq!(accepted["fields"]["client"], "127.0.0.1");
    assert!(audit.iter().any(|v| v["fields"]["outcome"] == "invalid"), "failures are audited too");
    assert!(!text.contains(&socket_token), "a token made through the socket reached the log");
    assert!(!text.contains("a long enough password"), "the password reached the log");
    assert!(
        audit.iter().any(|v| v["fields"]["token"] == "viasocket"),
        "token create through the socket: no audit line"
    );
    assert!(audit.iter().any(|v| v["fields"]["user"] == "admin"), "set-password through the socket: no audit line");
    assert!(text.contains("no configuration file read"), "the start does not say which configuration it read");
}

/// The REST automation example users are pointed to runs against a live server.
#[test]
fn the_rest_automation_example_runs() {
    let env = Env::new();
    let (ok, out, _) =
        env.run(&["token", "create", "--name", "demo", "--permissions", "create,read,update,delete"], None);
    assert!(ok);
    let token = out.lines().last().unwrap().to_string();
    let (server, port) = Running::start(env.cmd(&[]), &env.dir.path().join("server.log"));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/rest-automation.sh");
    let out = Command::new("bash")
        .arg(script)
        .env("BW_URL", format!("http://127.0.0.1:{port}"))
        .env("BW_TOKEN", &token)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("created repository")
            && stdout.contains("\"storageSize\":20,\"appendOnlyMode\":true")
            && stdout.contains("deleted"),
        "{stdout}"
    );
    let keys = std::fs::read_to_string(env.dir.path().join("home/.ssh/authorized_keys")).unwrap_or_default();
    assert_eq!(bw_tests::as_sshd_reads(&keys), "", "the example cleans up after itself");
    drop(server);
}

/// Apprise package mode runs the `apprise` program with arguments, never through a shell: an
/// alias full of shell syntax arrives as one argument.
#[test]
fn apprise_package_mode_passes_the_alias_as_one_argument() {
    let env = Env::new();
    let bin = env.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let record = env.dir.path().join("apprise-args");
    let stub = bin.join("apprise");
    std::fs::write(
        &stub,
        format!("#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n--next--\\n' \"$a\"; done > {}\n", record.display()),
    )
    .unwrap();
    std::fs::set_permissions(&stub, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (ok, out, _) = env.run(&["token", "create", "--name", "a", "--permissions", "create"], None);
    assert!(ok);
    let token = out.lines().last().unwrap().to_string();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut cmd = env.cmd(&[]);
    cmd.env("PATH", path)
        .env("CRONJOB_KEY", "k")
        .env("BW_APPRISE_MODE", "package")
        .env("BW_APPRISE_SERVICES", r#"["mailto://ops@example.org"]"#);
    let (server, port) = Running::start(cmd, &env.dir.path().join("server.log"));
    let pwned = env.dir.path().join("pwned");
    let alias = format!("late'; touch {}; echo '$(touch {})", pwned.display(), pwned.display());
    let body = serde_json::json!({"alias": alias, "sshPublicKey": bw_tests::ed25519_key(1, ""), "storageSize": 1, "alert": 3600});
    let created = ureq::post(&format!("http://127.0.0.1:{port}/api/v1/repositories"))
        .set("Authorization", &format!("Bearer {token}"))
        .send_json(body);
    assert_eq!(created.unwrap().status(), 200);
    let ran = ureq::post(&format!("http://127.0.0.1:{port}/api/cronjob/checkStatus"))
        .set("Authorization", "Bearer k")
        .call()
        .unwrap();
    assert_eq!(ran.status(), 200);
    drop(server);
    let args = std::fs::read_to_string(&record).expect("apprise was not run");
    let args: Vec<&str> = args.split("\n--next--\n").filter(|a| !a.is_empty()).collect();
    assert_eq!(args[0], "--title=BorgWarehouse");
    assert!(args[1].starts_with("--body=") && args[1].contains(&alias), "{args:?}");
    assert_eq!(&args[2..], ["--", "mailto://ops@example.org"]);
    assert!(!pwned.exists(), "the alias ran as shell code");
}

/// BorgWarehouse's repo.json, taken in offline and again through a running server.
#[test]
fn import_borgwarehouse_repo_json() {
    let env = Env::new();
    let file = env.dir.path().join("repo.json");
    // A malformed file is refused whole, every offending entry named, and nothing changes.
    let malformed = serde_json::json!([
        {"id": 5, "alias": "broken", "repositoryName": "deadbeef", "storageSize": 5, "sshPublicKey": "ssh-dss AAAA", "alert": 0},
        {"id": 6, "alias": "bad name", "repositoryName": "../../x", "storageSize": 5, "sshPublicKey": bw_tests::ed25519_key(2, ""), "alert": 0},
        {"id": 7, "alias": 7, "repositoryName": "0a0a0a0a", "storageSize": 5, "sshPublicKey": bw_tests::ed25519_key(4, "")}
    ]);
    std::fs::write(&file, malformed.to_string()).unwrap();
    let (ok, _, err) = env.run(&["import-borgwarehouse", file.to_str().unwrap()], None);
    assert!(!ok, "a malformed file was taken in");
    for named in
        ["entry 0 (deadbeef): sshPublicKey", "entry 1 (../../x): repositoryName", "entry 2 (0a0a0a0a): invalid type"]
    {
        assert!(err.contains(named), "{named} not said: {err}");
    }
    assert!(!env.dir.path().join("home/.ssh/authorized_keys").exists(), "a refused import wrote lines");

    let repos = serde_json::json!([
        {"id": 4, "alias": "web server", "repositoryName": "0a1b2c3d", "status": true, "lastSave": 1700000000,
         "alert": 90000, "storageSize": 50, "storageUsed": 1234, "sshPublicKey": bw_tests::ed25519_key(1, "web"),
         "comment": "from BorgWarehouse", "displayDetails": true, "unixUser": "borgwarehouse", "lanCommand": true,
         "appendOnlyMode": true, "lastStatusAlertSend": 1700000100}
    ]);
    std::fs::write(&file, repos.to_string()).unwrap();
    // The borg home already holds a line BorgWarehouse wrote for a repository repo.json lacks.
    let pool = env.dir.path().join("home/repos");
    let left_by_borgwarehouse = format!(
        "command=\"cd {p};borg serve --restrict-to-repository {p}/abcdef01 --storage-quota 9G\",restrict {}\n",
        bw_tests::ed25519_key(3, ""),
        p = pool.display()
    );
    std::fs::create_dir_all(env.dir.path().join("home/.ssh")).unwrap();
    std::fs::write(env.dir.path().join("home/.ssh/authorized_keys"), &left_by_borgwarehouse).unwrap();
    // A dry run says what would change and changes nothing.
    let (ok, out, err) = env.run(&["import-borgwarehouse", "--dry-run", file.to_str().unwrap()], None);
    assert!(ok, "{err}");
    assert!(out.starts_with("dry run: nothing is changed") && out.contains("added 1 (0a1b2c3d)"), "{out}");
    let keys_file = env.dir.path().join("home/.ssh/authorized_keys");
    assert_eq!(std::fs::read_to_string(&keys_file).unwrap(), left_by_borgwarehouse, "a dry run wrote");
    let users = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/borgwarehouse-2.4.4/users.json");
    let (ok, out, err) =
        env.run(&["import-borgwarehouse", file.to_str().unwrap(), "--users", users.to_str().unwrap()], None);
    assert!(ok, "{err}");
    assert!(out.contains("repositories: added 1 (0a1b2c3d), updated 0, unchanged 0"), "{out}");
    assert!(out.contains("tokens: added 2 (ansible, monitoring)"), "{out}");
    assert!(out.contains("users: added 1 (admin)"), "{out}");
    assert!(out.contains("note: unixUser is ignored"), "{out}");
    let keys = std::fs::read_to_string(env.dir.path().join("home/.ssh/authorized_keys")).unwrap();
    // Kept, first, with its key and restrictions (now run under the session recorder: sessions
    // are on by default).
    let kept = keys.lines().next().unwrap();
    assert!(
        kept.contains(&format!(
            " -- borg serve --restrict-to-repository {}/abcdef01 --storage-quota 9G\",restrict {}",
            pool.display(),
            bw_tests::ed25519_key(3, "")
        )),
        "the existing line was dropped: {keys}"
    );
    assert!(
        keys.contains("--append-only --restrict-to-repository") && keys.contains("/0a1b2c3d --storage-quota 50G"),
        "{keys}"
    );
    assert_eq!(keys.lines().count(), 2);

    let (ok, out, _) = env.run(&["token", "create", "--name", "r", "--permissions", "read,create"], None);
    assert!(ok);
    let token = out.lines().last().unwrap().to_string();
    let (server, port) = Running::start(env.cmd(&[]), &env.dir.path().join("server.log"));
    let one: serde_json::Value = ureq::get(&format!("http://127.0.0.1:{port}/api/repo/id/4"))
        .set("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    let repo = &one["repo"];
    assert_eq!((repo["alias"].as_str(), repo["repositoryName"].as_str()), (Some("web server"), Some("0a1b2c3d")));
    // BorgWarehouse's admin signs in here with the password it had there (bcrypt of `admin`).
    let whoami = format!("http://127.0.0.1:{port}/api/v1/whoami");
    let (status, me) = bw_tests::request("GET", &whoami, Some(&bw_tests::basic("admin", "admin")), None);
    assert_eq!((status, me["role"].as_str()), (200, Some("admin")), "{me}");
    assert_eq!(
        (repo["alert"].as_u64(), repo["storageUsed"].as_u64(), repo["lastSave"].as_i64()),
        (Some(90000), Some(1234), Some(1700000000))
    );
    let body = serde_json::json!({"alias": "next", "sshPublicKey": bw_tests::ed25519_key(9, ""), "storageSize": 1});
    let created: serde_json::Value = ureq::post(&format!("http://127.0.0.1:{port}/api/v1/repositories"))
        .set("Authorization", &format!("Bearer {token}"))
        .send_json(body)
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(created["id"], 5, "ids continue after the imported ones (the line taken in got 0)");

    // Again while the server runs: the known repository is updated, not duplicated.
    let renamed = serde_json::json!([{"id": 4, "alias": "web server (renamed)", "repositoryName": "0a1b2c3d", "storageSize": 60,
        "sshPublicKey": bw_tests::ed25519_key(1, "web"), "alert": 3600}]);
    std::fs::write(&file, renamed.to_string()).unwrap();
    let (ok, out, err) = env.run(&["import-borgwarehouse", file.to_str().unwrap()], None);
    assert!(ok && out.contains("repositories: added 0, updated 1 (0a1b2c3d), unchanged 0"), "{out}{err}");
    let one: serde_json::Value = ureq::get(&format!("http://127.0.0.1:{port}/api/v1/repositories/0a1b2c3d"))
        .set("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(
        (one["repo"]["alias"].as_str(), one["repo"]["storageSize"].as_u64()),
        (Some("web server (renamed)"), Some(60))
    );
    drop(server);
}

/// Run from the wrong place, `token list` used to make a new empty store and list nothing; it
/// now says there is no store there and makes none. A command that writes says where it wrote.
/// Against a running server whose socket this user may not use, the CLI says so instead of
/// failing on the store's lock.
#[test]
fn the_cli_never_makes_a_store_to_read_and_says_where_it_wrote() {
    let env = Env::new();
    for args in [&["token", "list"][..], &["token", "revoke", "ci"][..]] {
        let (ok, _, err) = env.run(args, None);
        assert!(!ok && err.contains("no store at") && err.contains("BW_DATA_DIR"), "{args:?}: {err}");
        assert!(!env.dir.path().join("data").exists(), "{args:?} made a store");
    }
    let (ok, _, err) = env.run(&["admin", "set-password"], Some("a long enough password 123\n"));
    assert!(ok, "{err}");
    assert!(err.contains(&format!("used the store in {}", env.dir.path().join("data").display())), "{err}");
    // A home the server makes is said plainly, once: a mistyped BW_HOME shows here.
    let home = env.dir.path().join("home");
    assert!(err.contains(&format!("BW_HOME {} did not exist: made it", home.display())), "{err}");
    let (_, _, again) = env.run(&["admin", "set-password"], Some("a long enough password 456\n"));
    assert!(!again.contains("did not exist"), "said again: {again}");
    let (ok, out, _) = env.run(&["token", "list"], None);
    assert!(ok, "{out}");

    // Another user, with a server running: told about the socket, not about a lock.
    if let (0, Some(runuser)) = (bw_host::users::effective_uid().unwrap(), bw_tests::which("runuser")) {
        let (_server, _port) = Running::start(env.cmd(&["serve"]), &env.dir.path().join("server.log"));
        // The socket's folder is private to the server's user; let the other user reach it.
        std::fs::set_permissions(env.dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        std::fs::set_permissions(env.dir.path().join("data"), std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let out = Command::new(runuser)
            .args(["-u", "nobody", "--", BIN, "token", "list"])
            .env_clear()
            .env("BW_DATA_DIR", env.dir.path().join("data"))
            .env("BW_HOME", env.dir.path().join("home"))
            .env("BW_HOME_OWNER_CHECK", "false")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains("control socket") && err.contains("refused"), "{err}");
    }
}

/// Each start-up mistake a sysadmin makes is answered with what is wrong and what to do, and
/// changes nothing.
#[test]
fn a_port_in_use_stops_the_start_before_any_file_is_touched() {
    let env = Env::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = env.cmd(&[]).env("BW_LISTEN", &addr).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&addr) && err.contains("in use") && err.contains("nothing was opened or changed"), "{err}");
    assert!(!env.dir.path().join("data").exists(), "the store was made before the bind failed");
    assert!(!env.dir.path().join("home").exists(), "the home was made before the bind failed");
}

#[test]
fn a_second_server_on_the_same_data_folder_is_told_which_one_holds_it() {
    let env = Env::new();
    let (first, _) = Running::start(env.cmd(&[]), &env.dir.path().join("server.log"));
    let out = env.cmd(&[]).env("BW_LISTEN", "127.0.0.1:0").output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("pid {}", first.0.id())) && err.contains("is using the data folder"), "{err}");
    assert!(!err.contains("Os {"), "{err}");
    drop(first);
}

/// A second server with a data folder of its own over the same borg home is refused, naming
/// the first one and its data folder: each would take the other's key lines for its own.
#[test]
fn a_second_server_on_the_same_home_is_told_which_one_holds_it() {
    let env = Env::new();
    let (first, _) = Running::start(env.cmd(&[]), &env.dir.path().join("server.log"));
    let other_data = env.dir.path().join("other-data");
    let out = env.cmd(&[]).env("BW_LISTEN", "127.0.0.1:0").env("BW_DATA_DIR", &other_data).output().unwrap();
    assert!(!out.status.success(), "a second server over the same home started");
    let err = String::from_utf8_lossy(&out.stderr);
    let first_data = env.dir.path().join("data");
    assert!(
        err.contains(&format!("pid {}", first.0.id()))
            && err.contains("is using the borg home")
            && err.contains(&first_data.display().to_string()),
        "{err}"
    );
    drop(first);
    let (second, _) = Running::start(
        {
            let mut c = env.cmd(&[]);
            c.env("BW_DATA_DIR", &other_data);
            c
        },
        &env.dir.path().join("server-2.log"),
    );
    drop(second);
}

#[test]
fn logs_carry_no_colour_codes_off_a_terminal() {
    let env = Env::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let out = env.cmd(&[]).env("BW_LISTEN", taken.local_addr().unwrap().to_string()).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ERROR"), "nothing logged to look at: {err}");
    assert!(!err.contains('\u{1b}'), "escape codes in a pipe: {err:?}");
}

#[test]
fn token_list_prints_dates_people_read_and_json_for_scripts() {
    let env = Env::new();
    let (ok, _, err) =
        env.run(&["token", "create", "--name", "dated", "--permissions", "read,update", "--expires-in", "30d"], None);
    assert!(ok, "{err}");
    let (ok, out, err) = env.run(&["token", "list"], None);
    assert!(ok, "{err}");
    let row = out.lines().find(|l| l.starts_with("dated\t")).unwrap_or_else(|| panic!("{out}"));
    let fields: Vec<&str> = row.split('\t').collect();
    for date in &fields[2..4] {
        assert!(date.len() == 20 && date.ends_with('Z') && date.as_bytes()[10] == b'T', "not RFC 3339: {row}");
    }
    let (ok, out, err) = env.run(&["token", "list", "--json"], None);
    assert!(ok, "{err}");
    let list: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    let token = &list[0];
    assert_eq!(
        (token["name"].as_str(), token["permissions"].clone()),
        (Some("dated"), serde_json::json!(["read", "update"]))
    );
    let (created, expires) = (token["creation"].as_i64().unwrap(), token["expiration"].as_i64().unwrap());
    assert_eq!(expires - created, 30 * 86400);
}

/// As root (CI): the file is read by an unprivileged user, as the packaged unit's user would.
#[test]
fn an_unreadable_configuration_file_is_named_with_the_fix() {
    let uid = Command::new("id").arg("-u").output().unwrap().stdout;
    if String::from_utf8_lossy(&uid).trim() != "0" {
        eprintln!("SKIPPED: needs root to run as another user");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:0\"\n").unwrap();
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let out = Command::new("runuser")
        .args(["-u", "nobody", "--", BIN, "--config"])
        .arg(&file)
        .args(["token", "list"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains(&file.display().to_string()), "{err}");
    assert!(err.contains("cannot be read by nobody (uid 65534)") && err.contains("`chgrp nobody "), "{err}");
    assert!(!err.contains("THAT_USER"), "a placeholder where the name is known: {err}");
}

/// A data folder that a newer release wrote: the server and the commands refuse it with both
/// versions and the ways back, and change nothing in it.
#[test]
fn a_data_folder_of_a_newer_release_is_refused_with_the_way_back() {
    let env = Env::new();
    let (ok, _, err) = env.run(&["token", "create", "--name", "first", "--permissions", "read"], None);
    assert!(ok, "{err}");
    let format = env.dir.path().join("data/FORMAT");
    let written = std::fs::read_to_string(&format).unwrap();
    let this = env!("CARGO_PKG_VERSION");
    assert!(
        written.contains(&format!("format {}\n", bw_store::format::STORE_FORMAT))
            && written.contains(&format!("written-by {this}\n")),
        "{written}"
    );

    let newer = format!("format {}\nwritten-by 9.1.0\n", bw_store::format::STORE_FORMAT + 1);
    std::fs::write(&format, &newer).unwrap();
    let out = env.cmd(&[]).env("BW_LISTEN", "127.0.0.1:0").output().unwrap();
    assert!(!out.status.success(), "the server started on a newer data folder");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("written by borgwarehouse 9.1.0")
            && err.contains(&format!("this is borgwarehouse {this}"))
            && err.contains("Install borgwarehouse 9.1.0 or newer again")
            && err.contains("borgwarehouse restore FILE"),
        "{err}"
    );
    let (ok, _, err) = env.run(&["token", "list"], None);
    assert!(!ok && err.contains("written by borgwarehouse 9.1.0"), "{err}");
    assert_eq!(std::fs::read_to_string(&format).unwrap(), newer, "the refusal changed the folder's format");
}

/// The package's `preinst` refuses data of a newer format than the server it unpacks reads: its
/// number is the server's, and its release is the crate's (the Debian changelog's newest entry).
#[test]
fn the_package_knows_the_store_format_and_the_release_it_ships() {
    let debian = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../server/debian");
    let preinst = std::fs::read_to_string(debian.join("preinst")).unwrap();
    assert!(
        preinst.lines().any(|l| l == format!("reads={}", bw_store::format::STORE_FORMAT)),
        "preinst's `reads=` is not STORE_FORMAT ({})",
        bw_store::format::STORE_FORMAT
    );
    let changelog = std::fs::read_to_string(debian.join("changelog")).unwrap();
    let newest = changelog.lines().next().unwrap();
    assert!(
        newest.starts_with(&format!("borgwarehouse ({}-", env!("CARGO_PKG_VERSION"))),
        "the Debian changelog's newest entry is not this release: {newest}"
    );
    let changes = std::fs::read_to_string(debian.join("../../CHANGELOG.md")).unwrap();
    assert!(changes.contains(&format!("## {} ", env!("CARGO_PKG_VERSION"))), "CHANGELOG.md has no entry for it");
}

/// An upgrade from a release that kept no line shape (0.1.0) rewrites every line once, in this
/// release's form, and says so once at INFO with the count, not as one "repair" WARN per line.
#[test]
fn an_upgrades_rewrite_of_every_line_is_logged_once_not_as_repairs() {
    let env = Env::new();
    let (ok, out, err) = env.run(&["token", "create", "--name", "up", "--permissions", "create,read"], None);
    assert!(ok, "{err}");
    let token = out.lines().last().unwrap().to_string();
    let (server, port) = Running::start(env.cmd(&[]), &env.dir.path().join("server.log"));
    for seed in 1..=3 {
        let body = bw_tests::repo_body(&bw_tests::ed25519_key(700 + seed, ""));
        let (status, answer) = bw_tests::request(
            "POST",
            &format!("http://127.0.0.1:{port}/api/repo/add"),
            Some(&token),
            Some(&body.to_string()),
        );
        assert_eq!(status, 200, "{answer}");
    }
    drop(server);
    // As 0.1.0 left it: no shape in the store, the lines in an older form.
    let db = sled::open(env.dir.path().join("data/db")).unwrap();
    db.open_tree("meta").unwrap().remove("line_shape").unwrap().expect("this release keeps the shape");
    db.flush().unwrap();
    drop(db);
    let keys = env.dir.path().join("home/.ssh/authorized_keys");
    let text = std::fs::read_to_string(&keys).unwrap();
    std::fs::write(&keys, text.replace(" --restrict-to-repository ", " --restrict-to-path ")).unwrap();

    let log = env.dir.path().join("upgrade.log");
    let mut cmd = env.cmd(&[]);
    cmd.env("RUST_LOG", "info");
    let (server, _) = Running::start(cmd, &log);
    drop(server);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("key lines rewritten in this run's form") && text.contains("lines=3"), "{text}");
    assert!(!text.contains("line differed from the store"), "the upgrade was logged as repairs:\n{text}");
    assert!(!std::fs::read_to_string(&keys).unwrap().contains("--restrict-to-path"), "the lines were not rewritten");
}

/// Users from the command line, stopped and running, and the audit log's export of what they
/// did: the command line is named as the actor, and no password is in it.
#[test]
fn users_from_the_command_line_and_the_audit_export() {
    let env = Env::new();
    let (ok, _, err) = env.run(&["admin", "set-password"], Some("the first long password\n"));
    assert!(ok, "{err}");
    let (ok, out, err) =
        env.run(&["user", "add", "olga", "--role", "operator", "--tenant", "acme"], Some("olga's long password\n"));
    assert!(ok && out.contains("added olga (operator)"), "{out}{err}");
    let (ok, _, err) = env.run(&["user", "add", "short"], Some("short\n"));
    assert!(!ok && err.contains("at least 12 characters"), "{err}");
    let (ok, _, err) = env.run(&["user", "add", "x", "--role", "king"], Some("a long enough password\n"));
    assert!(!ok && err.contains("admin, operator or viewer"), "{err}");

    let (server, port) = Running::start(env.cmd(&[]), &env.dir.path().join("server.log"));
    let url = format!("http://127.0.0.1:{port}/api/v1/whoami");
    let olga = bw_tests::basic("olga", "olga's long password");
    let (status, me) = bw_tests::request("GET", &url, Some(&olga), None);
    assert_eq!((status, me["tenant"].as_str()), (200, Some("acme")), "{me}");

    // Through the control socket now.
    let (ok, out, _) = env.run(&["user", "list"], None);
    assert!(ok && out.contains("olga\toperator\t-\tacme") && out.contains("admin\tadmin"), "{out}");
    let (ok, _, err) = env.run(&["user", "set-role", "admin", "viewer"], None);
    assert!(!ok && err.contains("last admin"), "{err}");
    let (ok, _, err) = env.run(&["user", "set-role", "olga", "viewer"], None);
    assert!(ok, "{err}");
    assert_eq!(bw_tests::request("GET", &url, Some(&olga), None).1["role"], "viewer");
    let (ok, _, err) = env.run(&["user", "set-password", "olga"], Some("olga's newer long password\n"));
    assert!(ok, "{err}");
    assert_eq!(bw_tests::request("GET", &url, Some(&olga), None).0, 401, "the old password is refused");
    let (ok, _, err) = env.run(&["user", "remove", "olga"], None);
    assert!(ok, "{err}");
    let (ok, _, err) = env.run(&["user", "remove", "olga"], None);
    assert!(!ok && err.contains("no user named olga"), "{err}");

    let (ok, out, err) = env.run(&["audit", "export"], None);
    assert!(ok, "{err}");
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let actions: Vec<&str> = lines.iter().map(|e| e["action"].as_str().unwrap()).collect();
    // The old password tried over HTTP is there too, as a failed sign-in from that address.
    assert_eq!(
        actions,
        ["user.password", "user.add", "user.edit", "user.edit", "sign-in.failed", "user.remove"],
        "{out}"
    );
    assert!(
        lines.iter().filter(|e| e["action"] != "sign-in.failed").all(|e| e["actorKind"] == "command-line"),
        "{out}"
    );
    assert_eq!((lines[4]["target"].as_str(), lines[4]["client"].as_str()), (Some("olga"), Some("127.0.0.1")));
    for secret in ["the first long password", "olga's long password", "olga's newer long password"] {
        assert!(!out.contains(secret), "the export holds a password");
    }
    drop(server);
}
