//! `borgwarehouse import-borgwarehouse`: a BorgWarehouse host's `repo.json` (and, with the
//! tokens plugin, `users.json`), taken in through the control socket or on the store directly.

use bw_core::AppState;

/// What to take in: parsed JSON, as it travels through the control socket.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct ImportRequest {
    pub repos: Option<Vec<serde_json::Value>>,
    pub users: Option<Vec<serde_json::Value>>,
    pub dry_run: bool,
}

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
pub fn run(state: &AppState, request: ImportRequest) -> Result<String, String> {
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
        #[cfg(feature = "tokens")]
        {
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
        #[cfg(not(feature = "tokens"))]
        {
            let _ = users;
            return Err("this build has no tokens plugin: users.json cannot be taken in".into());
        }
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
