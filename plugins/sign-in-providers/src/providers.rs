//! The providers configured. Google, Microsoft and GitLab are OpenID Connect providers at known
//! issuers; the generic one is any other (Keycloak, Authentik…). GitHub speaks plain OAuth2:
//! the person's email comes from its API, where only a verified primary one counts.

use crate::settings::ProviderSettings;

#[derive(Debug, Clone, PartialEq)]
pub struct Provider {
    /// In the paths: `oidc`, `github`, `google`, `microsoft`, `gitlab`.
    pub id: &'static str,
    /// On the page.
    pub name: String,
    pub protocol: Protocol,
    pub client_id: String,
    pub client_secret: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Protocol {
    /// Discovery, keys and the ID token from the issuer's documents.
    OpenIdConnect { issuer: String },
    /// GitHub (or a GitHub Enterprise Server): its web address (authorize, access token) and
    /// its API's (the emails).
    GitHub { web: String, api: String },
}

fn given(value: &Option<String>) -> Option<String> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string)
}

fn secret(value: &Option<bw_api::config::Secret>) -> Option<String> {
    value.as_ref().map(|s| s.expose().to_string()).filter(|v| !v.is_empty())
}

/// GitHub's API address: api.github.com for github.com, `/api/v3` on an Enterprise Server.
fn github_api(web: &str) -> String {
    let web = web.trim_end_matches('/');
    if web == "https://github.com" {
        "https://api.github.com".into()
    } else {
        format!("{web}/api/v3")
    }
}

/// Every provider whose settings are complete.
pub fn configured(s: &ProviderSettings) -> Vec<Provider> {
    let mut out = Vec::new();
    let mut add = |id, name: String, protocol: Option<Protocol>, client_id: &Option<String>, client_secret| {
        if let (Some(protocol), Some(client_id), Some(client_secret)) = (protocol, given(client_id), client_secret) {
            out.push(Provider { id, name, protocol, client_id, client_secret });
        }
    };
    let oidc = |issuer: &str| Some(Protocol::OpenIdConnect { issuer: issuer.to_string() });
    add(
        "oidc",
        given(&s.oidc_provider_name).unwrap_or_else(|| "SSO".into()),
        given(&s.oidc_issuer_url).and_then(|issuer| oidc(&issuer)),
        &s.oidc_client_id,
        secret(&s.oidc_client_secret),
    );
    let web = given(&s.github_url).unwrap_or_else(|| "https://github.com".into()).trim_end_matches('/').to_string();
    add(
        "github",
        "GitHub".into(),
        Some(Protocol::GitHub { api: github_api(&web), web }),
        &s.github_client_id,
        secret(&s.github_client_secret),
    );
    add(
        "google",
        "Google".into(),
        oidc("https://accounts.google.com"),
        &s.google_client_id,
        secret(&s.google_client_secret),
    );
    let tenant = given(&s.microsoft_tenant_id).unwrap_or_else(|| "organizations".into());
    add(
        "microsoft",
        "Microsoft".into(),
        oidc(&format!("https://login.microsoftonline.com/{tenant}/v2.0")),
        &s.microsoft_client_id,
        secret(&s.microsoft_client_secret),
    );
    add("gitlab", "GitLab".into(), oidc("https://gitlab.com"), &s.gitlab_client_id, secret(&s.gitlab_client_secret));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_api_is_api_github_com_or_the_enterprise_servers() {
        assert_eq!(github_api("https://github.com/"), "https://api.github.com");
        assert_eq!(github_api("https://git.example.org"), "https://git.example.org/api/v3");
    }
}
