//! The scheduled verify: each repository with borg data once per `BW_VERIFY_INTERVAL`, oldest
//! first, archived ones skipped. (Verify results and how a verify keeps out of a client's way,
//! with real borg and sshd: tests/e2e/verify.rs.)

use bw_plugin_repo::VerifySettings;
use std::time::Duration;

use bw_tests::frozen::{self, Frozen};
use bw_tests::{ed25519_key, json, repo_body, TestServer, NOW};

#[test]
fn the_schedule_verifies_each_repository_once_per_interval() {
    let Some(tools) = bw_tests::ssh::tools() else { return };
    let s = TestServer::with_config(|c| {
        c.checks.status_interval = Duration::ZERO;
        c.checks.storage_interval = Duration::ZERO;
        c.plugins.set(&VerifySettings { interval: Duration::from_secs(86_400), concurrency: 2 });
    });
    let t = s.full_token();
    let mut names = Vec::new();
    for seed in 1..=4 {
        let created = s.post("/api/repo/add", Some(&t), &repo_body(&ed25519_key(seed, ""))).1;
        names.push(created["repositoryName"].as_str().unwrap().to_string());
    }
    // Three hold borg data; the fourth no client has written to yet.
    let base = s.dir.path().join("borg-local");
    for name in &names[..3] {
        let out = std::process::Command::new(&tools.borg)
            .args(["init", "-e", "none"])
            .arg(s.home.join("repos").join(name))
            .env("BORG_BASE_DIR", &base)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let run = || s.block_on(bw_plugin_repo::verify::run_due(&s.state)).unwrap();
    assert_eq!(run(), 3);
    for name in &names[..3] {
        let repo = &s.get(&format!("/api/v1/repositories/{name}"), Some(&t)).1["repo"];
        assert_eq!(repo["lastVerify"], json!({"at": NOW, "ok": true, "message": ""}), "{repo}");
    }
    assert!(s.get(&format!("/api/v1/repositories/{}", names[3]), Some(&t)).1["repo"].get("lastVerify").is_none());
    assert_eq!(run(), 0, "none is due again within the interval");

    // A day later all are due again, but an archived repository is left alone.
    s.clock.set(NOW + 86_400);
    let archive = format!("/api/v1/repositories/{}/archive", names[0]);
    assert_eq!(s.post(&archive, Some(&t), &json!({"archived": true})).0, 200);
    assert_eq!(run(), 2);
    let at =
        |name: &str| s.get(&format!("/api/v1/repositories/{name}"), Some(&t)).1["repo"]["lastVerify"]["at"].clone();
    assert_eq!((at(&names[0]), at(&names[1])), (json!(NOW), json!(NOW + 86_400)));
}

/// `BW_VERIFY_CONCURRENCY` bounds verifies asked for through the API too: with one running
/// (its borg check held stopped, so it runs for as long as the test needs), another answers 409.
#[test]
fn asked_for_verifies_are_bounded_by_the_concurrency_setting() {
    let Some(tools) = bw_tests::ssh::tools() else { return };
    let s = TestServer::with_config(|c| {
        c.plugins.set(&VerifySettings { concurrency: 1, ..VerifySettings::default() });
    });
    let t = s.full_token();
    let mut names = Vec::new();
    for seed in 1..=2 {
        let created = s.post("/api/repo/add", Some(&t), &repo_body(&ed25519_key(seed, ""))).1;
        let name = created["repositoryName"].as_str().unwrap().to_string();
        let out = std::process::Command::new(&tools.borg)
            .args(["init", "-e", "none"])
            .arg(s.home.join("repos").join(&name))
            .env("BORG_BASE_DIR", s.dir.path().join("borg-local"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        names.push(name);
    }
    let verify = |name: &str| format!("{}/api/v1/repositories/{name}/verify", s.url);
    let first = {
        let (url, auth) = (verify(&names[0]), format!("Bearer {t}"));
        std::thread::spawn(move || bw_tests::request("POST", &url, Some(&auth), Some("{}")))
    };
    let folder = s.home.join("repos").join(&names[0]).to_str().unwrap().to_string();
    let check = Frozen::when(
        "the first verify's borg check",
        || frozen::pid_with_args(&["check", "--repository-only", &folder]),
        || true,
    );
    let (status, body) = bw_tests::request("POST", &verify(&names[1]), Some(&format!("Bearer {t}")), Some("{}"));
    assert_eq!(
        (status, body["message"].as_str()),
        (
            409,
            Some(
                "As many verifies as BW_VERIFY_CONCURRENCY allows are running on this server; ask again when one ends"
            )
        ),
        "{body}"
    );
    check.resume();
    let (status, body) = first.join().unwrap();
    assert_eq!((status, body["ok"].as_bool()), (200, Some(true)), "{body}");
    // The first one done, the second runs.
    let (status, body) = bw_tests::request("POST", &verify(&names[1]), Some(&format!("Bearer {t}")), Some("{}"));
    assert_eq!((status, body["ok"].as_bool()), (200, Some(true)), "{body}");
}
