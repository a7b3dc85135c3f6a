//! PostgreSQL behind the store seam (#34), against a real server the test starts
//! (`bw_tests::postgres`): the seam's conformance suite (its promises, then every store over
//! it), two backends on one database, a newer schema refused, and the database stopped and
//! started again.

use std::sync::Arc;

use bw_store::backend::{Backend, PostgresBackend, PostgresOpenError, SharedBackend, SCHEMA_VERSION};
use bw_tests::postgres::TempPostgres;

/// A test server whose store is the database at `url`, in command key mode (which a database
/// needs), its key folder beside its data folder.
fn server_on(url: &str) -> bw_tests::TestServer {
    bw_tests::TestServer::with_config(|c| {
        c.server.database_url = Some(bw_api::config::Secret::new(url));
        c.ssh.key_mode = bw_api::config::KeyMode::Command;
        c.ssh.key_lookup_dir = Some(c.server.data_dir.parent().unwrap().join("keys"));
    })
}

#[test]
fn postgres_keeps_every_promise_of_the_store_seam() {
    let Some(pg) = TempPostgres::start() else { return };
    bw_store::conformance::run(&|| -> SharedBackend {
        Arc::new(PostgresBackend::open(&pg.fresh_schema_url()).unwrap())
    });
}

#[test]
fn two_servers_on_one_database_see_each_others_writes_and_ids() {
    let Some(pg) = TempPostgres::start() else { return };
    let url = pg.fresh_schema_url();
    let (one, two) = (PostgresBackend::open(&url).unwrap(), PostgresBackend::open(&url).unwrap());
    one.table("repos").unwrap().insert("k", "from one").unwrap();
    assert_eq!(two.table("repos").unwrap().get("k").unwrap().as_deref(), Some(&b"from one"[..]));
    // Ids from both only grow, and never repeat.
    let mut ids: Vec<u64> = (0..50).flat_map(|_| [one.generate_id().unwrap(), two.generate_id().unwrap()]).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids grow across servers: {ids:?}");
    ids.dedup();
    assert_eq!(ids.len(), 100);
    // A compare-and-swap from each over the same value: one wins.
    let t1 = one.table("cas").unwrap();
    let t2 = two.table("cas").unwrap();
    t1.insert("x", "0").unwrap();
    let a = t1.compare_and_swap("x", Some(b"0"), Some(b"1")).unwrap();
    let b = t2.compare_and_swap("x", Some(b"0"), Some(b"2")).unwrap();
    assert!(a && !b);
}

#[test]
fn a_database_migrated_by_a_newer_server_is_refused_naming_both_versions() {
    let Some(pg) = TempPostgres::start() else { return };
    let url = pg.fresh_schema_url();
    drop(PostgresBackend::open(&url).unwrap());
    let schema = url.rsplit("%3D").next().unwrap().to_string();
    pg.sql(&format!("UPDATE {schema}.bw_schema SET version = {}", SCHEMA_VERSION + 1));
    match PostgresBackend::open(&url) {
        Err(e @ PostgresOpenError::Newer { .. }) => {
            let said = e.to_string();
            assert!(said.contains(&format!("schema version {}", SCHEMA_VERSION + 1)), "{said}");
            assert!(said.contains(&format!("schema version {SCHEMA_VERSION}")), "{said}");
        }
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("a newer database was opened"),
    }
}

#[test]
fn calls_fail_while_the_database_is_stopped_and_work_again_after() {
    let Some(pg) = TempPostgres::start() else { return };
    let db = PostgresBackend::open(&pg.fresh_schema_url()).unwrap();
    let t = db.table("t").unwrap();
    t.insert("before", "1").unwrap();
    pg.stop();
    assert!(!db.healthy());
    assert!(t.insert("during", "2").is_err(), "a write while the database is down");
    pg.start_again();
    let t0 = std::time::Instant::now();
    while !db.healthy() {
        assert!(t0.elapsed() < std::time::Duration::from_secs(30), "the backend did not come back");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    t.insert("after", "3").unwrap();
    assert!(t.get("before").unwrap().is_some() && t.get("during").unwrap().is_none());
}

/// `BW_DATABASE_URL`: the server keeps its store in PostgreSQL (nothing under `data_dir/db`),
/// and finds it again after a restart.
#[test]
fn a_server_keeps_its_store_in_postgres_across_a_restart() {
    let Some(pg) = TempPostgres::start() else { return };
    let url = pg.fresh_schema_url();
    let s = server_on(&url);
    let token = s.full_token();
    let body =
        serde_json::json!({"alias": "on postgres", "sshPublicKey": bw_tests::ed25519_key(1, ""), "storageSize": 5});
    let (status, made) = s.post("/api/v1/repositories", Some(&token), &body);
    assert_eq!(status, 200, "{made}");
    let name = made["repositoryName"].as_str().unwrap().to_string();
    let (dir, config) = s.stop();
    assert!(!config.db_path().exists(), "the embedded store was made: {}", config.db_path().display());
    let s = bw_tests::TestServer::start_in(dir, config);
    let (status, repo) = s.get(&format!("/api/v1/repositories/{name}"), Some(&token));
    assert_eq!((status, repo["repo"]["alias"].as_str()), (200, Some("on postgres")), "{repo}");
    // The key folder, which sshd's lookup reads, has its key.
    let keys = s.state.config.ssh.key_lookup_dir.clone().unwrap();
    assert!(std::fs::read_dir(keys).unwrap().count() > 0);
}

/// Several servers would each rewrite one `authorized_keys`: file key mode with a database is
/// refused at start, saying why and what to do.
#[test]
fn file_key_mode_with_a_database_is_refused_with_the_reason() {
    let mut config = bw_api::config::Config::default();
    config.server.database_url = Some(bw_api::config::Secret::new("postgres://bw@127.0.0.1:1/bw"));
    let refused = config.check().unwrap_err().0;
    assert!(refused.contains("BW_KEY_MODE=command") && refused.contains("authorized_keys"), "{refused}");
    config.ssh.key_mode = bw_api::config::KeyMode::Command;
    config.ssh.key_lookup_dir = Some("/srv/keys".into());
    assert!(config.check().is_ok());
}

/// Moving a host: `export` from the embedded store, `restore` into PostgreSQL, and back; each
/// export equals the first (but its date and writer).
#[test]
fn a_host_moves_to_postgres_and_back_with_the_same_snapshot() {
    use crate::cli_env::Env;
    let Some(pg) = TempPostgres::start() else { return };
    let run = |env: &Env, args: &[&str], database: Option<&str>| {
        let mut cmd = env.cmd(args);
        if let Some(url) = database {
            let keys = env.dir.path().join("keys");
            cmd.env("BW_DATABASE_URL", url).env("BW_KEY_MODE", "command").env("BW_KEY_LOOKUP_DIR", keys);
        }
        let out = cmd.output().unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{args:?}: {said}");
        said
    };
    let comparable = |path: &std::path::Path| {
        let mut snapshot: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        for writer_and_date in ["createdAt", "serverVersion"] {
            snapshot.as_object_mut().unwrap().remove(writer_and_date);
        }
        snapshot
    };
    // A host on the embedded store: tokens, a user, a tenant's quota, repositories with keys.
    let sled = Env::new();
    run(&sled, &["token", "create", "--name", "automation", "--permissions", "create,read,update,delete"], None);
    let mut add = sled.cmd(&["user", "add", "olga", "--role", "operator", "--tenant", "acme"]);
    let mut child = add.stdin(std::process::Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"olga's long password\n").unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    let state_dir = sled.dir.path().join("data");
    {
        let mut config = bw_api::config::Config::default();
        config.server.data_dir = state_dir.clone();
        config.server.home = Some(sled.dir.path().join("home"));
        let state = bw_api::AppState::open(config, bw_store::clock::Clock::system()).unwrap();
        state.tenants.set_quota("acme", 50, None).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        for seed in 1..=3 {
            let key = bw_host::ssh_key::ClientKey::parse(&bw_tests::ed25519_key(seed, "")).unwrap();
            let new = bw_store::repo_store::NewRepo {
                alias: format!("host {seed}"),
                key,
                storage_size: seed as u64,
                comment: String::new(),
                alert: 3600,
                lan_command: false,
                append_only_mode: seed == 2,
                icon: (seed == 3).then(|| "IconServer".to_string()),
                storage_target: None,
                tenant: (seed == 1).then(|| "acme".to_string()),
            };
            runtime.block_on(state.repos.create(new, None)).unwrap();
        }
        runtime.block_on(state.flush()).unwrap();
    }
    let first = sled.dir.path().join("first.json");
    run(&sled, &["export", first.to_str().unwrap()], None);

    // Into PostgreSQL (an empty database), then out again.
    let url = pg.fresh_schema_url();
    let onto_pg = Env::new();
    let said = run(&onto_pg, &["restore", first.to_str().unwrap()], Some(&url));
    assert!(said.contains("restored 3 repositories, 1 token, 1 user"), "{said}");
    assert!(!onto_pg.dir.path().join("data/db").exists(), "the embedded store was made");
    let from_pg = onto_pg.dir.path().join("from-pg.json");
    run(&onto_pg, &["export", from_pg.to_str().unwrap()], Some(&url));
    assert_eq!(comparable(&from_pg), comparable(&first), "PostgreSQL's export differs");

    // And back onto the embedded store.
    let back = Env::new();
    run(&back, &["restore", from_pg.to_str().unwrap()], None);
    let again = back.dir.path().join("again.json");
    run(&back, &["export", again.to_str().unwrap()], None);
    assert_eq!(comparable(&again), comparable(&first), "the way back differs");
}

/// The database stopped: the server answers 503 in the contract's shape (and `/healthz` too),
/// and recovers by itself when the database is back.
#[test]
fn the_server_answers_503_while_its_database_is_down_and_recovers_by_itself() {
    let Some(pg) = TempPostgres::start() else { return };
    let url = pg.fresh_schema_url();
    let s = server_on(&url);
    let token = s.full_token();
    assert_eq!(s.get("/api/v1/repositories", Some(&token)).0, 200);
    pg.stop();
    let (status, body) = s.get("/api/v1/repositories", Some(&token));
    assert_eq!((status, body), (503, serde_json::json!({"status": 503, "message": "Service Unavailable"})));
    let body = serde_json::json!({"alias": "during", "sshPublicKey": bw_tests::ed25519_key(9, ""), "storageSize": 1});
    assert_eq!(s.post("/api/v1/repositories", Some(&token), &body).0, 503);
    assert_eq!(s.get("/healthz", None).0, 503);
    pg.start_again();
    let t0 = std::time::Instant::now();
    while s.get("/healthz", None).0 != 200 {
        assert!(t0.elapsed() < std::time::Duration::from_secs(30), "the server did not recover");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(s.get("/api/v1/repositories", Some(&token)).0, 200);
    assert_eq!(s.post("/api/v1/repositories", Some(&token), &body).0, 200, "a write after the database is back");
}

/// Two servers on one database: what one changes, the other lists (its index read again on the
/// database's notification), and its list's ETag moves. No timing is asserted (machines are
/// shared): the wait is bounded generously, and the time taken printed.
#[test]
fn two_servers_on_one_database_each_list_what_the_other_changed() {
    let Some(pg) = TempPostgres::start() else { return };
    let url = pg.fresh_schema_url();
    let (a, b) = (server_on(&url), server_on(&url));
    let token = a.full_token();
    let names = |s: &bw_tests::TestServer| -> Vec<String> {
        let (_, list) = s.get("/api/v1/repositories", Some(&token));
        list["repoList"].as_array().unwrap().iter().map(|r| r["repositoryName"].as_str().unwrap().to_string()).collect()
    };
    let seen = |s: &bw_tests::TestServer, want: &[String], what: &str| {
        let t0 = std::time::Instant::now();
        while names(s) != want {
            assert!(t0.elapsed() < std::time::Duration::from_secs(20), "{what}: never seen");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        println!("{what}: seen after {} ms", t0.elapsed().as_millis());
    };
    assert!(names(&b).is_empty());
    let body =
        serde_json::json!({"alias": "made on a", "sshPublicKey": bw_tests::ed25519_key(1, ""), "storageSize": 5});
    let (status, made) = a.post("/api/v1/repositories", Some(&token), &body);
    assert_eq!(status, 200, "{made}");
    let name = made["repositoryName"].as_str().unwrap().to_string();
    seen(&b, std::slice::from_ref(&name), "a's create, on b");
    // An edit on b reaches a.
    let (status, _) =
        b.patch(&format!("/api/v1/repositories/{name}"), Some(&token), &serde_json::json!({"alias": "edited on b"}));
    assert_eq!(status, 200);
    let t0 = std::time::Instant::now();
    while a.get(&format!("/api/v1/repositories/{name}"), Some(&token)).1["repo"]["alias"] != "edited on b" {
        assert!(t0.elapsed() < std::time::Duration::from_secs(20), "b's edit never reached a");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // A delete on b: gone from a's list.
    assert_eq!(b.delete(&format!("/api/v1/repositories/{name}"), Some(&token)).0, 200);
    seen(&a, &[], "b's delete, on a");
    // a's scrape says what it heard, how late, and how its connections are used.
    let text = a.get("/metrics", Some(&token)).1.as_str().unwrap_or_default().to_string();
    let sample = |name: &str| -> f64 {
        let line = text.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name}:\n{text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(sample("borgwarehouse_database_notifications_total") >= 2.0, "{text}");
    let lag = sample("borgwarehouse_database_notification_lag_seconds");
    assert!((0.0..60.0).contains(&lag), "{lag}");
    assert_eq!(sample("borgwarehouse_database_connections{state=\"max\"}"), 16.0);
    assert!(sample("borgwarehouse_database_connections{state=\"open\"}") >= 1.0);
    assert!(text.contains("# TYPE borgwarehouse_database_notifications_total counter"), "{text}");
}

/// The periodic work runs on one server at a time: one of two holds the lease (`/healthz` says
/// which), and when it stops the other takes it over by itself.
#[test]
fn one_server_of_two_holds_the_lease_and_the_other_takes_it_over() {
    let Some(pg) = TempPostgres::start() else { return };
    let url = pg.fresh_schema_url();
    let (a, b) = (server_on(&url), server_on(&url));
    let leads = |s: &bw_tests::TestServer| {
        let (status, health) = s.get("/healthz", None);
        assert_eq!((status, health["store"].as_str()), (200, Some("postgresql")), "{health}");
        health["periodicWork"].as_bool().unwrap()
    };
    let wait = |what: &str, done: &dyn Fn() -> bool| {
        let t0 = std::time::Instant::now();
        while !done() {
            assert!(t0.elapsed() < std::time::Duration::from_secs(30), "{what}: not within 30 s");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        println!("{what}: after {} ms", t0.elapsed().as_millis());
    };
    wait("one of two leads", &|| leads(&a) || leads(&b));
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert!(leads(&a) != leads(&b), "exactly one leads: a {}, b {}", leads(&a), leads(&b));
    // So says each one's scrape, for an alert when none, or two, run it.
    let token = a.full_token();
    let scraped = |s: &bw_tests::TestServer| {
        let text = s.get("/metrics", Some(&token)).1.as_str().unwrap_or_default().to_string();
        assert!(text.contains("borgwarehouse_store_info{store=\"postgresql\"} 1"), "{text}");
        text.lines().any(|l| l == "borgwarehouse_periodic_work 1")
    };
    assert_eq!((scraped(&a), scraped(&b)), (leads(&a), leads(&b)));
    let (leader, other) = if leads(&a) { (a, b) } else { (b, a) };
    drop(leader.stop());
    wait("the other takes the lease over", &|| leads(&other));
    assert!(scraped(&other));
}

/// TLS to the database (`sslmode=require`): the certificate is verified, against the CA file of
/// `BW_DATABASE_CA` (a managed service's own); an unknown one is refused, saying so; the
/// sessions are encrypted; a CA without `sslmode=require` is refused with the reason.
#[test]
fn tls_to_the_database_verifies_its_certificate() {
    let Some((pg, ca)) = TempPostgres::start_with_tls() else { return };
    let url = format!("{}&sslmode=require", pg.fresh_schema_url());
    let db = PostgresBackend::open_with_ca(&url, Some(&ca)).unwrap();
    db.table("t").unwrap().insert("k", "v").unwrap();
    let encrypted: u32 = pg.query("SELECT count(*) FROM pg_stat_ssl WHERE ssl").parse().unwrap();
    assert!(encrypted >= 1, "no encrypted session");
    drop(db);
    let refused = PostgresBackend::open(&url).err().expect("an unknown certificate was trusted").to_string();
    assert!(refused.to_lowercase().contains("certificate"), "{refused}");
    let plain = pg.fresh_schema_url();
    let refused = PostgresBackend::open_with_ca(&plain, Some(&ca)).err().expect("a CA without TLS").to_string();
    assert!(refused.contains("sslmode=require"), "{refused}");
    // A server, as configured: BW_DATABASE_URL with sslmode=require and BW_DATABASE_CA.
    let s = bw_tests::TestServer::with_config(|c| {
        c.server.database_url = Some(bw_api::config::Secret::new(&url));
        c.server.database_ca = Some(ca.clone());
        c.ssh.key_mode = bw_api::config::KeyMode::Command;
        c.ssh.key_lookup_dir = Some(c.server.data_dir.parent().unwrap().join("keys"));
    });
    let (status, health) = s.get("/healthz", None);
    assert_eq!((status, health["store"].as_str()), (200, Some("postgresql")), "{health}");
}
