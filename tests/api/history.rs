//! History: a point per repository at each check run (and session: tests/api/sessions.rs), the
//! host's sums, the range parameters, and deletion with the repository. Folding by age is
//! tested against the rule in `bw-store` (`history::tests`).

use std::fs;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use bw_tests::{ed25519_key, json, repo_body, TestServer, NOW};

const KEY: &str = "cron-secret-key-0123456789";

fn backup(folder: &Path, bytes: usize, at: i64) {
    fs::create_dir_all(folder.join("data")).unwrap();
    fs::write(folder.join(format!("data/{at}")), vec![1u8; bytes]).unwrap();
    let f = fs::File::create(folder.join("integrity.1")).unwrap();
    f.set_modified(UNIX_EPOCH + Duration::from_secs(at as u64)).unwrap();
}

/// A server whose checks run only when called (the cron routes, with [`KEY`]).
fn checks_by_hand() -> TestServer {
    TestServer::with_config(|c| {
        c.auth.cronjob_key = Some(KEY.into());
        c.checks.status_interval = Duration::ZERO;
        c.checks.storage_interval = Duration::ZERO;
    })
}

fn checks(s: &TestServer) {
    for path in ["/api/v1/cron/status", "/api/v1/cron/storage"] {
        assert_eq!(s.call("POST", path, Some(&format!("Bearer {KEY}")), None).0, 200, "{path}");
    }
}

#[test]
fn each_check_run_adds_a_point_per_repository_and_one_for_the_host() {
    let s = checks_by_hand();
    let t = s.full_token();
    let mut names = Vec::new();
    for seed in [1, 2] {
        let mut body = repo_body(&ed25519_key(seed, ""));
        body["alert"] = json!(3600);
        let (status, created) = s.post("/api/repo/add", Some(&t), &body);
        assert_eq!(status, 200, "{created}");
        names.push(created["repositoryName"].as_str().unwrap().to_string());
    }
    let path = |name: &str| format!("/api/v1/repositories/{name}/history");
    assert_eq!(s.get(&path(&names[0]), Some(&t)).1, json!({"points": []}), "no check has run");

    // A backup of the first repository, then both checks at NOW; a bigger one an hour later.
    let folder = s.home.join("repos").join(&names[0]);
    backup(&folder, 200_000, NOW - 60);
    checks(&s);
    let first = s.get(&format!("/api/v1/repositories/{}", names[0]), Some(&t)).1["repo"].clone();
    s.clock.set(NOW + 3600);
    backup(&folder, 900_000, NOW + 3500);
    checks(&s);
    let second = s.get(&format!("/api/v1/repositories/{}", names[0]), Some(&t)).1["repo"].clone();
    assert!(second["storageUsed"].as_u64() > first["storageUsed"].as_u64(), "{first} {second}");

    // Both checks of one run stand at the same second: one point per run, with both figures.
    let (status, history) = s.get(&path(&names[0]), Some(&t));
    assert_eq!(status, 200);
    assert_eq!(
        history,
        json!({"points": [
            {"at": NOW, "storageUsed": first["storageUsed"], "lastSave": NOW - 60},
            {"at": NOW + 3600, "storageUsed": second["storageUsed"], "lastSave": NOW + 3500},
        ]})
    );
    // The second repository, never backed up, has its points too.
    let other = s.get(&path(&names[1]), Some(&t)).1;
    assert_eq!(other["points"].as_array().unwrap().len(), 2, "{other}");
    assert_eq!(other["points"][0]["lastSave"], 0);

    // The host: sums at each run; the second repository is late at both.
    let (status, host) = s.get("/api/v1/history", Some(&t));
    assert_eq!(status, 200);
    let sum = |at: usize| host["points"][at]["storageUsed"].as_u64().unwrap();
    assert_eq!(host["points"].as_array().unwrap().len(), 2, "{host}");
    assert_eq!(host["points"][1]["at"], NOW + 3600);
    assert_eq!(sum(1), second["storageUsed"].as_u64().unwrap() + other["points"][1]["storageUsed"].as_u64().unwrap());
    assert_eq!((host["points"][1]["repositories"].as_u64(), host["points"][1]["late"].as_u64()), (Some(2), Some(1)));

    // Ranges: both ends included; `to` defaults to now, `from` to 0.
    let range = |q: &str| s.get(&format!("{}?{q}", path(&names[0])), Some(&t));
    assert_eq!(range(&format!("from={}", NOW + 1)).1["points"].as_array().unwrap().len(), 1);
    assert_eq!(range(&format!("from={NOW}&to={NOW}")).1["points"].as_array().unwrap().len(), 1);
    assert_eq!(range(&format!("to={}", NOW - 1)).1, json!({"points": []}));
    assert_eq!(s.get(&format!("/api/v1/history?from={}", NOW + 1), Some(&t)).1["points"].as_array().unwrap().len(), 1);
    // An empty range: no points (schema-valid values are never refused).
    assert_eq!(range("from=10&to=5"), (200, json!({"points": []})));
    for (q, message) in [
        ("from=yesterday", "from must be a whole number from 0 to 253402300799"),
        ("to=-5", "to must be a whole number from 0 to 253402300799"),
    ] {
        assert_eq!(range(q), (400, json!({"message": message})), "{q}");
        assert_eq!(s.get(&format!("/api/v1/history?{q}"), Some(&t)).0, 400, "{q}");
    }

    // Credentials and names as on every read route.
    assert_eq!(s.get(&path(&names[0]), None).0, 401);
    assert_eq!(s.get("/api/v1/history", None).0, 401);
    assert_eq!(s.get(&path("deadbeef"), Some(&t)), (404, json!({"message": "No repository with name deadbeef"})));
    assert_eq!(s.get(&path("..%2f"), Some(&t)).0, 404);

    // Deleted with the repository: its points are gone from the store, the other's stay.
    let id = first["id"].as_u64().unwrap();
    assert_eq!(s.delete(&format!("/api/v1/repositories/{}", names[0]), Some(&t)).0, 200);
    assert!(s.state.history.repository(id, 0, i64::MAX).unwrap().is_empty());
    assert_eq!(s.get(&path(&names[1]), Some(&t)).1["points"].as_array().unwrap().len(), 2);
}

/// Late is counted one way everywhere: the host's history and `/metrics` count a repository
/// that is monitored (`alert` set), not archived, and without a backup within its delay; one
/// that is not monitored (`alert` 0) or archived is not late.
#[test]
fn late_is_counted_the_same_in_the_history_and_the_metrics() {
    let s = checks_by_hand();
    let t = s.full_token();
    let mut names = Vec::new();
    for (seed, alert) in [(11, 3600), (12, 0), (13, 3600)] {
        let mut body = repo_body(&ed25519_key(seed, ""));
        body["alert"] = json!(alert);
        let (status, created) = s.post("/api/repo/add", Some(&t), &body);
        assert_eq!(status, 200, "{created}");
        names.push(created["repositoryName"].as_str().unwrap().to_string());
    }
    let archive = format!("/api/v1/repositories/{}/archive", names[2]);
    assert_eq!(s.post(&archive, Some(&t), &json!({"archived": true})).0, 200);
    // None has a backup: only the first is late.
    checks(&s);
    let (_, history) = s.get("/api/v1/history", Some(&t));
    let late_in_history = history["points"].as_array().unwrap().last().unwrap()["late"].clone();
    let (_, metrics) = s.get("/metrics", Some(&t));
    let metrics = metrics.as_str().map(str::to_string).unwrap_or_else(|| metrics.to_string());
    let late_in_metrics = metrics
        .lines()
        .find_map(|l| l.strip_prefix("borgwarehouse_repositories_late "))
        .unwrap_or_else(|| panic!("no late gauge: {metrics}"))
        .trim()
        .to_string();
    assert_eq!((late_in_history, late_in_metrics.as_str()), (json!(1), "1"), "{history}");
}
