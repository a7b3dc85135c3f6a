//! Signing in through a provider, against a real OpenID Provider started by the test:
//! `oidc-provider` from npm (certified by the OpenID Foundation), under Node. The browser is
//! played by hand (cookies kept, redirects followed one by one), so that each step can be
//! tampered with: a user signs in; an unknown email, an unverified one, a tampered state and a
//! replayed callback are refused and counted; forged ID tokens (another audience, another
//! issuer, expired, an unpublished key) and an expired code are refused; DISABLE_PASSWORD_LOGIN
//! refuses passwords.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use bw_plugin_sign_in_providers::ProviderSettings;
use bw_tests::{basic, json, TestServer};

const CLIENT_ID: &str = "borgwarehouse";
const CLIENT_SECRET: &str = "a client secret of the test provider";

/// oidc-provider, as .ci/run installs it.
fn provider_module() -> Option<String> {
    let dir = std::env::var("TMPDIR").unwrap_or_else(|_| "/tmp".into());
    let module = std::env::var("OIDC_PROVIDER_MODULE")
        .unwrap_or_else(|_| format!("{dir}/bw-ci-oidc-provider/node_modules/oidc-provider/lib/index.js"));
    if std::path::Path::new(&module).is_file() {
        return Some(module);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must run this: oidc-provider is not at {module} (.ci/run installs it)"
    );
    eprintln!("skipped: oidc-provider is not installed at {module}");
    None
}

struct OidcProvider {
    child: Child,
    url: String,
}

impl OidcProvider {
    fn start(module: &str, redirect_uri: &str) -> OidcProvider {
        OidcProvider::run("oidc_provider.mjs", &[module], redirect_uri)
    }

    /// The stand-in for GitHub (tests/clients/github_standin.mjs): github.com is out of reach.
    fn github(redirect_uri: &str) -> OidcProvider {
        OidcProvider::run("github_standin.mjs", &[], redirect_uri)
    }

    fn run(script: &str, first: &[&str], redirect_uri: &str) -> OidcProvider {
        let port = bw_tests::ssh::free_port();
        let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("clients").join(script);
        let mut child = Command::new("node")
            .arg(script)
            .args(first)
            .args([&port.to_string(), CLIENT_ID, CLIENT_SECRET, redirect_uri])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert!(line.contains("listening"), "the provider did not start: {line}");
        // Keep reading what it says: a closed pipe would stop it at its next line.
        std::thread::spawn(move || for _ in out.lines() {});
        OidcProvider { child, url: format!("http://127.0.0.1:{port}") }
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser by hand: a cookie jar (cookies are per host, as in a browser, whatever the port),
/// no redirect followed on its own.
struct Browser {
    agent: ureq::Agent,
    cookies: HashMap<String, String>,
}

struct Answer {
    status: u16,
    location: Option<String>,
    body: String,
}

impl Browser {
    fn new() -> Browser {
        Browser { agent: ureq::AgentBuilder::new().redirects(0).build(), cookies: HashMap::new() }
    }

    fn send(&mut self, method: &str, url: &str, form: Option<&[(&str, &str)]>) -> Answer {
        let mut req = self.agent.request(method, url);
        let jar: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if !jar.is_empty() {
            req = req.set("Cookie", &jar.join("; "));
        }
        let result = match form {
            Some(fields) => req.send_form(fields),
            None => req.call(),
        };
        let response = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {url}: {e}"),
        };
        for set in response.all("set-cookie") {
            let pair = set.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() || set.contains("Max-Age=0") || set.contains("expires=Thu, 01 Jan 1970") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_string(), value.to_string());
                }
            }
        }
        let status = response.status();
        let location = response.header("location").map(|l| {
            if l.starts_with('/') {
                let origin: String = url.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
                format!("{origin}{l}")
            } else {
                l.to_string()
            }
        });
        Answer { status, location, body: response.into_string().unwrap_or_default() }
    }

    /// From our sign-in start to the provider's redirect back to us: logs in as `login` and
    /// consents on the way. The callback address, not yet followed.
    fn through_the_provider(&mut self, server: &str, login: &str) -> String {
        self.through(server, "oidc", login)
    }

    fn through(&mut self, server: &str, provider: &str, login: &str) -> String {
        let mut at = self.send("GET", &format!("{server}/api/v1/sign-in/{provider}"), None);
        assert_eq!(at.status, 302, "the start: {}", at.body);
        for _ in 0..12 {
            let next = at.location.clone().unwrap_or_else(|| panic!("no redirect: {} {}", at.status, at.body));
            if next.starts_with(&format!("{server}/api/v1/sign-in/{provider}/callback")) {
                return next;
            }
            at = self.send("GET", &next, None);
            if at.status == 200 && at.body.contains("name=\"prompt\" value=\"login\"") {
                at = self.send("POST", &next, Some(&[("prompt", "login"), ("login", login), ("password", "any")]));
            } else if at.status == 200 && at.body.contains("name=\"prompt\" value=\"consent\"") {
                at = self.send("POST", &next, Some(&[("prompt", "consent")]));
            }
        }
        panic!("the provider never sent the browser back");
    }
}

fn server_with_provider(module: &str, disable_password: bool) -> (TestServer, OidcProvider) {
    let port = bw_tests::ssh::free_port();
    let public = format!("http://127.0.0.1:{port}");
    let provider = OidcProvider::start(module, &format!("{public}/api/v1/sign-in/oidc/callback"));
    let issuer = provider.url.clone();
    let s = TestServer::with_config(|c| {
        c.server.listen = format!("127.0.0.1:{port}").parse().unwrap();
        c.auth.failure_limit = 100;
        c.plugins.update(|g: &mut ProviderSettings| {
            g.public_url = Some(public.clone());
            g.oidc_issuer_url = Some(issuer.clone());
            g.oidc_client_id = Some(CLIENT_ID.into());
            g.oidc_client_secret = Some(bw_api::config::Secret::new(CLIENT_SECRET));
            g.oidc_provider_name = Some("Company SSO".into());
            g.disable_password_login = disable_password;
        });
    });
    assert_eq!(s.url, public);
    (s, provider)
}

#[test]
fn a_user_signs_in_through_a_real_openid_provider_and_strangers_do_not() {
    let Some(module) = provider_module() else { return };
    let (s, _provider) = server_with_provider(&module, false);
    let admin = s.create_admin();
    let (status, _) = s.post(
        "/api/v1/users",
        Some(&admin),
        &json!({"name": "alice", "role": "viewer", "email": "Alice@example.org", "password": "alice's long password"}),
    );
    assert_eq!(status, 200);
    let (_, methods) = s.get("/api/v1/auth/providers", None);
    assert_eq!(methods, json!({"password": true, "providers": [{"id": "oidc", "name": "Company SSO"}]}));

    // Alice: the provider's verified email selects her account.
    let mut browser = Browser::new();
    let callback = browser.through_the_provider(&s.url, "alice@example.org");
    let back = browser.send("GET", &callback, None);
    assert_eq!(
        (back.status, back.location.as_deref()),
        (302, Some(&format!("{}/#/signed-in", s.url)[..])),
        "{}",
        back.body
    );
    let signed_in = browser.cookies.get("bw_sign_in").cloned().expect("the sign-in cookie");
    let (status, me) = s.get("/api/v1/whoami", Some(&format!("Bearer {signed_in}")));
    assert_eq!((status, me["name"].as_str(), me["kind"].as_str()), (200, Some("alice"), Some("signIn")));
    // The same callback again (a replayed code): refused, and nobody signed in by it.
    let mut replayer = Browser::new();
    replayer.cookies = browser.cookies.clone();
    replayer.cookies.remove("bw_sign_in");
    let again = replayer.send("GET", &callback, None);
    assert_eq!(again.location.as_deref(), Some(&format!("{}/#/sign-in?provider=refused", s.url)[..]));
    assert!(!replayer.cookies.contains_key("bw_sign_in"));

    // Bob has no account here: nobody is created.
    let mut bob = Browser::new();
    let callback = bob.through_the_provider(&s.url, "bob@example.org");
    let back = bob.send("GET", &callback, None);
    assert_eq!(back.location.as_deref(), Some(&format!("{}/#/sign-in?provider=no-account", s.url)[..]));
    assert!(!bob.cookies.contains_key("bw_sign_in"));
    assert_eq!(s.get("/api/v1/users", Some(&admin)).1.as_array().unwrap().len(), 2, "a user was created");

    // An email the provider has not verified does not select anyone.
    s.post("/api/v1/users", Some(&admin), &json!({"name": "eve", "role": "admin", "email": "unverified-eve@example.org", "password": "eve's long password!"}));
    let mut eve = Browser::new();
    let callback = eve.through_the_provider(&s.url, "unverified-eve@example.org");
    let back = eve.send("GET", &callback, None);
    assert_eq!(back.location.as_deref(), Some(&format!("{}/#/sign-in?provider=refused", s.url)[..]));

    // A tampered state: refused.
    let mut mallory = Browser::new();
    let callback = mallory.through_the_provider(&s.url, "alice@example.org");
    let tampered = callback.replace("state=", "state=x");
    let back = mallory.send("GET", &tampered, None);
    assert_eq!(back.location.as_deref(), Some(&format!("{}/#/sign-in?provider=refused", s.url)[..]));
    // ... and a callback in a browser that never started the sign-in (no pending cookie).
    let mut stranger = Browser::new();
    let back = stranger.send("GET", &callback, None);
    assert_eq!(back.location.as_deref(), Some(&format!("{}/#/sign-in?provider=refused", s.url)[..]));

    // Each failure is in the audit log (never a secret), and the sign-in too.
    let (_, entries) = s.get("/api/v1/audit?limit=100", Some(&admin));
    let failed = entries.as_array().unwrap().iter().filter(|e| e["action"] == "sign-in.failed").count();
    assert_eq!(failed, 5, "{entries}");
    assert!(entries.as_array().unwrap().iter().any(|e| e["action"] == "sign-in" && e["actor"] == "alice"));
    assert!(!entries.to_string().contains(CLIENT_SECRET) && !entries.to_string().contains(&signed_in));
}

#[test]
fn forged_id_tokens_and_expired_codes_are_refused() {
    let Some(module) = provider_module() else { return };
    let (s, _provider) = server_with_provider(&module, false);
    let admin = s.create_admin();
    s.post(
        "/api/v1/users",
        Some(&admin),
        &json!({"name": "alice", "role": "admin", "email": "alice@example.org", "password": "alice's long password"}),
    );
    let refused = format!("{}/#/sign-in?provider=refused", s.url);
    // The provider makes each of these for alice's verified email (tests/clients/oidc_provider.mjs),
    // signed by its own key but for `signature`: only the claim said is wrong.
    for forgery in ["audience", "issuer", "expired", "signature", "expired-code"] {
        let mut browser = Browser::new();
        let callback = browser.through_the_provider(&s.url, &format!("alice@example.org#{forgery}"));
        if forgery == "expired-code" {
            std::thread::sleep(std::time::Duration::from_millis(2500));
        }
        let back = browser.send("GET", &callback, None);
        assert_eq!(back.location.as_deref(), Some(&refused[..]), "{forgery}: {}", back.body);
        assert!(!browser.cookies.contains_key("bw_sign_in"), "{forgery}: signed in");
    }
    // The same way, untouched, signs alice in: the refusals above are the forgeries'.
    let mut browser = Browser::new();
    let callback = browser.through_the_provider(&s.url, "alice@example.org#untouched");
    let back = browser.send("GET", &callback, None);
    assert_eq!(back.location, Some(format!("{}/#/signed-in", s.url)), "{}", back.body);
    let (_, entries) = s.get("/api/v1/audit?action=sign-in.failed&limit=100", Some(&admin));
    assert_eq!(entries.as_array().unwrap().len(), 5, "{entries}");
}

/// GitHub speaks OAuth2, not OpenID Connect: the account's verified primary email selects the
/// user; a verified secondary one does not, nor an unverified primary.
#[test]
fn a_user_signs_in_through_github_by_the_verified_primary_email() {
    if provider_module().is_none() {
        return; // Node, which .ci/run installs with oidc-provider.
    }
    let port = bw_tests::ssh::free_port();
    let public = format!("http://127.0.0.1:{port}");
    let github = OidcProvider::github(&format!("{public}/api/v1/sign-in/github/callback"));
    let s = TestServer::with_config(|c| {
        c.server.listen = format!("127.0.0.1:{port}").parse().unwrap();
        c.auth.failure_limit = 100;
        c.plugins.update(|g: &mut ProviderSettings| {
            g.public_url = Some(public.clone());
            g.github_url = Some(github.url.clone());
            g.github_client_id = Some(CLIENT_ID.into());
            g.github_client_secret = Some(bw_api::config::Secret::new(CLIENT_SECRET));
        });
    });
    let admin = s.create_admin();
    for (name, email) in
        [("alice", "alice@example.org"), ("carol", "second-carol@example.org"), ("eve", "unverified-eve@example.org")]
    {
        let body = json!({"name": name, "role": "admin", "email": email, "password": "a long enough password"});
        assert_eq!(s.post("/api/v1/users", Some(&admin), &body).0, 200);
    }
    assert_eq!(s.get("/api/v1/auth/providers", None).1["providers"], json!([{"id": "github", "name": "GitHub"}]));

    let mut browser = Browser::new();
    let callback = browser.through(&s.url, "github", "alice@example.org");
    let back = browser.send("GET", &callback, None);
    assert_eq!(back.location, Some(format!("{}/#/signed-in", s.url)), "{}", back.body);
    let signed_in = browser.cookies.get("bw_sign_in").cloned().expect("the sign-in cookie");
    assert_eq!(s.get("/api/v1/whoami", Some(&format!("Bearer {signed_in}"))).1["name"], "alice");
    // The code again: GitHub refuses a used code.
    let mut replayer = Browser::new();
    replayer.cookies = browser.cookies.clone();
    replayer.cookies.remove("bw_sign_in");
    let again = replayer.send("GET", &callback, None);
    assert_eq!(again.location, Some(format!("{}/#/sign-in?provider=refused", s.url)));

    let cases = [
        ("carol@example.org", "no-account"),       // only her secondary email is carol's here
        ("unverified-eve@example.org", "refused"), // her primary email is not verified
    ];
    for (login, outcome) in cases {
        let mut browser = Browser::new();
        let callback = browser.through(&s.url, "github", login);
        let back = browser.send("GET", &callback, None);
        assert_eq!(back.location, Some(format!("{}/#/sign-in?provider={outcome}", s.url)), "{login}");
        assert!(!browser.cookies.contains_key("bw_sign_in"), "{login} signed in");
    }
    // A tampered state.
    let mut mallory = Browser::new();
    let callback = mallory.through(&s.url, "github", "alice@example.org");
    let back = mallory.send("GET", &callback.replace("state=", "state=x"), None);
    assert_eq!(back.location, Some(format!("{}/#/sign-in?provider=refused", s.url)));
    assert!(!mallory.cookies.contains_key("bw_sign_in"));
}

#[test]
fn disable_password_login_refuses_passwords_while_a_provider_is_configured() {
    let Some(module) = provider_module() else { return };
    let (s, _provider) = server_with_provider(&module, true);
    let admin = s.create_admin();
    let (_, methods) = s.get("/api/v1/auth/providers", None);
    assert_eq!(methods["password"], false);
    let (status, answer) = s.post("/api/v1/sign-in", Some(&admin), &json!({}));
    assert_eq!(status, 403, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("sign in through a provider"), "{answer}");
    // Basic auth on the API itself (automation, the command line) is not the page's sign-in.
    assert_eq!(s.get("/api/v1/repositories", Some(&admin)).0, 200);
    let _ = basic;
}

#[test]
fn disable_password_login_without_a_provider_is_ignored() {
    let s = TestServer::with_config(|c| c.plugins.update(|g: &mut ProviderSettings| g.disable_password_login = true));
    let admin = s.create_admin();
    assert_eq!(s.get("/api/v1/auth/providers", None).1, json!({"password": true, "providers": []}));
    assert_eq!(s.post("/api/v1/sign-in", Some(&admin), &json!({})).0, 200);
}
