//! Two servers on one PostgreSQL end to end (#34), as deployed: each a real process with its own
//! data folder, one borg home (key folder, pool, session spool) both reach, sshd asking the key
//! lookup, and a real borg client backing up throughout. The lease holder is killed (SIGKILL)
//! ten times while four clients change repositories through both servers; then the database
//! itself is stopped and started again.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bw_tests::json;
use bw_tests::postgres::TempPostgres;
use serde_json::Value;

use crate::harness::{self, Borg, KeyLookupInstall, Server, Sshd};

/// Everything both servers share: the database, the home, the key folder.
struct Shared {
    url: String,
    root: PathBuf,
}

impl Shared {
    fn env(&self) -> Vec<(String, String)> {
        vec![
            ("BW_DATABASE_URL".into(), self.url.clone()),
            ("BW_HOME".into(), self.root.join("home").display().to_string()),
            ("BW_KEY_MODE".into(), "command".into()),
            ("BW_KEY_LOOKUP_DIR".into(), self.keys().display().to_string()),
            ("BW_SESSION_INTERVAL".into(), "1s".into()),
            ("BW_STATUS_INTERVAL".into(), "0".into()),
            ("BW_STORAGE_INTERVAL".into(), "0".into()),
        ]
    }

    fn keys(&self) -> PathBuf {
        self.root.join("keys")
    }

    /// Server `n`'s own folder (its data folder and log are there).
    fn server_root(&self, n: usize) -> PathBuf {
        let root = self.root.join(format!("server-{n}"));
        std::fs::create_dir_all(&root).unwrap();
        root
    }

    fn start(&self, n: usize) -> Server {
        Server::start(&self.server_root(n), &self.env())
    }

    /// `borgwarehouse token create`, run by a sysadmin on server 0's machine.
    fn token(&self) -> String {
        let out = Command::new(harness::BIN)
            .envs(self.env())
            .env("BW_DATA_DIR", self.server_root(0).join("data"))
            .args(["token", "create", "--name", "e2e", "--permissions", "create,read,update,delete"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().lines().last().unwrap().to_string()
    }
}

/// A request to the server at `port`: its answer, or `None` when the connection failed (the
/// server was killed under it).
fn call(port: u16, method: &str, path: &str, token: &str, body: Option<&Value>) -> Option<(u16, Value)> {
    harness::try_request(port, method, path, &format!("Bearer {token}"), body).ok()
}

fn leads(port: u16) -> Option<bool> {
    let (status, health) = call(port, "GET", "/healthz", "", None)?;
    (status == 200).then(|| health["periodicWork"].as_bool()).flatten()
}

fn wait_for(what: &str, bound: Duration, done: impl Fn() -> bool) -> Duration {
    let t0 = Instant::now();
    while !done() {
        assert!(t0.elapsed() < bound, "{what}: not within {} s", bound.as_secs());
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("{what}: after {} ms", t0.elapsed().as_millis());
    t0.elapsed()
}

/// Every repository as the server lists it: name -> (alias, public key).
fn listed(port: u16, token: &str) -> BTreeMap<String, (String, String)> {
    let (status, list) = call(port, "GET", "/api/v1/repositories", token, None).expect("the server answers");
    assert_eq!(status, 200, "{list}");
    list["repoList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let field = |f: &str| r[f].as_str().unwrap_or_default().to_string();
            (field("repositoryName"), (field("alias"), field("sshPublicKey")))
        })
        .collect()
}

/// The key folder says what the database says: one file per repository key, naming its
/// repository, and no other.
fn key_folder_mismatch(keys: &Path, repos: &BTreeMap<String, (String, String)>) -> Option<String> {
    use base64::Engine;
    let mut expected = BTreeSet::new();
    for (name, (_, key)) in repos {
        let blob = base64::engine::general_purpose::STANDARD.decode(key.split(' ').nth(1)?).ok()?;
        let file = bw_host::key_lookup::key_file_name(&blob);
        let path = keys.join(&file[..2]).join(&file);
        match std::fs::read_to_string(&path) {
            Ok(line) if line.contains(&format!("/{name} ")) => {}
            Ok(line) => return Some(format!("{name}: its key file says {line}")),
            Err(e) => return Some(format!("{name}: {}: {e}", path.display())),
        }
        expected.insert(path);
    }
    let found: BTreeSet<PathBuf> = std::fs::read_dir(keys)
        .ok()?
        .flatten()
        .filter(|shard| shard.path().is_dir())
        .flat_map(|shard| std::fs::read_dir(shard.path()).into_iter().flatten().flatten().map(|f| f.path()))
        .collect();
    let extra: Vec<_> = found.difference(&expected).collect();
    (!extra.is_empty()).then(|| format!("key files for no repository: {extra:?}"))
}

/// What the four clients were told: repositories whose create was acknowledged, with the
/// aliases they may have now (an edit the client got no answer for may or may not stand), and
/// those whose delete was acknowledged.
#[derive(Default)]
struct Told {
    kept: BTreeMap<String, BTreeSet<String>>,
    deleted: BTreeSet<String>,
    unanswered: usize,
}

fn client(n: u32, ports: &Mutex<[u16; 2]>, token: &str, stop: &AtomicBool, told: &Mutex<Told>) {
    let mut i = 0u32;
    while !stop.load(Ordering::Acquire) {
        i += 1;
        let port = |turn: u32| ports.lock().unwrap()[(turn % 2) as usize];
        let seed = 10_000 + n * 1_000 + i;
        let body =
            json!({"alias": format!("c{seed}"), "sshPublicKey": bw_tests::ed25519_key(seed, ""), "storageSize": 1});
        let name = match call(port(n + i), "POST", "/api/v1/repositories", token, Some(&body)) {
            Some((200, made)) => made["repositoryName"].as_str().unwrap().to_string(),
            Some((status, answer)) => {
                // A server that lost its database for a moment may answer 503; nothing else.
                assert_eq!(status, 503, "client {n}: {answer}");
                continue;
            }
            None => {
                told.lock().unwrap().unanswered += 1;
                // A client whose server is gone tries again a moment later, as a script would.
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        told.lock().unwrap().kept.insert(name.clone(), BTreeSet::from([format!("c{seed}")]));
        // Then through the other server: every third deleted, the others edited.
        let path = format!("/api/v1/repositories/{name}");
        if i.is_multiple_of(3) {
            match call(port(n + i + 1), "DELETE", &path, token, None) {
                Some((200, _)) => {
                    let mut t = told.lock().unwrap();
                    t.kept.remove(&name);
                    t.deleted.insert(name);
                }
                Some((status, answer)) => panic!("client {n}: delete {name}: {status} {answer}"),
                // Unanswered: the repository may be there or not.
                None => {
                    let mut t = told.lock().unwrap();
                    t.unanswered += 1;
                    t.kept.remove(&name);
                }
            }
        } else {
            let alias = format!("edited {seed}");
            let answer = call(port(n + i + 1), "PATCH", &path, token, Some(&json!({"alias": alias})));
            let mut t = told.lock().unwrap();
            match answer {
                Some((200, _)) => {
                    t.kept.insert(name, BTreeSet::from([alias]));
                }
                Some((status, answer)) => panic!("client {n}: edit {name}: {status} {answer}"),
                None => {
                    t.unanswered += 1;
                    t.kept.get_mut(&name).unwrap().insert(alias);
                }
            }
        }
    }
}

/// Two servers on one database over one home, sshd asking the key lookup, a borg client, a
/// token, and one repository the client has `borg init`ed (made through server `through`).
struct TwoServers {
    /// The key lookup as sshd runs it, removed when dropped.
    _lookup: KeyLookupInstall,
    _pg: TempPostgres,
    dir: tempfile::TempDir,
    shared: Shared,
    servers: [Server; 2],
    _sshd: Sshd,
    borg: Borg,
    token: String,
    key: harness::Key,
    name: String,
}

impl TwoServers {
    fn start(alias: &str, through: usize) -> Option<TwoServers> {
        let tools = harness::tools()?;
        let lookup = KeyLookupInstall::install(Path::new(harness::BIN))?;
        let pg = TempPostgres::start()?;
        let dir = tempfile::tempdir().unwrap();
        harness::open_to_others(dir.path());
        let shared = Shared { url: pg.fresh_schema_url(), root: dir.path().to_path_buf() };
        let servers = [shared.start(0), shared.start(1)];
        let home = dir.path().join("home");
        let sshd = Sshd::start_with(&tools, dir.path(), &home, "sshd", &lookup.sshd_lines(&shared.keys(), &tools.user));
        let borg = Borg::new(&tools, dir.path(), &sshd);
        let token = shared.token();
        let key = harness::keygen(dir.path(), "client");
        let body = json!({"alias": alias, "sshPublicKey": key.public, "storageSize": 1, "alert": 3600});
        let (status, made) =
            call(servers[through].port(), "POST", "/api/v1/repositories", &token, Some(&body)).unwrap();
        assert_eq!(status, 200, "{made}");
        let name = made["repositoryName"].as_str().unwrap().to_string();
        borg.ok(&key, &["init", "-e", "none", &borg.url(&name)]);
        Some(TwoServers { _lookup: lookup, _pg: pg, dir, shared, servers, _sshd: sshd, borg, token, key, name })
    }

    /// A folder of data to back up.
    fn source(&self) -> PathBuf {
        let src = self.dir.path().join("src");
        harness::random_file(&src.join("f.bin"), 64 * 1024);
        src
    }
}

fn sessions_of(port: u16, token: &str, name: &str) -> usize {
    call(port, "GET", &format!("/api/v1/repositories/{name}/sessions?limit=100"), token, None)
        .filter(|(status, _)| *status == 200)
        .map_or(0, |(_, body)| body["sessions"].as_array().map_or(0, Vec::len))
}

#[test]
fn two_servers_on_one_database_survive_ten_kills_of_the_lease_holder() {
    // A client backs up all along, through sshd and the key folder: never through a server.
    let Some(mut host) = TwoServers::start("backed up", 0) else { return };
    let src = host.source();
    let TwoServers { shared, servers, borg, token, key, name: backed_up, .. } = &mut host;
    let ports = Arc::new(Mutex::new([servers[0].port(), servers[1].port()]));

    let stop = AtomicBool::new(false);
    let told = Mutex::new(Told::default());
    let backups = std::thread::scope(|scope| {
        let backups = scope.spawn(|| {
            let mut n = 0usize;
            while !stop.load(Ordering::Acquire) {
                n += 1;
                let archive = format!("{}::b{n}", borg.url(backed_up));
                borg.ok(key, &["create", &archive, src.to_str().unwrap()]);
                std::thread::sleep(Duration::from_millis(300));
            }
            n
        });
        for n in 0..4 {
            let (ports, token, stop, told) = (&ports, &token, &stop, &told);
            scope.spawn(move || client(n, ports, token, stop, told));
        }
        let mut takeovers = Vec::new();
        for round in 0..10 {
            wait_for("one server leads", Duration::from_secs(60), || {
                let p = *ports.lock().unwrap();
                leads(p[0]) == Some(true) || leads(p[1]) == Some(true)
            });
            let p = *ports.lock().unwrap();
            let leader = if leads(p[0]) == Some(true) { 0 } else { 1 };
            assert_ne!(leads(p[1 - leader]), Some(true), "round {round}: both lead");
            std::thread::sleep(Duration::from_millis(500));
            servers[leader].kill();
            let other = p[1 - leader];
            takeovers.push(wait_for(&format!("round {round}: the other takes over"), Duration::from_secs(60), || {
                leads(other) == Some(true)
            }));
            servers[leader] = shared.start(leader);
            ports.lock().unwrap()[leader] = servers[leader].port();
        }
        stop.store(true, Ordering::Release);
        println!("takeovers: {:?}", takeovers.iter().map(|t| t.as_millis()).collect::<Vec<_>>());
        backups.join().unwrap()
    });
    // Every borg run above succeeded (`borg.ok`); one more after the last kill.
    borg.ok(key, &["create", &format!("{}::last", borg.url(backed_up)), src.to_str().unwrap()]);

    let told = told.into_inner().unwrap();
    println!(
        "{} repositories kept, {} deleted, {} requests unanswered, {} backups",
        told.kept.len(),
        told.deleted.len(),
        told.unanswered,
        backups + 1
    );
    assert!(told.kept.len() >= 10, "the clients got too little done to tell anything");
    let p = *ports.lock().unwrap();
    let on_a = listed(p[0], token);
    wait_for("both servers list the same", Duration::from_secs(30), || listed(p[1], token) == on_a);
    for (name, aliases) in &told.kept {
        let (alias, _) = on_a.get(name).unwrap_or_else(|| panic!("{name}: its acknowledged create was lost"));
        assert!(aliases.contains(alias), "{name}: alias {alias}, told one of {aliases:?}");
    }
    for name in &told.deleted {
        assert!(!on_a.contains_key(name), "{name}: its acknowledged delete was undone");
    }
    wait_for("the key folder matches the database", Duration::from_secs(30), || {
        key_folder_mismatch(&shared.keys(), &on_a).is_none()
    });
    // Every backup's session was taken in by whichever server held the lease at the time:
    // the init, the backups, the last one.
    let expected = (backups + 2).min(100);
    wait_for("every session taken in", Duration::from_secs(60), || sessions_of(p[0], token, backed_up) >= expected);
}

/// The database stopped: both servers answer 503 and say so on /healthz, backups go on (their
/// sessions wait in the spool), and once it is back both recover by themselves and the
/// sessions are taken in.
#[test]
fn with_the_database_stopped_servers_answer_503_and_backups_go_on() {
    let Some(host) = TwoServers::start("db outage", 1) else { return };
    let TwoServers { _pg: pg, servers, borg, token, key, name, .. } = &host;
    wait_for("the init's session taken in", Duration::from_secs(30), || {
        sessions_of(servers[0].port(), token, name) == 1
    });

    pg.stop();
    for server in servers {
        let (status, answer) = call(server.port(), "GET", "/api/v1/repositories", token, None).unwrap();
        assert_eq!(status, 503, "{answer}");
        let (status, health) = call(server.port(), "GET", "/healthz", "", None).unwrap();
        assert_eq!(status, 503, "{health}");
    }
    let src = host.source();
    for n in 0..3 {
        borg.ok(key, &["create", &format!("{}::during-{n}", borg.url(name)), src.to_str().unwrap()]);
    }
    pg.start_again();
    for server in servers {
        wait_for("the server answers again", Duration::from_secs(60), || {
            call(server.port(), "GET", "/api/v1/repositories", token, None).is_some_and(|(s, _)| s == 200)
        });
    }
    wait_for("the backups' sessions taken in", Duration::from_secs(60), || {
        sessions_of(servers[1].port(), token, name) == 4
    });
}
