//! `borgwarehouse session`: the session recorder. The forced command runs `borg serve` under
//! it; when borg ends, it drops a record into the spool folder ([`bw_host::session_spool`]) and
//! exits with borg's own exit code. It reads no configuration and opens no store: a backup
//! never waits on, or fails with, the API server.

use std::path::PathBuf;
use std::process::ExitCode;

use bw_api::commands::CommandRun;
use bw_host::session_spool::{drop_record, transaction, SessionRecord};
use clap::{Args, FromArgMatches};

#[derive(Args)]
struct SessionArgs {
    /// The spool folder the server takes sessions in from (its BW_SESSION_SPOOL).
    #[arg(long)]
    spool: PathBuf,
    /// The repository the line serves.
    #[arg(long)]
    repository: String,
    /// The id of the line's key.
    #[arg(long, default_value = "")]
    key: String,
    /// The program and its arguments: `borg serve --restrict-to-repository …`.
    #[arg(last = true, required = true, num_args = 1..)]
    command: Vec<String>,
}

fn cli() -> clap::Command {
    SessionArgs::augment_args(clap::Command::new("session")).about(
        "The forced command's recorder: runs borg serve (the command after --), then tells the server that the \
         session ended through the spool folder, and exits with borg's exit code. Works with the server stopped",
    )
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// borg's exit code, or 128 + the signal that ended it (as a shell says it).
fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.code().or_else(|| status.signal().map(|s| 128 + s)).unwrap_or(1)
}

fn run(matches: &clap::ArgMatches) -> ExitCode {
    let args = match SessionArgs::from_arg_matches(matches) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("borgwarehouse session: {e}");
            return ExitCode::from(2);
        }
    };
    let started_at = now();
    // A hang-up or a stop while borg runs is borg's to answer; the recorder outlives it to say
    // how borg ended. (A caught signal is reset for the child at exec: borg keeps its own.)
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
    let _signals = runtime.as_ref().ok().map(|rt| {
        let _entered = rt.enter();
        use tokio::signal::unix::{signal, SignalKind};
        [SignalKind::hangup(), SignalKind::terminate(), SignalKind::interrupt()].map(|kind| signal(kind).ok())
    });
    // The forced command runs this from the pool (`cd POOL;`): the repository's folder is here.
    let folder = std::env::current_dir().map(|d| d.join(&args.repository)).ok();
    let before = folder.as_deref().and_then(transaction);
    // While borg serves, a mark says so: a verify keeps out of the way, or stops.
    let mark = bw_host::session_spool::active::mark(&args.spool, &args.repository);
    let code = match std::process::Command::new(&args.command[0]).args(&args.command[1..]).status() {
        Ok(status) => exit_code(status),
        Err(e) => {
            eprintln!("borgwarehouse session: cannot run {}: {e}", args.command[0]);
            127
        }
    };
    if let Some(mark) = mark {
        let _ = std::fs::remove_file(mark);
    }
    let record = SessionRecord {
        repository: args.repository,
        key: args.key,
        started_at,
        ended_at: now(),
        exit_code: code,
        client: std::env::var("SSH_CLIENT").unwrap_or_default(),
        // borg serve exits 0 when the client fails; a committed transaction is what shows that
        // something was written.
        wrote: folder.map(|f| transaction(&f).is_some_and(|after| Some(after) != before)),
    };
    if let Err(e) = drop_record(&args.spool, &record) {
        // Said to the client's borg (standard error), which shows it; the backup stands, and
        // the periodic check will see it.
        eprintln!(
            "borgwarehouse session: the server will learn of this session at its next check ({}: {e})",
            args.spool.display()
        );
    }
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

// Like key-lookup, it runs before any configuration or logging.
bw_api::command_plugin!("session", cli, CommandRun::Alone(run));
