//! `providers`: sign-in through providers, with BorgWarehouse 3.6's setting names (read from
//! the environment as they are, for hosts moving over), and `BW_PUBLIC_URL`, the address people
//! use, which makes the redirect address.

use bw_api::config::{PluginSettings, Secret};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderSettings {
    /// The address people use to reach this server (`https://backup.example.org`): the
    /// providers send people back to `PUBLIC_URL/api/v1/sign-in/ID/callback`.
    pub public_url: Option<String>,
    /// A generic OpenID Connect provider (Keycloak, Authentik…): its issuer.
    pub oidc_issuer_url: Option<String>,
    pub oidc_client_id: Option<String>,
    pub oidc_client_secret: Option<Secret>,
    /// Its name on the page; "SSO" when unset.
    pub oidc_provider_name: Option<String>,
    pub google_client_id: Option<String>,
    pub google_client_secret: Option<Secret>,
    pub microsoft_client_id: Option<String>,
    pub microsoft_client_secret: Option<Secret>,
    /// The Entra ID tenant (`organizations`, `common`, or its id).
    pub microsoft_tenant_id: Option<String>,
    pub gitlab_client_id: Option<String>,
    pub gitlab_client_secret: Option<Secret>,
    /// A GitHub OAuth app (plain OAuth2, not OpenID Connect): its callback is
    /// `PUBLIC_URL/api/v1/sign-in/github/callback`.
    pub github_client_id: Option<String>,
    pub github_client_secret: Option<Secret>,
    /// A GitHub Enterprise Server's address (`https://git.example.org`); github.com when unset.
    pub github_url: Option<String>,
    /// Refuses passwords on `POST /api/v1/sign-in` while a provider is configured (never on
    /// the command line; ignored, with a warning, when none is).
    pub disable_password_login: bool,
}

impl PluginSettings for ProviderSettings {
    const GROUP: &'static str = "providers";
    const BORGWAREHOUSE_NAMES: &'static [&'static str] = &[
        "oidc_issuer_url",
        "oidc_client_id",
        "oidc_client_secret",
        "oidc_provider_name",
        "google_client_id",
        "google_client_secret",
        "microsoft_client_id",
        "microsoft_client_secret",
        "microsoft_tenant_id",
        "gitlab_client_id",
        "gitlab_client_secret",
        "github_client_id",
        "github_client_secret",
        "disable_password_login",
    ];

    fn check(&self) -> Result<(), String> {
        let named = |id: &Option<String>| id.as_deref().is_some_and(|v| !v.trim().is_empty());
        let any = [
            &self.oidc_client_id,
            &self.github_client_id,
            &self.google_client_id,
            &self.microsoft_client_id,
            &self.gitlab_client_id,
        ]
        .into_iter()
        .any(named);
        if any && self.public_url.as_deref().is_none_or(str::is_empty) {
            return Err("BW_PUBLIC_URL (`public_url`): a sign-in provider is configured, and it needs the address \
                        people use to reach this server (e.g. https://backup.example.org) to send them back"
                .into());
        }
        for (name, url) in
            [("BW_PUBLIC_URL (`public_url`)", &self.public_url), ("BW_GITHUB_URL (`github_url`)", &self.github_url)]
        {
            if let Some(url) = url {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(format!("{name}: {url:?} is not an http(s) address"));
                }
            }
        }
        Ok(())
    }
}

bw_api::settings_group!(ProviderSettings);

#[cfg(test)]
mod tests {
    use super::*;
    use bw_api::config::Config;
    use figment::Jail;

    /// BorgWarehouse 3.6's names are read as they are; a provider without the address people
    /// use is refused at start, naming the setting.
    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closures return figment's error.
    fn borgwarehouse_names_are_read_and_a_provider_needs_the_public_url() {
        Jail::expect_with(|jail| {
            let load = || Config::load(None).map(|(c, _)| c);
            assert_eq!(load().unwrap().group::<ProviderSettings>(), ProviderSettings::default());
            jail.set_env("OIDC_ISSUER_URL", "https://sso.example.org/realms/company");
            jail.set_env("OIDC_CLIENT_ID", "borgwarehouse");
            jail.set_env("OIDC_CLIENT_SECRET", "s3cret value");
            jail.set_env("DISABLE_PASSWORD_LOGIN", "true");
            let refused = load().unwrap_err().0;
            assert!(refused.contains("BW_PUBLIC_URL"), "{refused}");
            jail.set_env("BW_PUBLIC_URL", "https://backup.example.org");
            let loaded = load().unwrap().group::<ProviderSettings>();
            assert!(loaded.disable_password_login);
            let providers = crate::providers::configured(&loaded);
            assert_eq!(providers.len(), 1);
            assert_eq!((providers[0].id, providers[0].name.as_str()), ("oidc", "SSO"));
            assert!(!format!("{loaded:?}").contains("s3cret"), "a secret in the debug output");
            Ok(())
        });
    }
}
