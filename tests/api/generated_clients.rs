//! The committed document is good enough to generate clients from: a Python client made by
//! openapi-python-client drives the main flows against a running server, and Redocly's
//! recommended rules pass (the two remaining warnings are explained in `openapi/.redocly.lint-ignore.yaml`).

use std::path::PathBuf;
use std::process::Command;

use bw_tests::{ed25519_key, tool_or_skip};

const BIN: &str = env!("CARGO_BIN_EXE_borgwarehouse-under-test");

fn document() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../openapi/openapi.json")
}

/// The server process, stopped however the test ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn output(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

#[test]
fn a_generated_python_client_drives_the_main_flows() {
    let Some(generator) = tool_or_skip("openapi-python-client", "the generated Python client") else { return };
    let dir = tempfile::tempdir().unwrap();
    let package = dir.path().join("client/borg_warehouse_api_client");
    let (ok, text) = output(
        Command::new(&generator)
            .args(["generate", "--meta", "none", "--path"])
            .arg(document())
            .arg("--output-path")
            .arg(&package)
            .current_dir(dir.path()),
    );
    assert!(ok && package.join("api").is_dir(), "generating the client failed:\n{text}");

    let mut server = Command::new(BIN);
    server
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("BW_DATA_DIR", dir.path().join("data"))
        .env("BW_HOME", dir.path().join("home"))
        .env("BW_ADMIN_PASSWORD", "python-admin-password")
        .env("CRONJOB_KEY", "python-cron-key");
    let (child, port) = bw_tests::process::spawn_on_free_port(server, &dir.path().join("server.log"));
    let _server = KillOnDrop(child);

    // The generator's own environment has the client's dependencies (httpx, attrs).
    let python = generator.parent().map(|d| d.join("python3")).filter(|p| p.is_file()).unwrap_or("python3".into());
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("clients/python_flows.py");
    let (ok, text) = output(
        Command::new(python)
            .arg(script)
            .args([&format!("http://127.0.0.1:{port}"), "admin", "python-admin-password", "python-cron-key"])
            .arg(ed25519_key(41, "python@client"))
            .env("PYTHONPATH", dir.path().join("client"))
            .env("PYTHONDONTWRITEBYTECODE", "1"),
    );
    assert!(ok, "the generated client failed a flow:\n{text}");
    assert!(text.contains("python client: 19 steps passed"), "{text}");
    println!("{}", text.trim());
}

#[test]
fn redocly_recommended_rules_pass() {
    let Some(redocly) = tool_or_skip("redocly", "Redocly lint") else { return };
    let openapi = document().parent().unwrap().to_path_buf();
    let (ok, text) = output(
        Command::new(redocly)
            .args(["lint", "--format", "stylish", "openapi.json"])
            .current_dir(&openapi)
            .env("NO_COLOR", "1"),
    );
    assert!(ok, "redocly lint failed:\n{text}");
    // Problems are reported as `LINE:COLUMN  warning|error  RULE`.
    let problems: Vec<&str> = text
        .lines()
        .filter(|l| {
            let mut words = l.split_whitespace();
            let at = words.next().unwrap_or_default();
            at.contains(':') && at.split(':').all(|n| n.parse::<u32>().is_ok()) && words.next().is_some()
        })
        .collect();
    assert!(problems.is_empty(), "redocly lint reported:\n{}", problems.join("\n"));
    assert!(text.contains("Your API description is valid"), "{text}");
    assert!(text.contains("7 problems are explicitly ignored"), "only the explained problems are ignored:\n{text}");
}
