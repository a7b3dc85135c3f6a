//! `borgwarehouse user add|list|set-role|set-password|remove`: users from the command line,
//! with the server running (through its control socket) or stopped (on the store). A password
//! is read from the terminal or standard input, never from the command line.

use bw_api::commands::{read_new_password, CommandRun, ControlRequest};
use bw_api::config::Config;
use bw_api::AppState;
use bw_store::user_store::{NewUser, Role, UserChange};
use clap::{FromArgMatches, Subcommand};
use serde::{Deserialize, Serialize};

/// Users; works with the server running or stopped.
#[derive(Subcommand)]
enum UserCmd {
    /// Add a user; the password is read from standard input (or prompted on a terminal).
    Add {
        name: String,
        /// admin, operator or viewer.
        #[arg(long, default_value = "viewer")]
        role: String,
        #[arg(long)]
        email: Option<String>,
        /// Binds the user to a tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// List users: name, role, email, tenant.
    List {
        /// JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Change a user's role (the last admin stays an admin).
    SetRole { name: String, role: String },
    /// Set a user's password, read from standard input (or prompted); its sign-ins end.
    SetPassword { name: String },
    /// Remove a user (never the last admin); its sign-ins end and its tokens stop working.
    Remove { name: String },
}

fn cli() -> clap::Command {
    UserCmd::augment_subcommands(
        clap::Command::new("user").about("Users; works with the server running or stopped").subcommand_required(true),
    )
}

#[derive(Serialize, Deserialize)]
struct Add {
    name: String,
    role: Role,
    email: Option<String>,
    tenant: Option<String>,
    password: String,
}

#[derive(Serialize, Deserialize)]
struct List {
    #[serde(default)]
    json: bool,
}

#[derive(Serialize, Deserialize)]
struct SetRole {
    name: String,
    role: Role,
}

#[derive(Serialize, Deserialize)]
struct SetPassword {
    name: String,
    password: String,
}

#[derive(Serialize, Deserialize)]
struct Remove {
    name: String,
}

fn role(text: &str) -> Result<Role, String> {
    Role::parse(text).ok_or_else(|| format!("--role {text:?}: use admin, operator or viewer"))
}

fn request(matches: &clap::ArgMatches, _config: &Config) -> Result<ControlRequest, String> {
    const PROMPT: &str = "Password (at least 12 characters): ";
    match UserCmd::from_arg_matches(matches).map_err(|e| e.to_string())? {
        UserCmd::Add { name, role: r, email, tenant } => {
            let role = role(&r)?;
            let password = read_new_password(PROMPT)?;
            ControlRequest::new("user-add", Add { name, role, email, tenant, password })
        }
        UserCmd::List { json } => ControlRequest::new("user-list", List { json }),
        UserCmd::SetRole { name, role: r } => ControlRequest::new("user-set-role", SetRole { name, role: role(&r)? }),
        UserCmd::SetPassword { name } => {
            let password = read_new_password(PROMPT)?;
            ControlRequest::new("user-set-password", SetPassword { name, password })
        }
        UserCmd::Remove { name } => ControlRequest::new("user-remove", Remove { name }),
    }
}

fn add(state: &AppState, request: ControlRequest) -> Result<String, String> {
    let Add { name, role, email, tenant, password } = request.args()?;
    let new = NewUser { name: &name, role, email: email.as_deref(), tenant: tenant.as_deref(), password: &password };
    let changes = serde_json::json!({"role": role.as_str(), "email": email, "tenant": tenant});
    let audit = bw_api::audit::command_line(state.clock.now(), "user.add", &name, changes);
    let user = state.users.add(new, state.clock.now(), Some(&audit)).map_err(|e| e.to_string())?;
    state.first_run.close();
    tracing::info!(target: "audit", actor = "command line", user = %user.name, role = role.as_str(), "user added");
    Ok(format!("added {} ({})", user.name, role.as_str()))
}

fn list(state: &AppState, request: ControlRequest) -> Result<String, String> {
    let List { json } = request.args()?;
    let users = state.users.list().map_err(|e| e.to_string())?;
    if json {
        return serde_json::to_string(&users).map_err(|e| e.to_string());
    }
    let mut out = String::from("NAME\tROLE\tEMAIL\tTENANT\n");
    for u in users {
        let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        out.push_str(&format!("{}\t{}\t{}\t{}\n", u.name, u.role.as_str(), or_dash(u.email), or_dash(u.tenant)));
    }
    Ok(out.trim_end().to_string())
}

fn set_role(state: &AppState, request: ControlRequest) -> Result<String, String> {
    let SetRole { name, role } = request.args()?;
    let change = UserChange { role: Some(role), ..Default::default() };
    let audit =
        bw_api::audit::command_line(state.clock.now(), "user.edit", &name, serde_json::json!({"role": role.as_str()}));
    state.users.change(&name, change, Some(&audit)).map_err(|e| said(e, &name))?;
    tracing::info!(target: "audit", actor = "command line", user = %name, role = role.as_str(), "user's role set");
    Ok(format!("{name} is now {}", role.as_str()))
}

fn set_password(state: &AppState, request: ControlRequest) -> Result<String, String> {
    let SetPassword { name, password } = request.args()?;
    let change = UserChange { password: Some(&password), ..Default::default() };
    let audit = bw_api::audit::command_line(
        state.clock.now(),
        "user.edit",
        &name,
        serde_json::json!({"passwordChanged": true}),
    );
    state.users.change(&name, change, Some(&audit)).map_err(|e| said(e, &name))?;
    tracing::info!(target: "audit", actor = "command line", user = %name, "user's password set; its sign-ins ended");
    Ok(format!("password set for {name}"))
}

fn remove(state: &AppState, request: ControlRequest) -> Result<String, String> {
    let Remove { name } = request.args()?;
    let audit = bw_api::audit::command_line(state.clock.now(), "user.remove", &name, serde_json::Value::Null);
    state.users.remove(&name, Some(&audit)).map_err(|e| said(e, &name))?;
    tracing::info!(target: "audit", actor = "command line", user = %name, "user removed");
    Ok(format!("removed {name}"))
}

fn said(e: bw_store::store_error::StoreError, name: &str) -> String {
    match e {
        bw_store::store_error::StoreError::NotFound => format!("no user named {name}"),
        other => other.to_string(),
    }
}

bw_api::command_plugin!("user", cli, CommandRun::Control(request));
bw_api::control_op!("user-add", creates_store = true, add);
bw_api::control_op!("user-list", creates_store = false, list);
bw_api::control_op!("user-set-role", creates_store = false, set_role);
bw_api::control_op!("user-set-password", creates_store = false, set_password);
bw_api::control_op!("user-remove", creates_store = false, remove);
