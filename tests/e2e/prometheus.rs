//! A real Prometheus server scrapes our `/metrics` on 127.0.0.1 with a read token, and its query
//! API answers a repository's last-backup time after a real borg backup.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bw_tests::json;
use serde_json::Value;

use crate::harness::{self, Borg, Server, Sshd};

/// Prometheus as a process, killed when dropped.
struct Prometheus {
    child: Child,
    port: u16,
}

impl Prometheus {
    fn start(bin: &Path, root: &Path, target_port: u16, token: &str) -> Prometheus {
        let port = harness::free_port();
        let config = root.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: borgwarehouse\n    \
                 authorization:\n      type: Bearer\n      credentials: {token}\n    \
                 static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
            ),
        )
        .unwrap();
        let log = std::fs::File::create(root.join("prometheus.log")).unwrap();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", root.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Prometheus { child, port }
    }

    /// `GET /api/v1/query?query=…`'s `data.result`, or why not.
    fn query(&self, promql: &str) -> Result<Vec<Value>, String> {
        let resp = ureq::get(&format!("http://127.0.0.1:{}/api/v1/query", self.port))
            .query("query", promql)
            .timeout(Duration::from_secs(10))
            .call()
            .map_err(|e| e.to_string())?;
        let body: Value = resp.into_json().map_err(|e| e.to_string())?;
        body["data"]["result"].as_array().cloned().ok_or_else(|| body.to_string())
    }

    /// The query's first sample value, once Prometheus has one (it scrapes every second).
    fn wait_for(&self, promql: &str, root: &Path) -> f64 {
        let start = Instant::now();
        loop {
            if let Ok(result) = self.query(promql) {
                if let Some(v) = result.first().and_then(|r| r["value"][1].as_str()) {
                    return v.parse().unwrap();
                }
            }
            if start.elapsed() > Duration::from_secs(60) {
                let log = std::fs::read_to_string(root.join("prometheus.log")).unwrap_or_default();
                let targets = ureq::get(&format!("http://127.0.0.1:{}/api/v1/targets", self.port))
                    .call()
                    .ok()
                    .and_then(|r| r.into_string().ok())
                    .unwrap_or_default();
                panic!("Prometheus has no sample for {promql} after 60 s\ntargets: {targets}\n{log}");
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn prometheus_scrapes_the_last_backup_of_a_real_borg_backup() {
    let Some(tools) = harness::tools() else { return };
    let Some(prometheus) = bw_tests::tool_or_skip("prometheus", "the Prometheus scrape") else { return };
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let server = Server::start(dir.path(), &[]);
    let sshd = Sshd::start(&tools, dir.path(), &home);
    let token = server.cli_token("e2e-metrics", "create,read");
    let reader = server.cli_token("prometheus", "read");
    let key = harness::keygen(dir.path(), "client-metrics");
    let (status, created) = server.post(
        "/api/v1/repositories",
        &token,
        &json!({"alias": "scraped", "sshPublicKey": key.public, "storageSize": 1, "alert": 3600}),
    );
    assert_eq!(status, 200, "{created}");
    let name = created["repositoryName"].as_str().unwrap().to_string();

    let borg = Borg::new(&tools, dir.path(), &sshd);
    borg.ok(&key, &["init", "-e", "none", &borg.url(&name)]);
    let src = dir.path().join("src");
    harness::random_file(&src.join("data.bin"), 256 * 1024);
    borg.ok(&key, &["create", &format!("{}::first", borg.url(&name)), src.to_str().unwrap()]);
    assert_eq!(server.cron("/api/v1/cron/status").0, 200);
    assert_eq!(server.cron("/api/v1/cron/storage").0, 200);
    let repo = server.repo(&token, &name);
    let last_save = repo["lastSave"].as_i64().unwrap();
    assert!(last_save > 0, "{repo}");

    let prom = Prometheus::start(&prometheus, dir.path(), server.port(), &reader);
    let scraped = prom.wait_for(
        &format!("borgwarehouse_repository_last_backup_timestamp_seconds{{repositoryName=\"{name}\"}}"),
        dir.path(),
    );
    assert_eq!(scraped as i64, last_save, "Prometheus's value is the API's lastSave");
    let used = prom.wait_for(&format!("borgwarehouse_repository_used_bytes{{repositoryName=\"{name}\"}}"), dir.path());
    assert_eq!(used as u64, repo["storageUsed"].as_u64().unwrap() * 1024);
    // The alias joins on the name; the scrape itself is counted, by its route.
    let info = prom.query(&format!("borgwarehouse_repository_info{{repositoryName=\"{name}\"}}")).unwrap();
    assert_eq!(info[0]["metric"]["alias"], "scraped", "{info:?}");
    let up = prom.wait_for("up{job=\"borgwarehouse\"}", dir.path());
    assert_eq!(up, 1.0, "the scrape succeeds with the read token");
    prom.wait_for("borgwarehouse_http_requests_total{route=\"/metrics\",status=\"200\"}", dir.path());
}
