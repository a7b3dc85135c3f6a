//! The repository URLs a client gives borg: `ssh://UNIX_USER@FQDN[:PORT]/./NAME`, from
//! BorgWarehouse's own settings (`UNIX_USER`, `FQDN`, `SSH_SERVER_PORT`, `FQDN_LAN`,
//! `SSH_SERVER_PORT_LAN`, `HIDE_SSH_PORT`).

use crate::config::SshSettings;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoUrls {
    user: Option<String>,
    wan: Option<(String, Option<u16>)>,
    lan: Option<(String, Option<u16>)>,
    hide_port: bool,
}

impl RepoUrls {
    pub fn from_config(ssh: &SshSettings) -> RepoUrls {
        RepoUrls {
            user: ssh.unix_user.clone().filter(|u| !u.is_empty()),
            wan: ssh.fqdn.clone().filter(|f| !f.is_empty()).map(|f| (f, ssh.port)),
            lan: ssh.fqdn_lan.clone().filter(|f| !f.is_empty()).map(|f| (f, ssh.port_lan)),
            hide_port: ssh.hide_port,
        }
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

    fn ssh(user: Option<&str>, fqdn: Option<&str>, port: Option<u16>, hide: bool) -> SshSettings {
        let mut s = crate::config::Config::default().ssh;
        s.unix_user = user.map(Into::into);
        s.fqdn = fqdn.map(Into::into);
        s.port = port;
        s.hide_port = hide;
        s.fqdn_lan = Some("nas.lan".into());
        s.port_lan = Some(22);
        s
    }

    #[test]
    fn urls_follow_borgwarehouse_settings() {
        let u = RepoUrls::from_config(&ssh(Some("borgwarehouse"), Some("backup.example.com"), Some(2222), false));
        assert_eq!(u.ssh_url("c1ddd097").as_deref(), Some("ssh://borgwarehouse@backup.example.com:2222/./c1ddd097"));
        assert_eq!(u.lan_ssh_url("c1ddd097").as_deref(), Some("ssh://borgwarehouse@nas.lan/./c1ddd097"));
        let hidden = RepoUrls::from_config(&ssh(Some("b"), Some("h"), Some(2222), true));
        assert_eq!(hidden.ssh_url("x").as_deref(), Some("ssh://b@h/./x"));
        let port22 = RepoUrls::from_config(&ssh(Some("b"), Some("h"), Some(22), false));
        assert_eq!(port22.ssh_url("x").as_deref(), Some("ssh://b@h/./x"));
        assert_eq!(RepoUrls::from_config(&ssh(None, Some("h"), None, false)).ssh_url("x"), None);
        assert_eq!(RepoUrls::from_config(&ssh(Some("b"), None, None, false)).ssh_url("x"), None);
        let mut no_lan = ssh(Some("b"), Some("h"), None, false);
        no_lan.fqdn_lan = None;
        assert_eq!(RepoUrls::from_config(&no_lan).lan_ssh_url("x"), None);
    }
}
