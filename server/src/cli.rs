//! The command line: the server's own commands (`serve`, the default; `openapi`, `admin`,
//! `export`, `restore`) and those the plugins built in bring ([`bw_api::commands`]).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::control::{self, Command};
use bw_api::commands::{command_plugins, CommandPlugin, CommandRun, ControlRequest};
use bw_api::config::{Config, LogFormat};
use bw_api::AppState;
use bw_store::clock::Clock;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

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

/// The command line: the server's own commands, and each plugin's.
fn command_line() -> Result<clap::Command, String> {
    let plugins = command_plugins().map_err(|e| e.to_string())?;
    Ok(plugins.iter().fold(Cli::command(), |cli, p| cli.subcommand((p.cli)().name(p.name))))
}

/// Parses the command line and runs it; the binary's whole `main`.
pub fn main() -> ExitCode {
    let matches = match command_line() {
        Ok(command_line) => command_line.get_matches(),
        Err(e) => {
            eprintln!("borgwarehouse: {e}");
            return ExitCode::FAILURE;
        }
    };
    let plugin = matches.subcommand().and_then(|(name, sub)| {
        let plugins = command_plugins().unwrap_or(&[]);
        plugins.iter().find(|p| p.name == name).map(|p| (*p, sub))
    });
    // sshd waits on `key-lookup` at every login: no configuration, no logging set-up.
    if let Some((CommandPlugin { run: CommandRun::Alone(run), .. }, sub)) = plugin {
        return run(sub);
    }
    let cli = match plugin {
        // The global --config, whichever command it was given with.
        Some(_) => Cli { config: matches.get_one::<PathBuf>("config").cloned(), command: None },
        None => match Cli::from_arg_matches(&matches) {
            Ok(cli) => cli,
            Err(e) => e.exit(),
        },
    };
    if plugin.is_none() {
        if let Some(Cmd::Openapi) = cli.command {
            println!("{}", crate::http::openapi_spec());
            return ExitCode::SUCCESS;
        }
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
    if let Some((CommandPlugin { run: CommandRun::Control(request), .. }, sub)) = plugin {
        return match request(sub, &config) {
            Ok(request) => control_request(&config, request),
            Err(e) => {
                eprintln!("borgwarehouse: {e}");
                ExitCode::from(2)
            }
        };
    }
    match cli.command {
        None | Some(Cmd::Serve) => serve_saying_which_file(config, config_file),
        Some(Cmd::Openapi) => unreachable!("handled above"),
        Some(Cmd::Admin { command: AdminCmd::SetPassword { user } }) => set_password(&config, user),
        Some(Cmd::Export { file }) => export(&config, &file),
        Some(Cmd::Restore { file }) => crate::snapshot_file::restore(&config, &file),
    }
}

/// `serve`, after saying which configuration file was read, or that none was: a build without
/// the package's default reads no file, and a server that started from `./data` should say why.
fn serve_saying_which_file(config: Config, config_file: Option<PathBuf>) -> ExitCode {
    let file = config_file.or_else(|| std::env::var_os("BW_CONFIG").map(PathBuf::from));
    match file {
        Some(f) => {
            tracing::info!(file = %f.display(), data_dir = %config.server.data_dir.display(), "configuration read")
        }
        None => tracing::info!(
            data_dir = %config.server.data_dir.display(),
            "no configuration file read (defaults and BW_* variables only; --config or BW_CONFIG names one)"
        ),
    }
    serve(config)
}

/// `admin set-password [USER]`: the password is read from the terminal or standard input.
fn set_password(config: &Config, user: Option<String>) -> ExitCode {
    let user = user.unwrap_or_else(|| config.auth.admin_user.clone());
    let request = bw_api::commands::read_new_password("New administrator password (at least 12 characters): ")
        .and_then(|password| ControlRequest::new("set-password", control::SetPassword { user, password }));
    match request {
        Ok(request) => local_command(config, request),
        Err(e) => {
            eprintln!("borgwarehouse: {e}");
            ExitCode::from(2)
        }
    }
}

/// `export FILE`: the snapshot, from a running server or from the store itself.
fn export(config: &Config, file: &std::path::Path) -> ExitCode {
    match ControlRequest::new("export", ()).map(|r| answer_of(config, r)) {
        Ok(Ok(json)) => match crate::snapshot_file::write(file, &json) {
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
        Ok(Err(code)) => code,
        Err(e) => {
            eprintln!("borgwarehouse: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A plugin command's request, run as [`local_command`] runs it; on a terminal, what it says
/// while it works is shown with a spinner.
fn control_request(config: &Config, request: ControlRequest) -> ExitCode {
    let spinner = request.working.clone().filter(|_| std::io::stderr().is_terminal()).map(|message| {
        let s = indicatif::ProgressBar::new_spinner().with_message(message);
        s.enable_steady_tick(std::time::Duration::from_millis(120));
        s
    });
    local_command_then(config, request, || {
        if let Some(s) = spinner {
            s.finish_and_clear();
        }
    })
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
            // folder, it would make a new empty one and answer from it. (A database is where
            // BW_DATABASE_URL says; an empty one answers empty.)
            let db = config.db_path();
            if !control::creates_state(&cmd) && !db.exists() && config.server.database_url.is_none() {
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

fn serve(config: Config) -> ExitCode {
    bw_store::memory::limit_arenas();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .thread_keep_alive(bw_store::memory::BLOCKING_THREAD_KEEP_ALIVE)
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
