//! The local control channel: token and account commands from `borgwarehouse token ...` while
//! the server runs (sled lets one process open the store). A Unix socket under the data folder,
//! mode 0600, so only the owner of the data folder can use it; one JSON request per line, one
//! JSON answer per line.

use std::path::{Path, PathBuf};

use bw_api::commands::ControlRequest;
use bw_api::control_ops::control_op;
use bw_api::AppState;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// A command for the store: the server's own (`set-password`, `export`) or a plugin's control
/// op ([`bw_api::commands`]).
pub type Command = ControlRequest;

/// `set-password`'s fields.
#[derive(Serialize, Deserialize)]
pub struct SetPassword {
    pub user: String,
    pub password: String,
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
    let op = cmd.op.clone();
    let result: Result<String, String> = match cmd.op.as_str() {
        "set-password" => cmd.args::<SetPassword>().and_then(|SetPassword { user, password }| {
            state
                .users
                .set_password(
                    &user,
                    &password,
                    state.clock.now(),
                    Some(&bw_api::audit::command_line(
                        state.clock.now(),
                        "user.password",
                        &user,
                        serde_json::json!({"passwordChanged": true}),
                    )),
                )
                .map(|_| {
                    tracing::info!(target: "audit", user = %user, "password set; the user's sign-ins ended");
                    format!("password set for {user}")
                })
                .map_err(|e| e.to_string())
        }),
        // A snapshot of the server's state ([`bw_store::snapshot`]), as JSON.
        "export" => state
            .export_snapshot()
            .map_err(|e| e.to_string())
            .and_then(|snapshot| serde_json::to_string(&snapshot).map_err(|e| e.to_string())),
        op => match control_op(op) {
            Some(plugin_op) => (plugin_op.run)(state, cmd),
            None => Err(format!("bad command: {op:?} is not a command of this server (a plugin not built in?)")),
        },
    };
    // Every command through the socket leaves an audit line (never its output: a new token is
    // in it); the plugins' commands add what they changed.
    match result {
        Ok(output) => {
            tracing::info!(target: "audit", command = %op, outcome = "done", "command from the control socket");
            Answer { ok: true, output }
        }
        Err(output) => {
            tracing::info!(target: "audit", command = %op, outcome = "refused", why = %output, "command from the control socket");
            Answer { ok: false, output }
        }
    }
}

/// Whether `cmd` may make a store where there is none (a first token, the administrator, an
/// import); listing, revoking and exporting never do.
pub fn creates_state(cmd: &Command) -> bool {
    match cmd.op.as_str() {
        "export" => false,
        "set-password" => true,
        op => control_op(op).is_none_or(|o| o.creates_store),
    }
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
