//! `borgwarehouse import-borgwarehouse`: a BorgWarehouse host's `repo.json` and `users.json`
//! (its users, whose bcrypt passwords keep working, and, in a build that takes API tokens, their
//! integration tokens), taken in through the control socket or on the store directly.

use std::path::PathBuf;

use bw_api::commands::{CommandRun, ControlRequest};
use bw_api::config::Config;
use bw_api::AppState;

/// What to take in: parsed JSON, as it travels through the control socket.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct ImportRequest {
    repos: Option<Vec<serde_json::Value>>,
    users: Option<Vec<serde_json::Value>>,
    dry_run: bool,
}

fn cli() -> clap::Command {
    let command = clap::Command::new("import-borgwarehouse")
        .about(
            "Take in a BorgWarehouse host: its config/repo.json under BorgWarehouse's ids (and its users.json: \
             users and tokens). Running it twice changes nothing. Works with the server running or stopped",
        )
        .arg(
            clap::Arg::new("file")
                .value_parser(clap::value_parser!(PathBuf))
                .value_name("FILE")
                .help("BorgWarehouse's config/repo.json"),
        )
        .arg(
            clap::Arg::new("dry_run")
                .long("dry-run")
                .action(clap::ArgAction::SetTrue)
                .help("Say what would change, and change nothing"),
        );
    // Tokens are taken in only by a build that accepts them.
    if !bw_api::INTEGRATIONS_COMPILED {
        return command;
    }
    command.arg(
        clap::Arg::new("users")
            .long("users")
            .value_parser(clap::value_parser!(PathBuf))
            .value_name("USERS")
            .help("BorgWarehouse's config/users.json: its users (their passwords keep working) and integration tokens"),
    )
}

fn request(matches: &clap::ArgMatches, _config: &Config) -> Result<ControlRequest, String> {
    let file = matches.get_one::<PathBuf>("file");
    let users = matches.try_get_one::<PathBuf>("users").ok().flatten();
    if file.is_none() && users.is_none() {
        return Err("give repo.json, --users users.json, or both".into());
    }
    let read = |path: &PathBuf| {
        std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| {
                serde_json::from_str::<Vec<serde_json::Value>>(&t).map_err(|e| format!("not a JSON array: {e}"))
            })
            .map_err(|e| format!("{}: {e}", path.display()))
    };
    let repos = file.map(read).transpose()?;
    let users = users.map(read).transpose()?;
    let count = repos.as_ref().map_or(0, Vec::len);
    let request = ImportRequest { repos, users, dry_run: matches.get_flag("dry_run") };
    // A long import shows that it is working (100,000 repositories take several seconds).
    Ok(ControlRequest::new("import-borgwarehouse", request)?
        .saying(format!("taking in {count} repositories from BorgWarehouse")))
}

bw_api::command_plugin!("import-borgwarehouse", cli, CommandRun::Control(request));
bw_api::control_op!("import-borgwarehouse", creates_store = true, |state, request| run(state, request.args()?));

/// The names, up to [`SHOWN`] of them: a host of 100,000 repositories gets a readable line.
fn names(list: &[String]) -> String {
    const SHOWN: usize = 10;
    match list.len() {
        0 => String::new(),
        n if n <= SHOWN => format!(" ({})", list.join(", ")),
        n => format!(" ({}, and {} more)", list[..SHOWN].join(", "), n - SHOWN),
    }
}

/// Runs the import and says what it did, line by line.
fn run(state: &AppState, request: ImportRequest) -> Result<String, String> {
    let mut out = Vec::new();
    if request.dry_run {
        out.push("dry run: nothing is changed; this is what an import would do".to_string());
    }
    if let Some(repos) = request.repos {
        let import = state.repos.import_borgwarehouse(repos, request.dry_run);
        let report = block_on(import)?.map_err(|e| e.to_string())?;
        out.push(format!(
            "repositories: added {}{}, updated {}{}, unchanged {}",
            report.added.len(),
            names(&report.added),
            report.updated.len(),
            names(&report.updated),
            report.unchanged.len()
        ));
        for (name, from, to) in &report.renumbered {
            out.push(format!("renumbered {name}: taken in at first start as id {from}, BorgWarehouse's id is {to}"));
        }
        out.extend(report.notes.iter().map(|n| format!("note: {n}")));
    }
    if let Some(users) = request.users {
        // The people first: their names, emails and passwords (bcrypt, kept working).
        let now = state.clock.now();
        let audit = bw_api::audit::command_line(now, "user.import", "users.json", serde_json::Value::Null);
        let people =
            state.users.import_borgwarehouse(&users, request.dry_run, now, Some(&audit)).map_err(|e| e.to_string())?;
        out.push(format!(
            "users: added {}{}, skipped {}",
            people.added.len(),
            names(&people.added),
            people.skipped.len()
        ));
        out.extend(people.skipped.iter().map(|(name, why)| format!("skipped user {name}: {why}")));
        if !people.added.is_empty() {
            state.first_run.close();
        }
        if !bw_api::INTEGRATIONS_COMPILED {
            return Err("this build takes no API tokens: users.json's tokens cannot be taken in".into());
        }
        let report = state.tokens.import_borgwarehouse(&users, request.dry_run).map_err(|e| e.to_string())?;
        out.push(format!(
            "tokens: added {}{}, unchanged {}, skipped {}",
            report.added.len(),
            names(&report.added),
            report.unchanged.len(),
            report.skipped.len()
        ));
        out.extend(report.skipped.iter().map(|(name, why)| format!("skipped token {name}: {why}")));
    }
    Ok(out.join("\n"))
}

/// Runs a store future from the control socket's blocking thread, or from the command line.
fn block_on<F: std::future::Future>(future: F) -> Result<F::Output, String> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => Ok(handle.block_on(future)),
        Err(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a runtime: {e}"))
            .map(|rt| rt.block_on(future)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_lists_are_cut() {
        let many: Vec<String> = (0..25).map(|i| format!("n{i}")).collect();
        assert_eq!(super::names(&many[..2]), " (n0, n1)");
        assert_eq!(super::names(&many), " (n0, n1, n2, n3, n4, n5, n6, n7, n8, n9, and 15 more)");
        assert_eq!(super::names(&[]), "");
    }
}
