//! Sends the health alerts the storage check and sessions decided (`bw_api::health`): every
//! `HEALTH_INTERVAL`, the waiting events, one alert per kind, through the late alert's channels.

use bw_api::alert::{AlertKind, Delivery, HealthKind, LateRepo};
use bw_api::{ApiResult, AppState};

/// How often waiting health alerts are sent: they wait at most this long after their check.
const HEALTH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

/// Sends every waiting health alert; what each channel did, per kind sent.
pub async fn send_waiting(state: &AppState) -> ApiResult<Vec<(AlertKind, Delivery)>> {
    let events = state.take_health_events();
    let mut sent = Vec::new();
    for health in HealthKind::ALL {
        let kind = AlertKind::Health(health);
        let repos: Vec<LateRepo> = events.iter().filter(|e| e.kind == health).map(LateRepo::from).collect();
        if repos.is_empty() {
            continue;
        }
        tracing::info!(kind = ?kind, repositories = repos.len(), "health alert");
        let delivery = state.send_alert(kind, &repos, state.clock.now()).await;
        sent.push((kind, delivery));
    }
    Ok(sent)
}

fn interval(state: &AppState) -> std::time::Duration {
    // Always: a failed verify is sent too, whichever ran it (its schedule or its route), and
    // a run with nothing waiting costs one lock.
    let _ = state;
    HEALTH_INTERVAL
}

fn scheduled(state: AppState) -> bw_api::registry::TaskFuture {
    Box::pin(async move { send_waiting(&state).await.map(|_| ()) })
}

bw_api::task_plugin!("health-alerts", interval, scheduled);
