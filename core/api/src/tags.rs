//! OpenAPI tags that more than one plugin uses. Plugins never import each other, so a tag two
//! of them share is defined here, once (two definitions could drift apart in the document).

use poem_openapi::Tags;

/// The scheduled checks (cron-status and cron-storage).
#[derive(Tags)]
pub enum CronTag {
    /// Scheduled checks on the BorgWarehouse 2.x paths, for a crontab or the built-in scheduler.
    #[oai(rename = "Cron (2.x paths)")]
    Cron,
    /// Scheduled checks on the v1 paths of BorgWarehouse 3.x.
    #[oai(rename = "Cron (v1, 3.x paths)")]
    CronV1,
}

/// The history routes (history) and the log of fired alerts (alerts): one tag in the document.
#[derive(Tags)]
pub enum HistoryTag {
    /// How each repository, and the host, grew: points from the checks and sessions, kept 48
    /// hours in full, then one a day for 400 days, then one a week for 5 years.
    #[oai(rename = "History (this server, v1 paths)")]
    History,
}
