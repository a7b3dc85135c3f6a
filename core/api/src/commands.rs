//! Commands of the `borgwarehouse` program that plugins bring, registered as their routes are,
//! so that a plugin is one folder. Two kinds, each with its macro:
//! - [`command_plugin!`](crate::command_plugin): a subcommand (`token`, `key-lookup`,
//!   `import-borgwarehouse`): its clap definition, and how it runs;
//! - [`control_op!`](crate::control_op): work on the store that a subcommand asks for
//!   ([`crate::control_ops`]).
//!
//! The server's own commands (`serve`, `admin`, `export`, `restore`) stay in `server/`.

use std::process::ExitCode;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::plugin_list::{sorted, DuplicatePlugin, Registered};

/// A subcommand a plugin brings. Build one with [`command_plugin!`](crate::command_plugin).
pub struct CommandPlugin {
    /// The subcommand's name, as typed.
    pub name: &'static str,
    /// Its arguments and help; the command is named `name`.
    pub cli: fn() -> clap::Command,
    pub run: CommandRun,
}

/// How a plugin's subcommand runs.
pub enum CommandRun {
    /// On its own, before the configuration is read or logging set up: sshd waits on
    /// `key-lookup` at every login.
    Alone(fn(&clap::ArgMatches) -> ExitCode),
    /// As the request for a control op, made from its arguments and the configuration; the
    /// program has it done and prints the answer.
    Control(fn(&clap::ArgMatches, &Config) -> Result<ControlRequest, String>),
}

/// A request for a control op: one line of JSON on the socket, `{"op": NAME, ...its fields}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ControlRequest {
    pub op: String,
    #[serde(flatten)]
    pub args: serde_json::Map<String, serde_json::Value>,
    /// Said on a terminal while the op runs (a large import takes seconds); not sent.
    #[serde(skip)]
    pub working: Option<String>,
}

impl ControlRequest {
    /// The request for `op` with the fields of `args` (a struct, or `()` for none).
    pub fn new(op: &str, args: impl Serialize) -> Result<ControlRequest, String> {
        let args = match serde_json::to_value(args).map_err(|e| e.to_string())? {
            serde_json::Value::Object(map) => map,
            serde_json::Value::Null => serde_json::Map::new(),
            other => return Err(format!("the arguments of {op} are not an object: {other}")),
        };
        Ok(ControlRequest { op: op.into(), args, working: None })
    }

    /// The same request, with what to say on a terminal while it runs.
    pub fn saying(mut self, working: String) -> ControlRequest {
        self.working = Some(working);
        self
    }

    /// The fields as the op's own type.
    pub fn args<T: serde::de::DeserializeOwned>(self) -> Result<T, String> {
        serde_json::from_value(serde_json::Value::Object(self.args)).map_err(|e| format!("bad command: {e}"))
    }
}

inventory::collect!(CommandPlugin);

/// A new password for a command: asked twice on a terminal (never echoed), else read as one
/// line of standard input (scripts pipe it; a password never goes on the command line, where
/// `ps` shows it to everyone).
pub fn read_new_password(prompt: &str) -> Result<String, String> {
    use std::io::IsTerminal;
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(prompt).map_err(|e| e.to_string())?;
        let again = rpassword::prompt_password("Again: ").map_err(|e| e.to_string())?;
        if first != again {
            return Err("the two passwords differ".into());
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map_err(|e| e.to_string())?;
        line.trim_end_matches(['\n', '\r']).to_string()
    };
    if password.is_empty() {
        return Err("no password given".into());
    }
    Ok(password)
}

/// Registers a subcommand: `command_plugin!("token", cli, CommandRun::Control(request));`.
#[macro_export]
macro_rules! command_plugin {
    ($name:expr, $cli:expr, $run:expr $(,)?) => {
        $crate::__private::inventory::submit! {
            $crate::commands::CommandPlugin { name: $name, cli: $cli, run: $run }
        }
    };
}

static COMMANDS: Registered<CommandPlugin> = OnceLock::new();

/// Every plugin subcommand built in, by name; an error names a duplicate.
pub fn command_plugins() -> Result<&'static [&'static CommandPlugin], DuplicatePlugin> {
    COMMANDS
        .get_or_init(|| sorted(inventory::iter::<CommandPlugin>.into_iter(), |c| c.name, "command"))
        .as_deref()
        .map_err(Clone::clone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_travels_as_one_flat_object() {
        #[derive(Serialize)]
        struct Revoke<'a> {
            name: &'a str,
        }
        let request = ControlRequest::new("token-revoke", Revoke { name: "ci" }).unwrap().saying("x".into());
        let line = serde_json::to_string(&request).unwrap();
        // The form earlier versions sent: a new command reaches a server not yet restarted.
        assert_eq!(line, r#"{"op":"token-revoke","name":"ci"}"#);
        let back: ControlRequest = serde_json::from_str(&line).unwrap();
        assert_eq!(back.op, "token-revoke");
        assert!(back.working.is_none());
        assert_eq!(ControlRequest::new("export", ()).unwrap().args.len(), 0);
        assert!(ControlRequest::new("x", 3).is_err());
    }
}
