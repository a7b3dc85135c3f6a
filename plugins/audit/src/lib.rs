//! The audit log, for admins: `GET /api/v1/audit` (newest first, filtered), the export
//! `borgwarehouse audit export [--from] [--to]` (JSON lines, oldest first), and the daily
//! retention (`BW_AUDIT_DAYS`, default 400). The entries are written by the stores with the
//! changes they record (`bw_store::audit_log`).

mod settings;

use std::time::Duration;

use bw_api::auth::{Administrator, Guard};
use bw_api::commands::{CommandRun, ControlRequest};
use bw_api::config::Config;
use bw_api::query::whole_number;
use bw_api::refusals::{Answer, INVALID_BODY};
use bw_api::{ApiError, ApiResult, AppState};
use bw_store::audit_log::{AuditEntry, AuditQuery};
use clap::{FromArgMatches, Subcommand};
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};
use serde::{Deserialize, Serialize};
pub use settings::AuditSettings;

#[derive(Tags)]
enum Tag {
    /// Who changed what.
    #[oai(rename = "People, tenants and scopes (this server, v1 paths)")]
    People,
}

/// An audit entry.
#[derive(Object, Debug)]
#[oai(rename = "AuditEntry", rename_all = "camelCase")]
pub struct AuditEntryView {
    /// Unix seconds.
    pub at: i64,
    /// A user's name, `token:NAME`, `cron`, `command line`, or empty (nobody yet: a failed
    /// sign-in).
    pub actor: String,
    /// `user`, `token`, `cron`, `command-line`, `anonymous` or `server`.
    pub actor_kind: String,
    /// The client's address; empty from the command line.
    pub client: String,
    /// What was done, e.g. `repository.create`, `user.remove`, `sign-in.failed`.
    pub action: String,
    /// What it was done to: a repository's name, a user's (for a failed sign-in, the name tried).
    pub target: String,
    /// The fields changed and their new values; never a secret.
    pub changes: serde_json::Value,
}

impl From<AuditEntry> for AuditEntryView {
    fn from(e: AuditEntry) -> Self {
        let kind = serde_json::to_value(e.actor_kind).ok().and_then(|v| v.as_str().map(str::to_string));
        AuditEntryView {
            at: e.at,
            actor: e.actor,
            actor_kind: kind.unwrap_or_default(),
            client: e.client,
            action: e.action,
            target: e.target,
            changes: serde_json::Value::Object(e.changes),
        }
    }
}

/// The most entries one answer holds.
const MAX_LIMIT: usize = 1000;

fn time(value: Option<&str>, name: &str) -> ApiResult<Option<i64>> {
    let Some(text) = value else { return Ok(None) };
    text.parse::<i64>().map(Some).map_err(|_| ApiError::BadRequest(format!("{name} must be unix seconds")))
}

pub struct AuditApi;

#[OpenApi]
impl AuditApi {
    /// The audit log, newest first (admin)
    #[oai(path = "/api/v1/audit", method = "get", tag = "Tag::People", operation_id = "listAudit")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&AppState>,
        _caller: Guard<Administrator>,
        /// Unix seconds, included.
        from: Query<Option<String>>,
        /// Unix seconds, included.
        to: Query<Option<String>>,
        /// Only this actor's entries (a user's name, `token:NAME`).
        actor: Query<Option<String>>,
        /// Only actions starting so (`repository` or `repository.delete`).
        action: Query<Option<String>>,
        /// At most this many (1 to 1000, default 100).
        limit: Query<Option<String>>,
    ) -> Answer<Json<Vec<AuditEntryView>>, INVALID_BODY> {
        let named = |value: &Option<String>, name: &str| match value.as_deref() {
            Some("") => Err(ApiError::BadRequest(format!("{name} must not be empty (leave it out for any)"))),
            other => Ok(other.map(str::to_string)),
        };
        let query = AuditQuery {
            from: time(from.as_deref(), "from")?,
            to: time(to.as_deref(), "to")?,
            actor: named(&actor.0, "actor")?,
            action: named(&action.0, "action")?,
            limit: whole_number(limit.as_deref(), "limit", 1, MAX_LIMIT)?.unwrap_or(100),
        };
        Ok(Json(state.audit.query(&query)?.into_iter().map(Into::into).collect()))
    }
}

/// Once a day: forget what is older than `BW_AUDIT_DAYS`.
fn daily(_state: &AppState) -> Duration {
    Duration::from_secs(86_400)
}

fn forget_old(state: AppState) -> bw_api::registry::TaskFuture {
    Box::pin(async move {
        let days = state.config.group::<AuditSettings>().days;
        let cutoff = state.clock.now() - i64::from(days) * 86_400;
        let forgotten = state.audit.forget_before(cutoff)?;
        if forgotten > 0 {
            tracing::info!(forgotten, days, "audit entries past their retention forgotten");
        }
        Ok(())
    })
}

/// `borgwarehouse audit export`.
#[derive(Subcommand)]
enum AuditCmd {
    /// Write the audit log as JSON lines (oldest first) to standard output.
    Export {
        /// Unix seconds, included.
        #[arg(long)]
        from: Option<i64>,
        /// Unix seconds, included.
        #[arg(long)]
        to: Option<i64>,
    },
}

fn cli() -> clap::Command {
    AuditCmd::augment_subcommands(
        clap::Command::new("audit")
            .about("The audit log; works with the server running or stopped")
            .subcommand_required(true),
    )
}

#[derive(Serialize, Deserialize)]
struct Export {
    from: Option<i64>,
    to: Option<i64>,
}

fn request(matches: &clap::ArgMatches, _config: &Config) -> Result<ControlRequest, String> {
    match AuditCmd::from_arg_matches(matches).map_err(|e| e.to_string())? {
        AuditCmd::Export { from, to } => ControlRequest::new("audit-export", Export { from, to }),
    }
}

fn export(state: &AppState, request: ControlRequest) -> Result<String, String> {
    let Export { from, to } = request.args()?;
    let mut out = Vec::new();
    state
        .audit
        .each(from, to, |entry| {
            serde_json::to_writer(&mut out, &entry).map_err(std::io::Error::other)?;
            out.push(b'\n');
            Ok(())
        })
        .map_err(|e| e.to_string())?;
    String::from_utf8(out).map(|s| s.trim_end().to_string()).map_err(|e| e.to_string())
}

/// The query parameters are read as text in the handler (a bad one gets the contract's 400
/// naming it); the document says what they take.
fn finish_document(doc: &mut serde_json::Value) {
    if let Some(params) = doc.pointer_mut("/paths/~1api~1v1~1audit/get/parameters").and_then(|p| p.as_array_mut()) {
        for p in params.iter_mut() {
            match p["name"].as_str() {
                Some("from" | "to") => p["schema"] = serde_json::json!({"type": "integer", "format": "int64"}),
                Some("limit") => {
                    p["schema"] = serde_json::json!({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT})
                }
                Some("actor" | "action") => p["schema"] = serde_json::json!({"type": "string", "minLength": 1}),
                _ => {}
            }
        }
    }
}

bw_api::endpoint_plugin!("audit", AuditApi, AuditApi, document = finish_document);
bw_api::task_plugin!("audit-retention", daily, forget_old);
bw_api::command_plugin!("audit", cli, CommandRun::Control(request));
bw_api::control_op!("audit-export", creates_store = false, export);
