//! Loading: defaults, file, environment, names, secrets.
// figment's `Jail` closures return its own (large) error type.
#![allow(clippy::result_large_err)]

use super::*;
use figment::Jail;

fn load_in_jail() -> Result<Config, ConfigError> {
    Config::load(None).map(|(c, _)| c)
}

#[test]
fn defaults() {
    Jail::expect_with(|_jail| {
        let c = load_in_jail().unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(c.home(), PathBuf::from("./data/home"));
        assert_eq!(c.db_path(), PathBuf::from("./data/db"));
        Ok(())
    });
}

#[test]
fn file_then_env() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "bw.toml",
            r#"
            listen = "127.0.0.1:4000"
            data_dir = "/srv/bw"
            cronjob_key = "from-file"
            status_interval = "30m"
            "#,
        )?;
        jail.set_env("BW_CONFIG", "bw.toml");
        let c = load_in_jail().unwrap();
        assert_eq!(c.server.listen.port(), 4000);
        assert_eq!(c.home(), PathBuf::from("/srv/bw/home"));
        assert_eq!(c.auth.cronjob_key, Some(Secret::from("from-file")));
        assert_eq!(c.checks.status_interval, Duration::from_secs(1800));

        jail.set_env("BW_LISTEN", "127.0.0.1:5000");
        jail.set_env("CRONJOB_KEY", "from-env");
        jail.set_env("BW_HOME", "/home/borg");
        jail.set_env("BW_TRUSTED_PROXIES", r#"["127.0.0.1", "::1"]"#);
        let c = load_in_jail().unwrap();
        assert_eq!(c.server.trusted_proxies.len(), 2);
        assert_eq!(c.server.listen.port(), 5000);
        assert_eq!(c.auth.cronjob_key, Some(Secret::from("from-env")));
        assert_eq!(c.home(), PathBuf::from("/home/borg"));
        Ok(())
    });
}

#[test]
fn borgwarehouse_names() {
    Jail::expect_with(|jail| {
        jail.set_env("DISABLE_DELETE_REPO", "true");
        jail.set_env("DISABLE_INTEGRATIONS", "true");
        jail.set_env("FQDN", "backup.example.org");
        jail.set_env("SSH_SERVER_PORT", "2222");
        jail.set_env("UNIX_USER", "borgwarehouse");
        jail.set_env("BW_STORAGE_INTERVAL", "0");
        let c = load_in_jail().unwrap();
        assert!(c.repos.disable_delete);
        assert!(c.auth.disable_integrations);
        assert_eq!(c.ssh.fqdn.as_deref(), Some("backup.example.org"));
        assert_eq!(c.ssh.port, Some(2222));
        assert_eq!(c.ssh.unix_user.as_deref(), Some("borgwarehouse"));
        assert_eq!(c.checks.storage_interval, Duration::ZERO);
        Ok(())
    });
}

#[test]
fn bad_value_names_the_key() {
    Jail::expect_with(|jail| {
        jail.set_env("DISABLE_DELETE_REPO", "maybe");
        let err = load_in_jail().unwrap_err().to_string();
        assert!(err.contains("DISABLE_DELETE_REPO"), "{err}");
        assert!(err.contains("bool"), "{err}");
        Ok(())
    });
    Jail::expect_with(|jail| {
        jail.set_env("BW_LISTEN", "not-an-address");
        let err = load_in_jail().unwrap_err().to_string();
        assert!(err.contains("BW_LISTEN"), "{err}");
        Ok(())
    });
    Jail::expect_with(|jail| {
        jail.set_env("BW_STATUS_INTERVAL", "often");
        let err = load_in_jail().unwrap_err().to_string();
        assert!(err.contains("BW_STATUS_INTERVAL") && err.contains("duration"), "{err}");
        Ok(())
    });
}

#[test]
fn misspelled_variable_is_warned() {
    Jail::expect_with(|jail| {
        jail.set_env("BW_LISTNE", "127.0.0.1:1");
        let (c, warnings) = Config::load(None).unwrap();
        assert_eq!(c.server.listen.port(), 3000);
        let ours: Vec<&String> = warnings.iter().filter(|w| w.contains("BW_LISTNE")).collect();
        assert_eq!(ours.len(), 1, "{warnings:?}");
        assert!(ours[0].contains("did you mean BW_LISTEN?"), "{warnings:?}");
        assert!(!warnings.iter().any(|w| w.contains("BW_LISTEN ")), "a known name is not warned about");
        Ok(())
    });
}

#[test]
fn unknown_file_key_is_refused() {
    Jail::expect_with(|jail| {
        jail.create_file("bw.toml", "listne = \"127.0.0.1:1\"\n")?;
        let err = Config::load(Some(Path::new("bw.toml"))).unwrap_err().to_string();
        assert!(err.contains("listne"), "{err}");
        Ok(())
    });
}

/// Every mistake in the file names the file, the line where known, and what to do.
#[test]
fn file_mistakes_name_the_file_the_line_and_the_fix() {
    Jail::expect_with(|jail| {
        let load = |p: &str| Config::load(Some(Path::new(p))).unwrap_err().to_string();

        jail.create_file("typo.toml", "# settings\nlistn = \"127.0.0.1:1\"\n")?;
        let err = load("typo.toml");
        assert!(err.contains("typo.toml, line 2") && err.contains("unknown key `listn`"), "{err}");
        assert!(err.contains("did you mean `listen`?") && !err.contains("one of"), "{err}");
        jail.create_file("variable.toml", "BW_LISTEN = \"127.0.0.1:1\"\n")?;
        assert!(load("variable.toml").contains("did you mean `listen`?"), "{}", load("variable.toml"));

        jail.create_file("syntax.toml", "listen = 127.0.0.1:1\n")?;
        let err = load("syntax.toml");
        assert!(err.contains("syntax.toml, line 1, column") && err.contains("double quotes"), "{err}");

        jail.create_file("value.toml", "\nlisten = \"not an address\"\n")?;
        let err = load("value.toml");
        assert!(err.contains("value.toml, line 2") && err.contains("`listen`"), "{err}");

        std::fs::create_dir("etc").unwrap();
        let err = load("etc");
        assert!(
            err.contains("etc is a folder") && err.contains("config.toml") && !err.contains("does not exist"),
            "{err}"
        );
        let err = load("missing.toml");
        assert!(err.contains("missing.toml does not exist"), "{err}");
        Ok(())
    });
}

#[test]
fn secrets_never_print() {
    Jail::expect_with(|jail| {
        jail.set_env("CRONJOB_KEY", "1234567890");
        jail.set_env("BW_ADMIN_PASSWORD", "admin-password-secret");
        let c = load_in_jail().unwrap();
        // An all-digit key stays the exact text.
        assert_eq!(c.auth.cronjob_key.as_ref().map(Secret::expose), Some("1234567890"));
        jail.set_env("CRONJOB_KEY", "007");
        jail.set_env("BW_ADMIN_USER", "0042");
        let c = load_in_jail().unwrap();
        assert_eq!(c.auth.cronjob_key.as_ref().map(Secret::expose), Some("007"));
        assert_eq!(c.auth.admin_user, "0042");
        let shown = format!("{c:?}");
        for secret in ["1234567890", "admin-password-secret"] {
            assert!(!shown.contains(secret), "{secret} printed in {shown}");
        }
        Ok(())
    });
}

#[test]
fn text_keys_are_derived_from_the_types() {
    let text = keys::text_keys();
    for key in ["cronjob_key", "admin_password", "admin_user", "data_dir", "home", "unix_user", "fqdn"] {
        assert!(text.iter().any(|k| k == key), "{key} is text: {text:?}");
    }
    for key in ["listen", "ssh_server_port", "disable_delete_repo", "status_interval", "trusted_proxies"] {
        assert!(!text.iter().any(|k| k == key), "{key} is not text: {text:?}");
    }
}

#[test]
fn command_key_mode_needs_a_key_folder_outside_the_data_folder() {
    Jail::expect_with(|jail| {
        jail.set_env("BW_KEY_MODE", "command");
        let err = load_in_jail().unwrap_err().to_string();
        assert!(err.contains("BW_KEY_LOOKUP_DIR"), "{err}");
        jail.set_env("BW_DATA_DIR", "/srv/bw");
        jail.set_env("BW_KEY_LOOKUP_DIR", "/srv/bw/./keys");
        let err = load_in_jail().unwrap_err().to_string();
        assert!(err.contains("inside the data folder"), "{err}");
        jail.set_env("BW_KEY_LOOKUP_DIR", "/srv/bw-keys");
        let c = load_in_jail().unwrap();
        assert_eq!((c.ssh.key_mode, c.ssh.key_lookup_dir), (KeyMode::Command, Some(PathBuf::from("/srv/bw-keys"))));
        Ok(())
    });
}

#[test]
fn a_home_the_forced_command_cannot_carry_is_refused_naming_the_character() {
    for (home, bad) in [("/srv/bor g", "' '"), ("/srv/a;b", "';'"), ("/srv/x\"y", "'\"'"), ("/srv/$HOME", "'$'")] {
        Jail::expect_with(|jail| {
            jail.set_env("BW_HOME", home);
            let err = load_in_jail().unwrap_err().to_string();
            assert!(err.contains("BW_HOME") && err.contains(bad), "{home}: {err}");
            Ok(())
        });
    }
    Jail::expect_with(|jail| {
        jail.set_env("BW_HOME", "/srv/borg-home_1.2");
        assert!(load_in_jail().is_ok());
        Ok(())
    });
}

#[test]
fn sessions_unset_true_and_false() {
    Jail::expect_with(|jail| {
        // Unset, the start decides (on where the borg user can run the recorder).
        assert_eq!(load_in_jail().unwrap().checks.sessions, Sessions::Auto);
        jail.set_env("BW_SESSIONS", "false");
        assert_eq!(load_in_jail().unwrap().checks.sessions, Sessions::Off);
        jail.set_env("BW_SESSIONS", "true");
        assert_eq!(load_in_jail().unwrap().checks.sessions, Sessions::On);
        // Asked for, a program that cannot stand on the line refuses the start; unset, it
        // only turns sessions off at the start (tests/api/sessions.rs).
        jail.set_env("BW_SESSION_PROGRAM", "/opt/my tools/borgwarehouse");
        assert!(load_in_jail().unwrap_err().0.contains("BW_SESSION_PROGRAM"));
        jail.set_env("BW_SESSIONS", "yes");
        assert!(load_in_jail().unwrap_err().0.contains("BW_SESSIONS (from the environment)"));
        Ok(())
    });
}

#[test]
fn health_settings_are_checked() {
    Jail::expect_with(|jail| {
        let c = load_in_jail().unwrap();
        assert_eq!(c.health.quota_percent, [80, 95]);
        jail.set_env("BW_HEALTH_QUOTA_PERCENT", "[95, 80, 80]");
        let c = load_in_jail().unwrap();
        assert_eq!(c.health.quota_percent, [80, 95], "sorted, once each");
        jail.set_env("BW_HEALTH_QUOTA_PERCENT", "[80, 120]");
        assert!(load_in_jail().unwrap_err().0.contains("120 is not a percentage"));
        jail.set_env("BW_HEALTH_QUOTA_PERCENT", "[]");
        assert!(load_in_jail().unwrap().health.quota_percent.is_empty());
        Ok(())
    });
}

/// The parts of every repository URL (pasted into shells and configuration files) are checked
/// at start: a host name or address, a user name, a port.
#[test]
fn url_parts_must_be_a_host_a_user_and_a_port() {
    for (key, value, said) in [
        ("FQDN", "backup.example.com;touch${IFS}/tmp/pwned;#", "FQDN (`fqdn`)"),
        ("FQDN", "back up", "FQDN (`fqdn`)"),
        ("FQDN", "-lead.example.com", "FQDN (`fqdn`)"),
        ("FQDN", "2001:db8::1", "FQDN (`fqdn`)"),
        ("FQDN_LAN", "nas$(id).lan", "FQDN_LAN (`fqdn_lan`)"),
        ("UNIX_USER", "borg;id", "UNIX_USER (`unix_user`)"),
        ("UNIX_USER", "1borg", "UNIX_USER (`unix_user`)"),
        ("SSH_SERVER_PORT", "0", "SSH_SERVER_PORT (`ssh_server_port`)"),
    ] {
        Jail::expect_with(|jail| {
            jail.set_env(key, value);
            let err = load_in_jail().expect_err(value).to_string();
            assert!(err.contains(said), "{key}={value}: {err}");
            Ok(())
        });
    }
    for (key, value) in [
        ("FQDN", "backup.example.com"),
        ("FQDN", "backup.example.com."),
        ("FQDN", "192.0.2.10"),
        ("FQDN", "[2001:db8::10]"),
        ("FQDN", "nas"),
        ("UNIX_USER", "borg-backup"),
        ("UNIX_USER", "_borg"),
    ] {
        Jail::expect_with(|jail| {
            jail.set_env(key, value);
            load_in_jail().unwrap_or_else(|e| panic!("{key}={value}: {e}"));
            Ok(())
        });
    }
}

/// BW_SIGN_IN_TTL: a negative value or one past 30 days is refused naming the variable (and
/// where it came from), not "untagged enum Raw" or a file it was not in.
#[test]
fn sign_in_ttl_is_bounded_and_named() {
    for (value, said) in [
        ("-1", "BW_SIGN_IN_TTL (from the environment): expected a duration such as 90s, 1h or 0, found -1"),
        ("9223372036854775807", "is more than a page's sign-in may last unused; give at most 30days"),
        ("30s", "would sign people out before they can do anything"),
    ] {
        Jail::expect_with(|jail| {
            jail.set_env("BW_SIGN_IN_TTL", value);
            let err = load_in_jail().expect_err(value).to_string();
            assert!(err.contains(said) && !err.contains("untagged") && !err.contains("config file"), "{value}: {err}");
            Ok(())
        });
    }
    Jail::expect_with(|jail| {
        jail.set_env("BW_SIGN_IN_TTL", "90");
        assert_eq!(load_in_jail().unwrap().auth.sign_in_ttl, Duration::from_secs(90));
        Ok(())
    });
}

/// A value that is not one of a setting's words names them once, each quoted once.
#[test]
fn an_unknown_word_lists_the_ones_a_setting_takes() {
    Jail::expect_with(|jail| {
        jail.set_env("BW_KEY_MODE", "cmd");
        let err = load_in_jail().unwrap_err().to_string();
        assert!(
            err.contains(
                "BW_KEY_MODE (from the environment): `cmd` is not a value it takes; give one of `file`, `command`"
            ),
            "{err}"
        );
        assert!(!err.contains("``"), "{err}");
        Ok(())
    });
}

#[test]
fn every_borgwarehouse_name_is_a_key() {
    for key in keys::borgwarehouse_keys() {
        assert!(keys::accepted_keys().iter().any(|k| k == key), "{key} is not a configuration key");
    }
}
