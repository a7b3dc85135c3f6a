//! The repository URLs a client gives borg: `ssh://UNIX_USER@FQDN[:PORT]/./NAME`, from
//! BorgWarehouse's own settings (`UNIX_USER`, `FQDN`, `SSH_SERVER_PORT`, `FQDN_LAN`,
//! `SSH_SERVER_PORT_LAN`, `HIDE_SSH_PORT`).

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoUrls {
    user: Option<String>,
    wan: Option<(String, Option<u16>)>,
    lan: Option<(String, Option<u16>)>,
    hide_port: bool,
}

impl RepoUrls {
    /// The URLs for the unix user, the host (and port) seen from outside, the one seen on the
    /// LAN, and whether a port is left out. An empty user or host counts as unset.
    pub fn new(
        user: Option<&str>,
        wan: Option<(&str, Option<u16>)>,
        lan: Option<(&str, Option<u16>)>,
        hide_port: bool,
    ) -> RepoUrls {
        let host = |h: Option<(&str, Option<u16>)>| h.filter(|(f, _)| !f.is_empty()).map(|(f, p)| (f.to_owned(), p));
        RepoUrls { user: user.filter(|u| !u.is_empty()).map(Into::into), wan: host(wan), lan: host(lan), hide_port }
    }

    fn url(&self, host: &Option<(String, Option<u16>)>, name: &str) -> Option<String> {
        let user = self.user.as_ref()?;
        let (host, port) = host.as_ref()?;
        let port = match port {
            Some(p) if *p != 22 && !self.hide_port => format!(":{p}"),
            _ => String::new(),
        };
        Some(format!("ssh://{user}@{host}{port}/./{name}"))
    }

    /// `sshUrl`: absent while `FQDN` or `UNIX_USER` is unset.
    pub fn ssh_url(&self, name: &str) -> Option<String> {
        self.url(&self.wan, name)
    }

    /// `lanSshUrl`: absent unless `FQDN_LAN` (and `UNIX_USER`) is set.
    pub fn lan_ssh_url(&self, name: &str) -> Option<String> {
        self.url(&self.lan, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(user: Option<&str>, fqdn: Option<&str>, port: Option<u16>, hide: bool) -> RepoUrls {
        RepoUrls::new(user, fqdn.map(|f| (f, port)), Some(("nas.lan", Some(22))), hide)
    }

    #[test]
    fn urls_follow_borgwarehouse_settings() {
        let u = urls(Some("borgwarehouse"), Some("backup.example.com"), Some(2222), false);
        assert_eq!(u.ssh_url("c1ddd097").as_deref(), Some("ssh://borgwarehouse@backup.example.com:2222/./c1ddd097"));
        assert_eq!(u.lan_ssh_url("c1ddd097").as_deref(), Some("ssh://borgwarehouse@nas.lan/./c1ddd097"));
        let hidden = urls(Some("b"), Some("h"), Some(2222), true);
        assert_eq!(hidden.ssh_url("x").as_deref(), Some("ssh://b@h/./x"));
        let port22 = urls(Some("b"), Some("h"), Some(22), false);
        assert_eq!(port22.ssh_url("x").as_deref(), Some("ssh://b@h/./x"));
        assert_eq!(urls(None, Some("h"), None, false).ssh_url("x"), None);
        assert_eq!(urls(Some(""), Some("h"), None, false).ssh_url("x"), None);
        assert_eq!(urls(Some("b"), None, None, false).ssh_url("x"), None);
        let no_lan = RepoUrls::new(Some("b"), Some(("h", None)), None, false);
        assert_eq!(no_lan.lan_ssh_url("x"), None);
    }
}
