//! `borgwarehouse token create|list|revoke`: API tokens from the command line, with the server
//! running (through its control socket) or stopped (on the store).

use bw_api::commands::{CommandRun, ControlRequest};
use bw_api::config::Config;
use bw_api::AppState;
use bw_store::token_store::{Permissions, TokenRecord};
use clap::{FromArgMatches, Subcommand};
use serde::{Deserialize, Serialize};

/// API tokens; works with the server running or stopped.
#[derive(Subcommand)]
enum TokenCmd {
    /// Create a token; the token alone is printed on the last line of standard output.
    Create {
        #[arg(long)]
        name: String,
        /// Comma-separated: create,read,update,delete.
        #[arg(long)]
        permissions: String,
        /// Lifetime such as 30d or 12h; no expiration when absent.
        #[arg(long)]
        expires_in: Option<String>,
    },
    /// List tokens (never their values); dates in RFC 3339 (UTC).
    List {
        /// JSON for scripts: dates as epoch seconds.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by name.
    Revoke { name: String },
}

fn cli() -> clap::Command {
    TokenCmd::augment_subcommands(
        clap::Command::new("token")
            .about("API tokens; works with the server running or stopped")
            .subcommand_required(true),
    )
}

/// The fields of each op, as they travel on the control socket.
#[derive(Serialize, Deserialize)]
struct Create {
    name: String,
    permissions: Permissions,
    /// Unix seconds, as the command's clock said (what a server of an earlier release reads).
    expiration: Option<i64>,
    /// Seconds from the creation, which a server of this release prefers: the creation and the
    /// expiry then come from one clock reading, exactly `--expires-in` apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_in: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct List {
    /// JSON (epoch seconds) for scripts, instead of the table for people.
    #[serde(default)]
    json: bool,
}

#[derive(Serialize, Deserialize)]
struct Revoke {
    name: String,
}

fn request(matches: &clap::ArgMatches, _config: &Config) -> Result<ControlRequest, String> {
    match TokenCmd::from_arg_matches(matches).map_err(|e| e.to_string())? {
        TokenCmd::Create { name, permissions, expires_in } => {
            let permissions = Permissions::parse_list(&permissions)?;
            let expires_in = match expires_in.map(|t| humantime::parse_duration(&t)) {
                None => None,
                Some(Ok(d)) => Some(d.as_secs() as i64),
                Some(Err(e)) => return Err(format!("--expires-in: {e} (use e.g. 30d or 12h)")),
            };
            let expiration = expires_in.map(|d| bw_store::clock::Clock::system().now() + d);
            ControlRequest::new("token-create", Create { name, permissions, expiration, expires_in })
        }
        TokenCmd::List { json } => ControlRequest::new("token-list", List { json }),
        TokenCmd::Revoke { name } => ControlRequest::new("token-revoke", Revoke { name }),
    }
}

fn create(state: &AppState, request: ControlRequest) -> Result<String, String> {
    let Create { name, permissions, expiration, expires_in } = request.args()?;
    if state.config.auth.disable_integrations {
        return Err("integrations are disabled on this server (DISABLE_INTEGRATIONS=true)".into());
    }
    let now = state.clock.now();
    let expiration = expires_in.map(|d| now + d).or(expiration);
    let changes = serde_json::json!({"permissions": permissions, "expiration": expiration});
    let audit = bw_api::audit::command_line(now, "token.create", &name, changes);
    let made = state
        .tokens
        .create_for(
            bw_store::token_store::NewToken {
                name: &name,
                permissions,
                expiration,
                owner: None,
                scope: bw_store::scope::Scope::HOST,
            },
            now,
            Some(&audit),
        )
        .map_err(|e| e.to_string())?;
    tracing::info!(target: "audit", token = %name, "token created from the command line");
    state.events.publish(bw_api::events::Event::new("token", None, now));
    Ok(made)
}

fn list(state: &AppState, request: ControlRequest) -> Result<String, String> {
    let List { json } = request.args()?;
    state.tokens.list().map_err(|e| e.to_string()).map(|list| listing(list, json))
}

fn revoke(state: &AppState, request: ControlRequest) -> Result<String, String> {
    let Revoke { name } = request.args()?;
    let audit = bw_api::audit::command_line(state.clock.now(), "token.revoke", &name, serde_json::Value::Null);
    match state.tokens.revoke(&name, Some(&audit)) {
        Ok(true) => {
            tracing::info!(target: "audit", token = %name, "token revoked from the command line");
            state.events.publish(bw_api::events::Event::new("token", None, state.clock.now()));
            Ok(format!("revoked {name}"))
        }
        Ok(false) => Err(format!("no token named {name}")),
        Err(e) => Err(e.to_string()),
    }
}

/// The tokens as a table people read (dates in RFC 3339, UTC), or as JSON with epoch seconds.
fn listing(list: Vec<TokenRecord>, json: bool) -> String {
    let perms_of = |p: &Permissions| -> Vec<&'static str> {
        [(p.create, "create"), (p.read, "read"), (p.update, "update"), (p.delete, "delete")]
            .into_iter()
            .filter_map(|(on, n)| on.then_some(n))
            .collect()
    };
    if json {
        let tokens: Vec<serde_json::Value> = list
            .iter()
            .map(|t| {
                serde_json::json!({
                    "name": t.name,
                    "permissions": perms_of(&t.permissions),
                    "creation": t.creation,
                    "expiration": t.expiration,
                    "lastUsed": t.last_used,
                })
            })
            .collect();
        return serde_json::Value::Array(tokens).to_string();
    }
    let date = |t: i64| {
        u64::try_from(t)
            .ok()
            .map(|s| humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(s)))
            .map_or_else(|| t.to_string(), |d| d.to_string())
    };
    let show = |t: Option<i64>| t.map(date).unwrap_or_else(|| "-".into());
    let mut out = String::from("NAME\tPERMISSIONS\tCREATED\tEXPIRES\tLAST USED\n");
    for t in list {
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            t.name,
            perms_of(&t.permissions).join(","),
            date(t.creation),
            show(t.expiration),
            show(t.last_used)
        ));
    }
    out.trim_end().to_string()
}

bw_api::command_plugin!("token", cli, CommandRun::Control(request));
bw_api::control_op!("token-create", creates_store = true, create);
bw_api::control_op!("token-list", creates_store = false, list);
bw_api::control_op!("token-revoke", creates_store = false, revoke);
