//! Health alerts, decided by the storage check and sent through the alert channels: quota
//! crossings (80% and 95%, once each, again after falling back), a shrink (not on an append-only
//! repository), a growth far past the median. Sizes come from a stand-in reader the test sets;
//! tests/e2e/health.rs does the same with real borg repositories.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bw_host::folder_scan::RepoScanner;
use bw_tests::sinks::{HttpReceiver, SmtpSink};
use bw_tests::{ed25519_key, json, repo_body, TestServer, NOW};

/// Each repository folder's size, as the test says.
#[derive(Default)]
struct Sizes(Mutex<HashMap<String, u64>>);

impl Sizes {
    fn set(&self, name: &str, kib: u64) {
        self.0.lock().unwrap().insert(name.to_string(), kib);
    }
}

impl RepoScanner for Sizes {
    fn last_save(&self, _dir: &Path) -> std::io::Result<Option<i64>> {
        Ok(Some(NOW))
    }
    fn disk_usage_kib(&self, dir: &Path) -> std::io::Result<Option<u64>> {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        Ok(self.0.lock().unwrap().get(&name).copied())
    }
}

/// 1 GB, the quota these repositories get, in KiB.
const GB: u64 = 976_562;

struct Host {
    s: TestServer,
    sizes: Arc<Sizes>,
    smtp: SmtpSink,
    hook: HttpReceiver,
    token: String,
}

impl Host {
    fn start() -> Host {
        let sizes = Arc::new(Sizes::default());
        let (smtp, hook) = (SmtpSink::start(), HttpReceiver::start());
        let (smtp_port, hook_url) = (smtp.port, format!("{}/hook", hook.url));
        let s = TestServer::with_scanner(
            move |c| {
                c.checks.status_interval = Duration::ZERO;
                c.checks.storage_interval = Duration::ZERO;
                bw_tests::alert_to(c, smtp_port, Some(hook_url));
            },
            sizes.clone(),
        );
        let token = s.full_token();
        Host { s, sizes, smtp, hook, token }
    }

    fn repo(&self, seed: u32, alias: &str, append_only: bool) -> String {
        let mut body = repo_body(&ed25519_key(seed, ""));
        body["alias"] = json!(alias);
        body["storageSize"] = json!(1);
        body["appendOnlyMode"] = json!(append_only);
        let (status, created) = self.s.post("/api/repo/add", Some(&self.token), &body);
        assert_eq!(status, 200, "{created}");
        created["repositoryName"].as_str().unwrap().to_string()
    }

    /// The storage check an hour after the last, then the waiting alerts sent: the subjects of
    /// the mails it sent, and the webhook bodies.
    fn check(&self, hour: i64) -> (Vec<String>, Vec<serde_json::Value>) {
        self.s.clock.set(NOW + hour * 3600);
        let (mails, hooks) = (self.smtp.mails().len(), self.hook.requests().len());
        self.s.block_on(bw_plugin_cron_storage::run(&self.s.state)).unwrap();
        self.s.block_on(bw_plugin_alerts::health::send_waiting(&self.s.state)).unwrap();
        let subjects = self.smtp.mails()[mails..]
            .iter()
            .map(|m| m.data.lines().find_map(|l| l.strip_prefix("Subject: ")).unwrap_or_default().to_string())
            .collect();
        let bodies = self.hook.requests()[hooks..].iter().map(|r| serde_json::from_slice(&r.body).unwrap()).collect();
        (subjects, bodies)
    }

    /// The newest mail, its quoted-printable soft breaks and escapes undone.
    fn last_mail(&self) -> String {
        let data = self.smtp.mails().last().expect("a mail").data.replace("=\r\n", "").replace("\r\n", "\n");
        let mut out = String::new();
        let mut rest = data.as_str();
        while let Some(i) = rest.find('=') {
            out.push_str(&rest[..i]);
            match rest.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(byte) => {
                    out.push(byte as char);
                    rest = &rest[i + 3..];
                }
                None => {
                    out.push('=');
                    rest = &rest[i + 1..];
                }
            }
        }
        out.push_str(rest);
        out
    }
}

#[test]
fn quota_crossings_alert_once_each_and_again_after_falling_back() {
    let h = Host::start();
    let name = h.repo(1, "web", false);
    h.sizes.set(&name, GB * 70 / 100);
    assert_eq!(h.check(0), (vec![], vec![]), "70%: nothing");
    h.sizes.set(&name, GB * 81 / 100);
    let (subjects, hooks) = h.check(1);
    assert_eq!(subjects, ["BorgWarehouse: 1 repository near the quota"]);
    let mail = h.last_mail();
    assert!(mail.contains(&format!("- web ({name}): 81% of its 1 GB quota used (810.0 MB, past 80%)")), "{mail}");
    assert!(mail.contains("borg prune") && mail.contains("storageSize"), "says what to do: {mail}");
    assert_eq!(hooks[0]["event"], "health.quota");
    assert_eq!(hooks[0]["status"], "warning");
    assert_eq!(hooks[0]["repos"], json!(["web"]));
    assert_eq!(hooks[0]["details"][0]["repository"], name.as_str());

    h.sizes.set(&name, GB * 85 / 100);
    assert_eq!(h.check(2).0, Vec::<String>::new(), "still past 80%: not again");
    h.sizes.set(&name, GB * 96 / 100);
    assert_eq!(h.check(3).0, ["BorgWarehouse: 1 repository near the quota"], "95% is a crossing of its own");
    assert!(h.last_mail().contains("past 95%"));
    h.sizes.set(&name, GB * 97 / 100);
    assert!(h.check(4).0.is_empty());
    // A prune brings it back under 80% (not by half: no shrink), then it fills again.
    h.sizes.set(&name, GB * 60 / 100);
    assert!(h.check(5).0.is_empty());
    h.sizes.set(&name, GB * 82 / 100);
    assert_eq!(h.check(6).0, ["BorgWarehouse: 1 repository near the quota"], "a new crossing");

    // A restart remembers what was sent.
    let mark = h.s.state.quota_marks.level(h.s.state.repos.id_of_name(&name).unwrap());
    assert_eq!(mark, 80);
}

#[test]
fn a_shrink_by_more_than_half_alerts_unless_the_repository_is_append_only() {
    let h = Host::start();
    let (web, vault) = (h.repo(1, "web", false), h.repo(2, "vault", true));
    h.sizes.set(&web, 400_000);
    h.sizes.set(&vault, 400_000);
    h.check(0);
    h.sizes.set(&web, 150_000);
    h.sizes.set(&vault, 150_000);
    let (subjects, hooks) = h.check(1);
    assert_eq!(subjects, ["BorgWarehouse: storage used fell sharply in 1 repository"]);
    let mail = h.last_mail();
    assert!(mail.contains(&format!("- web ({web}): storage used fell by 62%, from 409.6 MB to 153.6 MB")), "{mail}");
    assert!(mail.contains("borg list") && !mail.contains("vault"), "{mail}");
    assert_eq!((hooks[0]["event"].as_str(), hooks[0]["repos"].clone()), (Some("health.shrink"), json!(["web"])));
    assert!(h.check(2).0.is_empty(), "once: the next check compares with the new size");
    // Kept for people: what fired, when, what it said, and which channels delivered it.
    let (status, log) = h.s.get("/api/v1/alerts", Some(&h.token));
    assert_eq!(status, 200, "{log}");
    let alerts = log["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{log}");
    assert_eq!(alerts[0]["kind"], "shrink");
    assert_eq!(alerts[0]["repositoryName"], web.as_str());
    assert_eq!(alerts[0]["alias"], "web");
    assert_eq!(alerts[0]["at"], NOW + 3600);
    assert!(alerts[0]["message"].as_str().unwrap().starts_with("storage used fell by 62%"), "{log}");
    assert_eq!(alerts[0]["deliveredBy"], json!(["email", "webhook"]));
    assert_eq!(h.s.get(&format!("/api/v1/alerts?repositoryName={vault}"), Some(&h.token)).1, json!({"alerts": []}));
    for bad in ["0", "2001", "x", "-1"] {
        assert_eq!(h.s.get(&format!("/api/v1/alerts?limit={bad}"), Some(&h.token)).0, 400, "{bad}");
    }
}

/// A repository whose first key is append-only but which also has a full key is not safe from
/// deletes: the full key's `compact` makes final what the append-only one marked deleted. Its
/// shrink alerts; once the full key is made append-only too, it does not.
#[test]
fn a_shrink_alerts_when_any_key_is_full_even_if_the_first_is_append_only() {
    let h = Host::start();
    let mixed = h.repo(3, "mixed", true);
    let keys = format!("/api/v1/repositories/{mixed}/keys");
    let (status, added) =
        h.s.post(&keys, Some(&h.token), &json!({"sshPublicKey": ed25519_key(4, "admin"), "mode": "full"}));
    assert_eq!(status, 200, "{added}");
    h.sizes.set(&mixed, 400_000);
    h.check(0);
    h.sizes.set(&mixed, 150_000);
    let (subjects, _) = h.check(1);
    assert_eq!(
        subjects,
        ["BorgWarehouse: storage used fell sharply in 1 repository"],
        "a full key beside an append-only one"
    );
    let mail = h.last_mail();
    assert!(mail.contains(&format!("- mixed ({mixed}): storage used fell by 62%")), "{mail}");
    assert!(!mail.contains("an append-only key stops"), "the alert still says one append-only key is enough: {mail}");

    let id = added["key"]["id"].as_str().unwrap();
    let (status, body) = h.s.patch(&format!("{keys}/{id}"), Some(&h.token), &json!({"mode": "append-only"}));
    assert_eq!(status, 200, "{body}");
    h.sizes.set(&mixed, 400_000);
    h.check(2);
    h.sizes.set(&mixed, 150_000);
    assert!(h.check(3).0.is_empty(), "every key append-only: no shrink alert");
}

#[test]
fn a_backup_far_past_the_median_growth_alerts() {
    let h = Host::start();
    let name = h.repo(1, "db", false);
    // Six ordinary backups of about 10 MB each, then one of 200 MB.
    let mut used = 100_000;
    for hour in 0..7 {
        used += 9_000 + hour as u64 * 500;
        h.sizes.set(&name, used);
        assert!(h.check(hour).0.is_empty(), "ordinary growth at hour {hour}");
    }
    h.sizes.set(&name, used + 200_000);
    let (subjects, hooks) = h.check(7);
    assert_eq!(subjects, ["BorgWarehouse: 1 repository grew far more than usual"]);
    let mail = h.last_mail();
    assert!(mail.contains(&format!("- db ({name}): one backup grew storage used by 204.8 MB, ")), "{mail}");
    assert!(mail.contains("times its median growth of"), "{mail}");
    assert_eq!(hooks[0]["event"], "health.growth");
    // The points of that history are what the API shows.
    let history = h.s.get(&format!("/api/v1/repositories/{name}/history"), Some(&h.token)).1;
    assert_eq!(history["points"].as_array().unwrap().len(), 8);
}

#[test]
fn each_rule_has_a_setting_that_turns_it_off() {
    let sizes = Arc::new(Sizes::default());
    let s = TestServer::with_scanner(
        |c| {
            c.checks.status_interval = Duration::ZERO;
            c.checks.storage_interval = Duration::ZERO;
            c.health.quota_percent = vec![];
            c.health.shrink_percent = 0;
            c.health.growth_factor = 0;
        },
        sizes.clone(),
    );
    let t = s.full_token();
    let mut body = repo_body(&ed25519_key(1, ""));
    body["storageSize"] = json!(1);
    let name = s.post("/api/repo/add", Some(&t), &body).1["repositoryName"].as_str().unwrap().to_string();
    for (hour, kib) in [(0, 100_000), (1, GB), (2, 10_000)] {
        sizes.set(&name, kib);
        s.clock.set(NOW + hour * 3600);
        s.block_on(bw_plugin_cron_storage::run(&s.state)).unwrap();
    }
    assert!(s.state.take_health_events().is_empty());
}
