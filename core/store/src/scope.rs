//! What a credential may reach: the whole host, one tenant's repositories, or repositories
//! named one by one (a scoped token), or both. A user bound to a tenant has that tenant's scope;
//! a token acts within its own scope and its maker's.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scope {
    /// Only this tenant's repositories; `None`: any tenant's and the host's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Only these repositories (their names); `None`: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repositories: Option<Vec<String>>,
}

impl Scope {
    /// The whole host.
    pub const HOST: Scope = Scope { tenant: None, repositories: None };

    pub fn tenant(tenant: Option<String>) -> Scope {
        Scope { tenant, repositories: None }
    }

    pub fn is_whole_host(&self) -> bool {
        self.tenant.is_none() && self.repositories.is_none()
    }

    /// Whether a repository of `tenant` named `name` is within.
    pub fn admits(&self, tenant: Option<&str>, name: &str) -> bool {
        self.tenant.as_deref().is_none_or(|t| tenant == Some(t))
            && self.repositories.as_ref().is_none_or(|names| names.iter().any(|n| n == name))
    }

    /// What is within both `self` and `outer` (a token within its maker's reach). Two tenants
    /// that differ leave nothing.
    pub fn within(&self, outer: &Scope) -> Scope {
        let tenant = match (&self.tenant, &outer.tenant) {
            (Some(a), Some(b)) if a != b => return Scope { tenant: Some(a.clone()), repositories: Some(Vec::new()) },
            (a, b) => a.clone().or_else(|| b.clone()),
        };
        let repositories = match (&self.repositories, &outer.repositories) {
            (Some(a), Some(b)) => Some(a.iter().filter(|n| b.contains(n)).cloned().collect()),
            (a, b) => a.clone().or_else(|| b.clone()),
        };
        Scope { tenant, repositories }
    }

    /// Whether everything `self` reaches, `outer` reaches too (a token no wider than its maker).
    pub fn is_within(&self, outer: &Scope) -> bool {
        let tenant_ok = outer.tenant.is_none() || self.tenant == outer.tenant;
        let names_ok = match (&self.repositories, &outer.repositories) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(a), Some(b)) => a.iter().all(|n| b.contains(n)),
        };
        tenant_ok && names_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(tenant: Option<&str>, names: Option<&[&str]>) -> Scope {
        Scope {
            tenant: tenant.map(str::to_string),
            repositories: names.map(|n| n.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn a_scope_admits_its_tenant_and_its_names_only() {
        assert!(Scope::HOST.admits(Some("a"), "0a0a0a0a") && Scope::HOST.admits(None, "0a0a0a0a"));
        let a = scope(Some("a"), None);
        assert!(a.admits(Some("a"), "0a0a0a0a"));
        assert!(!a.admits(Some("b"), "0a0a0a0a") && !a.admits(None, "0a0a0a0a"));
        let named = scope(None, Some(&["0a0a0a0a"]));
        assert!(named.admits(Some("b"), "0a0a0a0a") && !named.admits(None, "0b0b0b0b"));
    }

    #[test]
    fn a_token_acts_within_its_makers_reach() {
        let maker = scope(Some("a"), None);
        assert_eq!(Scope::HOST.within(&maker), maker);
        assert_eq!(scope(Some("b"), None).within(&maker).repositories, Some(vec![]), "another tenant: nothing");
        let both = scope(None, Some(&["1", "2"])).within(&scope(None, Some(&["2", "3"])));
        assert_eq!(both.repositories, Some(vec!["2".to_string()]));
        assert!(scope(Some("a"), Some(&["1"])).is_within(&maker));
        assert!(!Scope::HOST.is_within(&maker));
        assert!(!scope(None, Some(&["1", "4"])).is_within(&scope(None, Some(&["1"]))));
    }
}
