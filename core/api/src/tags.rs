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
