//! `borgwarehouse key-lookup`: sshd's `AuthorizedKeysCommand` in command key mode.

use std::path::PathBuf;
use std::process::ExitCode;

use bw_api::commands::CommandRun;
use bw_host::key_lookup::{lookup, Miss};
use clap::{Args, FromArgMatches};

/// `borgwarehouse key-lookup`'s arguments, in the order sshd's `AuthorizedKeysCommand` line
/// gives them.
#[derive(Args)]
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

fn cli() -> clap::Command {
    // The about after the arguments: augmenting sets the struct's own doc as the about.
    KeyLookupArgs::augment_args(clap::Command::new("key-lookup")).about(
        "sshd's AuthorizedKeysCommand in command key mode: prints the one restricted line for the offered key, \
         or nothing. Reads only the key folder (never the store or the configuration), so it answers while the \
         server is stopped",
    )
}

/// Prints the line for the offered key. Exit 0 with nothing printed is sshd's "no key here";
/// a folder that cannot be read exits 1 with the reason on standard error (sshd logs it).
fn run(matches: &clap::ArgMatches) -> ExitCode {
    let a = match KeyLookupArgs::from_arg_matches(matches) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("borgwarehouse key-lookup: {e}");
            return ExitCode::from(2);
        }
    };
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

// sshd waits on it at every login: it runs before any configuration or logging.
bw_api::command_plugin!("key-lookup", cli, CommandRun::Alone(run));
