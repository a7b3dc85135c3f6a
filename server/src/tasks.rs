//! The built-in scheduler: every task plugin runs on its own every interval (0: never), on the
//! server that holds the lease of the periodic work (with several servers on one database, one
//! at a time; on the embedded store, always this one), or on every server for what serves its
//! own clients (live events).

use bw_api::AppState;

pub fn spawn_all(state: &AppState) -> Result<Vec<tokio::task::JoinHandle<()>>, bw_api::registry::DuplicatePlugin> {
    let mut handles = Vec::new();
    for task in bw_api::registry::task_plugins()? {
        let every = (task.interval)(state);
        if every.is_zero() {
            tracing::info!(task = task.name, "scheduled task turned off");
            continue;
        }
        tracing::info!(task = task.name, every = %humantime::format_duration(every), "scheduled task");
        let state = state.clone();
        handles.push(tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await; // the first tick is immediate; the first run is one interval in
            loop {
                ticker.tick().await;
                if !task.on_every_server && !state.leads() {
                    continue;
                }
                if let Err(e) = (task.run)(state.clone()).await {
                    tracing::warn!(task = task.name, error = %e, "scheduled task did not run");
                }
            }
        }));
    }
    Ok(handles)
}
