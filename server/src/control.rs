//! The local control channel: token and account commands from `borgwarehouse token ...` while
//! the server runs (sled lets one process open the store). A Unix socket under the data folder,
//! mode 0600, so only the owner of the data folder can use it; one JSON request per line, one
//! JSON answer per line.

use std::path::{Path, PathBuf};

#[cfg(feature = "tokens")]
use bw_core::token_store::{Permissions, TokenError};
use bw_core::AppState;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Command {
    #[cfg(feature = "tokens")]
    TokenCreate {
        name: String,
        permissions: Permissions,
        expiration: Option<i64>,
    },
    #[cfg(feature = "tokens")]
    TokenList {
        /// JSON (epoch seconds) for scripts, instead of the table for people.
        #[serde(default)]
        json: bool,
    },
    #[cfg(feature = "tokens")]
    TokenRevoke {
        name: String,
    },
    SetPassword {
        user: String,
        password: String,
    },
    /// BorgWarehouse's `repo.json`, as parsed JSON.
    #[cfg(feature = "repo")]
    ImportBorgwarehouse(crate::import::ImportRequest),
    /// A snapshot of the server's state ([`bw_core::snapshot`]), as JSON.
    Export,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Answer {
    pub ok: bool,
    /// The text to print: a token, a listing, or an error.
    pub output: String,
}

pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("control.sock")
}

/// Runs one command against the store.
pub fn execute(state: &AppState, cmd: Command) -> Answer {
    let result: Result<String, String> = match cmd {
        #[cfg(feature = "tokens")]
        Command::TokenCreate { name, permissions, expiration } => {
            if state.config.auth.disable_integrations {
                Err("integrations are disabled on this server (DISABLE_INTEGRATIONS=true)".into())
            } else {
                state.tokens.create(&name, permissions, expiration, state.clock.now()).map_err(|e| e.to_string())
            }
        }
        #[cfg(feature = "tokens")]
        Command::TokenList { json } => {
            state.tokens.list().map_err(|e: TokenError| e.to_string()).map(|list| token_listing(list, json))
        }
        #[cfg(feature = "tokens")]
        Command::TokenRevoke { name } => match state.tokens.revoke(&name) {
            Ok(true) => Ok(format!("revoked {name}")),
            Ok(false) => Err(format!("no token named {name}")),
            Err(e) => Err(e.to_string()),
        },
        Command::SetPassword { user, password } => state
            .admin
            .set_password(&user, &password)
            .map(|_| format!("password set for {user}"))
            .map_err(|e| e.to_string()),
        #[cfg(feature = "repo")]
        Command::ImportBorgwarehouse(request) => crate::import::run(state, request),
        Command::Export => state
            .export_snapshot()
            .map_err(|e| e.to_string())
            .and_then(|snapshot| serde_json::to_string(&snapshot).map_err(|e| e.to_string())),
    };
    match result {
        Ok(output) => Answer { ok: true, output },
        Err(output) => Answer { ok: false, output },
    }
}

/// The tokens as a table people read (dates in RFC 3339, UTC), or as JSON with epoch seconds.
#[cfg(feature = "tokens")]
fn token_listing(list: Vec<bw_core::token_store::TokenRecord>, json: bool) -> String {
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

/// Serves the control socket until the task is dropped.
pub async fn serve(state: AppState) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let path = socket_path(&state.config.server.data_dir);
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    loop {
        let (stream, _) = listener.accept().await?;
        let state = state.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            // Local and owner-only; an imported repo.json of thousands of repositories is large.
            let mut lines = BufReader::new(read.take(64 * 1024 * 1024)).lines();
            if let Ok(Some(line)) = lines.next_line().await {
                let answer = match serde_json::from_str::<Command>(&line) {
                    Ok(cmd) => {
                        let state = state.clone();
                        tokio::task::spawn_blocking(move || execute(&state, cmd))
                            .await
                            .unwrap_or(Answer { ok: false, output: "internal error".into() })
                    }
                    Err(e) => Answer { ok: false, output: format!("bad command: {e}") },
                };
                let mut text = serde_json::to_string(&answer).unwrap_or_default();
                text.push('\n');
                let _ = write.write_all(text.as_bytes()).await;
            }
        });
    }
}

/// Sends one command to a running server; `None` when no server listens.
pub fn send(data_dir: &Path, cmd: &Command) -> Option<Result<Answer, String>> {
    use std::io::{BufRead, Write};
    let path = socket_path(data_dir);
    let mut stream = match std::os::unix::net::UnixStream::connect(&path) {
        Ok(s) => s,
        // A server is there, but not for this user: opening the store instead would only fail
        // on its lock, with a misleading message.
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Some(Err(format!(
                "the control socket {} refused this user ({e}); run the command as the server's user",
                path.display()
            )))
        }
        Err(_) => return None,
    };
    let mut run = || -> Result<Answer, String> {
        let mut text = serde_json::to_string(cmd).map_err(|e| e.to_string())?;
        text.push('\n');
        stream.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
        let mut line = String::new();
        std::io::BufReader::new(&stream).read_line(&mut line).map_err(|e| e.to_string())?;
        serde_json::from_str(&line).map_err(|e| format!("bad answer from the server: {e}"))
    };
    Some(run())
}
