//! The providers configured: each an OpenID Connect issuer with a client. Google, Microsoft
//! and GitLab are OpenID Connect providers at known issuers; the generic one is any other
//! (Keycloak, Authentik…).

use crate::settings::ProviderSettings;

#[derive(Debug, Clone, PartialEq)]
pub struct Provider {
    /// In the paths: `oidc`, `google`, `microsoft`, `gitlab`.
    pub id: &'static str,
    /// On the page.
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
}

fn given(value: &Option<String>) -> Option<String> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string)
}

fn secret(value: &Option<bw_api::config::Secret>) -> Option<String> {
    value.as_ref().map(|s| s.expose().to_string()).filter(|v| !v.is_empty())
}

/// Every provider whose settings are complete.
pub fn configured(s: &ProviderSettings) -> Vec<Provider> {
    let mut out = Vec::new();
    let mut add = |id, name: String, issuer: Option<String>, client_id: &Option<String>, client_secret| {
        if let (Some(issuer), Some(client_id), Some(client_secret)) = (issuer, given(client_id), client_secret) {
            out.push(Provider { id, name, issuer, client_id, client_secret });
        }
    };
    add(
        "oidc",
        given(&s.oidc_provider_name).unwrap_or_else(|| "SSO".into()),
        given(&s.oidc_issuer_url),
        &s.oidc_client_id,
        secret(&s.oidc_client_secret),
    );
    add(
        "google",
        "Google".into(),
        Some("https://accounts.google.com".into()),
        &s.google_client_id,
        secret(&s.google_client_secret),
    );
    let tenant = given(&s.microsoft_tenant_id).unwrap_or_else(|| "organizations".into());
    add(
        "microsoft",
        "Microsoft".into(),
        Some(format!("https://login.microsoftonline.com/{tenant}/v2.0")),
        &s.microsoft_client_id,
        secret(&s.microsoft_client_secret),
    );
    add(
        "gitlab",
        "GitLab".into(),
        Some("https://gitlab.com".into()),
        &s.gitlab_client_id,
        secret(&s.gitlab_client_secret),
    );
    out
}
