//! The command line: `serve` (default), `openapi`, `admin`, `token`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::control::{self, Command};
use bw_core::clock::Clock;
use bw_core::config::{Config, LogFormat};
#[cfg(feature = "tokens")]
use bw_core::token_store::Permissions;
use bw_core::AppState;
use clap::{Parser, Subcommand};

use crate::startup::App;

/// BorgWarehouse-compatible control plane for a BorgBackup server.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// TOML configuration file (also BW_CONFIG; the Debian package's build reads
    /// /etc/borgwarehouse/config.toml when neither is given).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the server (the default).
    Serve,
    /// Print the OpenAPI document of this build.
    Openapi,
    /// The administrator account.
    Admin {
        #[command(subcommand)]
        command: AdminCmd,
    },
    /// API tokens; works with the server running or stopped.
    #[cfg(feature = "tokens")]
    Token {
        #[command(subcommand)]
        command: TokenCmd,
    },
    #[cfg(feature = "repo")]
    /// Take in a BorgWarehouse host: its config/repo.json under BorgWarehouse's ids (and its
    /// users.json tokens). Running it twice changes nothing. Works with the server running or
    /// stopped.
    ImportBorgwarehouse {
        /// BorgWarehouse's config/repo.json.
        file: Option<PathBuf>,
        /// BorgWarehouse's config/users.json: its integration tokens keep working here.
        #[cfg(feature = "tokens")]
        #[arg(long)]
        users: Option<PathBuf>,
        /// Say what would change, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Write a snapshot of this server's state (repositories, tokens' hashes and permissions,
    /// the administrator's hash, the id counter) to FILE, as JSON (mode 0600). Works with the
    /// server running; this, not a copy of the data folder, is the backup of the server.
    Export {
        /// Where to write it; `-` for standard output.
        file: PathBuf,
    },
    /// Bring a snapshot made by `export` back into an empty data folder (the server stopped),
    /// and make authorized_keys (or the key folder) match it.
    Restore {
        /// The snapshot file.
        file: PathBuf,
    },
    /// sshd's AuthorizedKeysCommand in command key mode: prints the one restricted line for the
    /// offered key, or nothing. Reads only the key folder (never the store or the
    /// configuration), so it answers while the server is stopped.
    #[cfg(feature = "repo")]
    KeyLookup(KeyLookupArgs),
}

/// `borgwarehouse key-lookup`'s arguments, in the order sshd's `AuthorizedKeysCommand` line
/// gives them.
#[cfg(feature = "repo")]
#[derive(clap::Args)]
struct KeyLookupArgs {
    /// The key folder the server writes (its BW_KEY_LOOKUP_DIR).
    #[arg(long)]
    dir: PathBuf,
    /// The borg user: a login as anybody else gets no line.
    #[arg(long)]
    user: String,
    /// sshd's %u: the user logging in.
    login_user: String,
    /// sshd's %t: the key type offered.
    key_type: String,
    /// sshd's %k: the key offered, base64.
    key: String,
}

#[derive(Subcommand)]
enum AdminCmd {
    /// Set the administrator's password, read from standard input (or prompted on a terminal).
    SetPassword {
        /// Account name (default: BW_ADMIN_USER, else `admin`).
        #[arg(long)]
        user: Option<String>,
    },
}

#[cfg(feature = "tokens")]
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

/// Parses the command line and runs it; the binary's whole `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Cmd::Openapi) = cli.command {
        println!("{}", crate::openapi_spec());
        return ExitCode::SUCCESS;
    }
    // sshd waits on this at every login: no configuration, no logging set-up.
    #[cfg(feature = "repo")]
    if let Some(Cmd::KeyLookup(args)) = &cli.command {
        return key_lookup(args);
    }
    let config_file = cli.config.clone().or_else(package_config);
    let (config, warnings) = match Config::load(config_file.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("borgwarehouse: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(config.server.log_format);
    for w in warnings {
        tracing::warn!("{w}");
    }
    match cli.command {
        None | Some(Cmd::Serve) => serve(config),
        Some(Cmd::Openapi) => unreachable!("handled above"),
        #[cfg(feature = "repo")]
        Some(Cmd::KeyLookup(_)) => unreachable!("handled above"),
        Some(Cmd::Admin { command: AdminCmd::SetPassword { user } }) => {
            let user = user.unwrap_or_else(|| config.auth.admin_user.clone());
            match read_password() {
                Ok(password) => local_command(&config, Command::SetPassword { user, password }),
                Err(e) => {
                    eprintln!("borgwarehouse: {e}");
                    ExitCode::from(2)
                }
            }
        }
        #[cfg(feature = "repo")]
        Some(Cmd::ImportBorgwarehouse {
            file,
            #[cfg(feature = "tokens")]
            users,
            dry_run,
        }) => {
            #[cfg(not(feature = "tokens"))]
            let users: Option<PathBuf> = None;
            if file.is_none() && users.is_none() {
                eprintln!("borgwarehouse: give repo.json, --users users.json, or both");
                return ExitCode::from(2);
            }
            let read = |path: &PathBuf| {
                std::fs::read_to_string(path)
                    .map_err(|e| e.to_string())
                    .and_then(|t| {
                        serde_json::from_str::<Vec<serde_json::Value>>(&t).map_err(|e| format!("not a JSON array: {e}"))
                    })
                    .map_err(|e| format!("{}: {e}", path.display()))
            };
            let (repos, users) = match (file.as_ref().map(read).transpose(), users.as_ref().map(read).transpose()) {
                (Ok(r), Ok(u)) => (r, u),
                (Err(e), _) | (_, Err(e)) => {
                    eprintln!("borgwarehouse: {e}");
                    return ExitCode::from(2);
                }
            };
            // On a terminal, a long import shows that it is working (100,000 repositories take
            // several seconds).
            let count = repos.as_ref().map_or(0, Vec::len);
            let spinner = std::io::stderr().is_terminal().then(|| {
                let s = indicatif::ProgressBar::new_spinner()
                    .with_message(format!("taking in {count} repositories from BorgWarehouse"));
                s.enable_steady_tick(std::time::Duration::from_millis(120));
                s
            });
            let request = crate::import::ImportRequest { repos, users, dry_run };
            local_command_then(&config, Command::ImportBorgwarehouse(request), || {
                if let Some(s) = spinner {
                    s.finish_and_clear();
                }
            })
        }
        Some(Cmd::Export { file }) => match answer_of(&config, Command::Export) {
            Ok(json) => match crate::snapshot_file::write(&file, &json) {
                Ok(()) => {
                    if file.as_os_str() != "-" {
                        eprintln!("borgwarehouse: snapshot written to {}", file.display());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("borgwarehouse: writing {}: {e}", file.display());
                    ExitCode::FAILURE
                }
            },
            Err(code) => code,
        },
        Some(Cmd::Restore { file }) => crate::snapshot_file::restore(&config, &file),
        #[cfg(feature = "tokens")]
        Some(Cmd::Token { command }) => {
            let cmd = match command {
                TokenCmd::Create { name, permissions, expires_in } => {
                    let permissions = match Permissions::parse_list(&permissions) {
                        Ok(p) => p,
                        Err(e) => {
                            eprintln!("borgwarehouse: {e}");
                            return ExitCode::from(2);
                        }
                    };
                    let expiration = match expires_in.map(|t| humantime::parse_duration(&t)) {
                        None => None,
                        Some(Ok(d)) => Some(Clock::system().now() + d.as_secs() as i64),
                        Some(Err(e)) => {
                            eprintln!("borgwarehouse: --expires-in: {e} (use e.g. 30d or 12h)");
                            return ExitCode::from(2);
                        }
                    };
                    Command::TokenCreate { name, permissions, expiration }
                }
                TokenCmd::List { json } => Command::TokenList { json },
                TokenCmd::Revoke { name } => Command::TokenRevoke { name },
            };
            local_command(&config, cmd)
        }
    }
}

/// The configuration file of the Debian package's build (cargo feature `system-config`), read
/// when neither `--config` nor `BW_CONFIG` names one. Other builds read no file by default, so
/// `cargo run` and the tests never pick up a host's /etc.
fn package_config() -> Option<PathBuf> {
    if !cfg!(feature = "system-config") || std::env::var_os("BW_CONFIG").is_some() {
        return None;
    }
    Some(PathBuf::from(PACKAGE_CONFIG))
}

/// Where the package installs its configuration.
pub const PACKAGE_CONFIG: &str = "/etc/borgwarehouse/config.toml";

/// Prints the line for the offered key. Exit 0 with nothing printed is sshd's "no key here";
/// a folder that cannot be read exits 1 with the reason on standard error (sshd logs it).
#[cfg(feature = "repo")]
fn key_lookup(a: &KeyLookupArgs) -> ExitCode {
    use bw_core::key_lookup::{lookup, Miss};
    match lookup(&a.dir, &a.user, &a.login_user, &a.key_type, &a.key) {
        Ok(Ok(line)) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Ok(Err(Miss::UnknownKey | Miss::OtherUser)) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("borgwarehouse key-lookup: {e}");
            ExitCode::from(1)
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour only for a person at a terminal, and never with NO_COLOR set (no-color.org):
    // journald and log files would show the escape codes raw.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn read_password() -> Result<String, String> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("New administrator password (at least 12 characters): ")
            .map_err(|e| e.to_string())?;
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

/// Runs a command through a running server's control socket, or on the store directly.
fn local_command(config: &Config, cmd: Command) -> ExitCode {
    local_command_then(config, cmd, || {})
}

/// [`local_command`], running `done` once the answer is in and before it is printed.
fn local_command_then(config: &Config, cmd: Command, done: impl FnOnce()) -> ExitCode {
    let answer = answer_of(config, cmd);
    done();
    match answer {
        Ok(output) => {
            println!("{output}");
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// Runs a command as [`local_command`] does and hands back its output instead of printing it,
/// or its error already said on standard error.
fn answer_of(config: &Config, cmd: Command) -> Result<String, ExitCode> {
    let answer = match control::send(&config.server.data_dir, &cmd) {
        Some(Ok(a)) => a,
        Some(Err(e)) => {
            eprintln!("borgwarehouse: the running server did not answer: {e}");
            return Err(ExitCode::FAILURE);
        }
        None => {
            // A command that only reads or removes never creates a store: run from the wrong
            // folder, it would make a new empty one and answer from it.
            let db = config.db_path();
            if !creates_state(&cmd) && !db.exists() {
                eprintln!(
                    "borgwarehouse: no store at {} (BW_DATA_DIR is {}); set BW_DATA_DIR or --config to the server's",
                    db.display(),
                    config.server.data_dir.display()
                );
                return Err(ExitCode::FAILURE);
            }
            match AppState::open(config.clone(), Clock::system()) {
                Ok(state) => {
                    let answer = control::execute(&state, cmd);
                    // Said, so that a command run with the wrong settings shows where it wrote.
                    eprintln!(
                        "borgwarehouse: (server not running) used the store in {} and the borg home {}",
                        config.server.data_dir.display(),
                        config.home().display()
                    );
                    answer
                }
                Err(e) => {
                    eprintln!("borgwarehouse: opening the store: {e}");
                    return Err(ExitCode::FAILURE);
                }
            }
        }
    };
    if answer.ok {
        Ok(answer.output)
    } else {
        eprintln!("borgwarehouse: {}", answer.output);
        Err(ExitCode::FAILURE)
    }
}

/// Whether `cmd` may make a store where there is none (a first token, the administrator, an
/// import); listing and revoking never do.
fn creates_state(cmd: &Command) -> bool {
    match cmd {
        #[cfg(feature = "tokens")]
        Command::TokenList { .. } | Command::TokenRevoke { .. } => false,
        Command::Export => false,
        _ => true,
    }
}

fn serve(config: Config) -> ExitCode {
    bw_core::memory::limit_arenas();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .thread_keep_alive(bw_core::memory::BLOCKING_THREAD_KEEP_ALIVE)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = runtime.block_on(async {
        let app = App::new(config, Clock::system(), None)?;
        app.listen().await?.run(shutdown_signal()).await
    });
    match started {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
