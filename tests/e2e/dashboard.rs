//! The dashboard in a real browser: tests/clients/dashboard_flows.py drives Debian's Chromium
//! with Playwright against our server, and backs up with the real borg client through sshd
//! using the command the page shows. Screenshots of every view (1280 px and 375 px, light and
//! dark) land in target/dashboard-artifacts, which CI keeps.

use std::path::PathBuf;
use std::process::Command;

use crate::harness::{self, Server, Sshd};

const ADMIN_PASSWORD: &str = "dashboard admin password";

#[test]
fn a_person_runs_the_host_from_the_dashboard() {
    let Some(tools) = harness::tools() else { return };
    let Some(playwright) = bw_tests::tool_or_skip("playwright", "the dashboard in a browser") else { return };
    let Some(chromium) = bw_tests::tool_or_skip("chromium", "the dashboard in a browser") else { return };
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let sshd = Sshd::start(&tools, dir.path(), &home);
    // A storage target, on the same disk as the test on purpose (its marker file says so).
    let target = dir.path().join("big-disk");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(target.join(bw_host::storage_target::MARKER), "").unwrap();
    let env = vec![
        ("BW_ADMIN_PASSWORD".to_string(), ADMIN_PASSWORD.to_string()),
        ("FQDN".into(), "127.0.0.1".into()),
        ("SSH_SERVER_PORT".into(), sshd.port.to_string()),
        ("UNIX_USER".into(), tools.user.clone()),
    ];
    let mut main_env = env.clone();
    main_env.push(("STORAGE_TARGETS".into(), format!("{}|Big disk", target.display())));
    let server = Server::start(dir.path(), &main_env);
    // A second server where deleting is disabled: the page hides the delete button.
    let locked_root = dir.path().join("delete-disabled");
    std::fs::create_dir_all(&locked_root).unwrap();
    let mut locked_env = env.clone();
    locked_env.push(("DISABLE_DELETE_REPO".into(), "true".into()));
    let locked = Server::start(&locked_root, &locked_env);
    // Many repositories there, each monitored and never backed up (late): the page draws the
    // first 500 and the search finds the rest, and "Needs attention" stays bounded.
    let admin = bw_tests::basic("admin", ADMIN_PASSWORD);
    for seed in 0..510u32 {
        let body = bw_tests::json!({"alias": format!("bulk-{seed:03}"), "sshPublicKey": bw_tests::ed25519_key(9000 + seed, ""),
            "storageSize": 1, "alert": 3600});
        let url = format!("http://127.0.0.1:{}/api/v1/repositories", locked.port());
        assert_eq!(bw_tests::request("POST", &url, Some(&admin), Some(&body.to_string())).0, 200);
    }
    // A third server with no user at all: the page offers the first run, with the setup code
    // the server wrote in its log.
    let first_root = dir.path().join("first-run");
    std::fs::create_dir_all(&first_root).unwrap();
    let first_env: Vec<(String, String)> = env.iter().filter(|(k, _)| k != "BW_ADMIN_PASSWORD").cloned().collect();
    let first = Server::start(&first_root, &first_env);
    let log = std::fs::read_to_string(first_root.join("server.log")).unwrap();
    let code = log
        .split("setup_code=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no setup code in the log: {log}"))
        .trim_matches('"')
        .to_string();
    // A fourth server, with sign-in through a real OpenID Provider (oidc-provider under Node),
    // for the page's provider sign-in.
    let oidc_module = std::env::var("OIDC_PROVIDER_MODULE").unwrap_or_else(|_| {
        format!(
            "{}/bw-ci-oidc-provider/node_modules/oidc-provider/lib/index.js",
            std::env::var("TMPDIR").unwrap_or("/tmp".into())
        )
    });
    assert!(
        std::path::Path::new(&oidc_module).is_file(),
        "oidc-provider is not installed at {oidc_module} (.ci/run installs it)"
    );
    let sso_port = bw_tests::ssh::free_port();
    let sso_url = format!("http://127.0.0.1:{sso_port}");
    let provider_port = bw_tests::ssh::free_port();
    let mut provider = Command::new("node")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("clients/oidc_provider.mjs"))
        .args([
            &oidc_module,
            &provider_port.to_string(),
            "borgwarehouse",
            "dashboard client secret",
            &format!("{sso_url}/api/v1/sign-in/oidc/callback"),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = String::new();
    let mut out = std::io::BufReader::new(provider.stdout.take().unwrap());
    std::io::BufRead::read_line(&mut out, &mut said).unwrap();
    assert!(said.contains("listening"), "{said}");
    std::thread::spawn(move || for _ in std::io::BufRead::lines(out) {});
    let sso_root = dir.path().join("sso");
    std::fs::create_dir_all(&sso_root).unwrap();
    let mut sso_env = env.clone();
    sso_env.extend([
        ("BW_LISTEN".to_string(), format!("127.0.0.1:{sso_port}")),
        ("BW_PUBLIC_URL".into(), sso_url.clone()),
        ("OIDC_ISSUER_URL".into(), format!("http://127.0.0.1:{provider_port}")),
        ("OIDC_CLIENT_ID".into(), "borgwarehouse".into()),
        ("OIDC_CLIENT_SECRET".into(), "dashboard client secret".into()),
        ("OIDC_PROVIDER_NAME".into(), "Company SSO".into()),
    ]);
    let sso = Server::start(&sso_root, &sso_env);
    assert_eq!(sso.port(), sso_port);
    let body = bw_tests::json!({"name": "alice", "role": "operator", "email": "alice@example.org", "password": "alice's long password"});
    let url = format!("{sso_url}/api/v1/users");
    assert_eq!(bw_tests::request("POST", &url, Some(&admin), Some(&body.to_string())).0, 200);
    let client = harness::keygen(dir.path(), "dashboard-client");
    let other = harness::keygen(dir.path(), "dashboard-other");
    let artifacts = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../dashboard-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let python = playwright.parent().map(|d| d.join("python3")).filter(|p| p.is_file()).unwrap_or("python3".into());
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("clients/dashboard_flows.py");
    let out = Command::new(python)
        .arg(script)
        .env("BW_URL", format!("http://127.0.0.1:{}", server.port()))
        .env("BW_URL_DELETE_DISABLED", format!("http://127.0.0.1:{}", locked.port()))
        .env("BW_URL_FIRST_RUN", format!("http://127.0.0.1:{}", first.port()))
        .env("SETUP_CODE", &code)
        .env("BW_URL_SSO", &sso_url)
        .env("BW_ADMIN_USER", "admin")
        .env("BW_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("CLIENT_KEY", &client.private)
        .env("CLIENT_PUB", client.private.with_extension("pub"))
        .env("OTHER_PUB", other.private.with_extension("pub"))
        .env("SSH_USER", &tools.user)
        .env("SSH_PORT", sshd.port.to_string())
        .env("BORG_BASE_DIR", dir.path().join("borg-client"))
        .env("ARTIFACTS", &artifacts)
        .env("TARGET_PATH", &target)
        .env("TARGET_NAME", "Big disk")
        .env("CHROMIUM", chromium)
        .output()
        .unwrap();
    let _ = provider.kill();
    let _ = provider.wait();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{said}");
    assert!(said.contains("dashboard flows: ok"), "{said}");
    assert!(artifacts.join("repositories.png").is_file());
    for view in [
        "repositories",
        "repository",
        "edit",
        "add",
        "monitoring",
        "tokens",
        "server",
        "users",
        "audit",
        "account",
        "setup",
    ] {
        for shot in ["1280-light", "1280-dark", "375-light", "375-dark"] {
            assert!(artifacts.join(format!("{view}-{shot}.png")).is_file(), "{view}-{shot}");
        }
    }
}
