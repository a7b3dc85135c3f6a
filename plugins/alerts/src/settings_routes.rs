//! `GET /api/v1/alerts/settings` and `PATCH /api/v1/alerts/settings` (admin): the alert
//! channels' settings as they apply now, and changing them from the page. Secrets are
//! write-only: the answer says whether one is set, never what it is, and so does the audit log.

use bw_api::auth::{Administrator, Guard};
use bw_api::body::JsonRequest;
use bw_api::refusals::{Answer, INVALID_BODY, UNEXPECTED_DATA};
use bw_api::tags::HistoryTag as Tag;
use bw_api::{ApiError, AppState};
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::{json, Map, Value};

use crate::mail_settings::{MailSettings, MailTls};
use crate::page_settings::{effective, value_of, Kind, PageOverrides, FIELDS};
use crate::settings::{AppriseMode, ChannelSettings};

/// The alert settings as they apply now: the configuration's, with what an admin changed in the
/// page over it.
#[derive(Object)]
#[oai(rename = "AlertSettings", rename_all = "camelCase")]
pub struct AlertSettings {
    /// Where alert emails go (`BW_ALERT_EMAIL`).
    pub email_to: Option<String>,
    pub smtp_host: Option<String>,
    pub smtp_port: Option<u16>,
    pub smtp_from: Option<String>,
    pub smtp_login: Option<String>,
    /// Whether an SMTP password is set (it is never answered).
    pub smtp_password_set: bool,
    /// `starttls`, `tls` or `none`; absent: the port's default.
    pub smtp_tls: Option<String>,
    pub smtp_reject_self_signed_tls: bool,
    pub webhook_url: Option<String>,
    /// Whether the webhook's signing secret is set (it is never answered).
    pub webhook_secret_set: bool,
    pub webhook_backup_completed: bool,
    /// `stateless` (an Apprise API server at `appriseUrl`) or `package` (the `apprise` program).
    pub apprise_mode: String,
    pub apprise_url: Option<String>,
    pub apprise_services: Vec<String>,
    /// The fields an admin set in the page (the others are the environment's or the file's).
    pub from_page: Vec<String>,
}

/// A change of the alert settings. Each key given is set in the page, over the environment:
/// `""` turns a text off (`webhookUrl: ""`: no webhook, whatever the environment says); `null`
/// gives the key back to the environment and the file. Keys left out stay as they are.
#[derive(Object)]
#[oai(rename = "AlertSettingsChange", rename_all = "camelCase", deny_unknown_fields)]
pub struct AlertSettingsChange {
    pub email_to: Option<String>,
    pub smtp_host: Option<String>,
    pub smtp_port: Option<u16>,
    pub smtp_from: Option<String>,
    pub smtp_login: Option<String>,
    /// Write-only.
    pub smtp_password: Option<String>,
    pub smtp_tls: Option<String>,
    pub smtp_reject_self_signed_tls: Option<bool>,
    pub webhook_url: Option<String>,
    /// Write-only: signs the webhook's bodies.
    pub webhook_secret: Option<String>,
    pub webhook_backup_completed: Option<bool>,
    pub apprise_mode: Option<String>,
    pub apprise_url: Option<String>,
    pub apprise_services: Option<Vec<String>>,
}

fn shown(state: &AppState) -> Result<AlertSettings, ApiError> {
    let page = PageOverrides::read(state)?;
    let config = effective(state);
    let (c, m) = (config.group::<ChannelSettings>(), config.group::<MailSettings>());
    Ok(AlertSettings {
        email_to: c.email_to,
        smtp_host: m.host,
        smtp_port: m.port,
        smtp_from: m.from,
        smtp_login: m.login,
        smtp_password_set: m.password.is_some_and(|p| !p.expose().is_empty()),
        smtp_tls: m.tls.map(|t| match t {
            MailTls::Starttls => "starttls".into(),
            MailTls::Tls => "tls".into(),
            MailTls::None => "none".into(),
        }),
        smtp_reject_self_signed_tls: m.reject_selfsigned_tls,
        webhook_url: c.webhook_url,
        webhook_secret_set: c.webhook_secret.is_some_and(|s| !s.expose().is_empty()),
        webhook_backup_completed: c.webhook_backup_completed,
        apprise_mode: match c.apprise_mode {
            AppriseMode::Stateless => "stateless".into(),
            AppriseMode::Package => "package".into(),
        },
        apprise_url: c.apprise_url,
        apprise_services: c.apprise_services,
        from_page: FIELDS.iter().filter(|f| page.sets(f)).map(|f| f.api.to_string()).collect(),
    })
}

pub struct AlertSettingsApi;

#[OpenApi]
impl AlertSettingsApi {
    /// The alert channels' settings as they apply now, and which were set in the page (admin)
    #[oai(path = "/api/v1/alerts/settings", method = "get", tag = "Tag::History", operation_id = "getAlertSettings")]
    async fn get(&self, state: Data<&AppState>, _caller: Guard<Administrator>) -> Answer<Json<AlertSettings>, 0> {
        Ok(Json(shown(&state)?))
    }

    /// Change the alert channels' settings, over the environment (admin)
    ///
    /// Each key given is kept in the store and used by the next alert, without a restart: `""`
    /// turns a setting off, `null` gives it back to the environment and the file. Secrets
    /// (`smtpPassword`, `webhookSecret`) are written, never answered.
    #[oai(
        path = "/api/v1/alerts/settings",
        method = "patch",
        tag = "Tag::History",
        operation_id = "changeAlertSettings"
    )]
    async fn change(
        &self,
        state: Data<&AppState>,
        caller: Guard<Administrator>,
        body: JsonRequest<AlertSettingsChange>,
    ) -> Answer<Json<AlertSettings>, { INVALID_BODY | UNEXPECTED_DATA }> {
        // Unknown keys and the types first; then each value by its field's rule.
        body.fields()?.parse()?;
        let sent = match body.sent_fields() {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let mut page = PageOverrides::read(&state)?;
        let mut changes = Map::new();
        for f in FIELDS {
            let Some(given) = sent.get(f.api) else { continue };
            let said = if given.is_null() {
                page.of_mut(f.group).remove(f.key);
                json!("(environment)")
            } else {
                let value = value_of(f, given).map_err(ApiError::UnexpectedData)?;
                let said = match (f.kind, value.is_null()) {
                    (Kind::Secret, true) => json!("(none)"),
                    (Kind::Secret, false) => json!("(set)"),
                    _ => value.clone(),
                };
                page.of_mut(f.group).insert(f.key.into(), value);
                said
            };
            changes.insert(f.api.into(), said);
        }
        if changes.is_empty() {
            return Err(ApiError::UnexpectedData("give at least one setting to change".into()).into());
        }
        // The groups' own rules (a webhook secret without a webhook is fine; a value a group
        // refuses is not), before anything is written.
        page.over(&state.config).map_err(ApiError::UnexpectedData)?;
        let audit = caller.audit(state.clock.now(), "alerts.settings", "", Value::Object(changes));
        state.page_settings.set(&[("channels", &page.channels), ("mail", &page.mail)], Some(&audit))?;
        tracing::info!(target: "audit", actor = %caller.principal.actor(), "alert settings changed in the page");
        Ok(Json(shown(&state)?))
    }
}

/// The change's body refuses unknown keys, and a setting that is none is answered `null`: the
/// document says both.
pub fn finish_document(doc: &mut Value) {
    if let Some(schema) = doc.pointer_mut("/components/schemas/AlertSettings") {
        let required: Vec<String> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(|k| k.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        if let Some(props) = schema["properties"].as_object_mut() {
            for (_, prop) in props.iter_mut().filter(|(k, _)| !required.contains(k)) {
                prop["nullable"] = json!(true);
            }
        }
    }
    if let Some(schema) = doc.pointer_mut("/components/schemas/AlertSettingsChange") {
        schema["additionalProperties"] = json!(false);
        schema["minProperties"] = json!(1);
        // `null` gives a key back to the environment; each value as its field's rule takes it.
        if let Some(props) = schema["properties"].as_object_mut() {
            for (key, prop) in props.iter_mut() {
                prop["nullable"] = json!(true);
                if let Some(f) = FIELDS.iter().find(|f| f.api == key) {
                    for (k, v) in document_rule(f) {
                        prop[k] = v;
                    }
                }
            }
        }
    }
}

/// What [`value_of`] accepts for a field, in the document's words (control characters are
/// refused everywhere; `""` turns a text off).
fn document_rule(f: &crate::page_settings::Field) -> Vec<(&'static str, Value)> {
    const NO_CONTROL: &str = "\\x00-\\x1f\\x7f-\\x9f";
    let text = |max: u32, extra: &str| {
        vec![("maxLength", json!(max)), ("pattern", json!(format!("^[^{NO_CONTROL}{extra}]*$")))]
    };
    match f.kind {
        Kind::Email => vec![
            ("maxLength", json!(254)),
            ("pattern", json!(format!("^([^@\\s{NO_CONTROL}]+@[^@\\s{NO_CONTROL}]*\\.[^@\\s{NO_CONTROL}]*)?$"))),
        ],
        Kind::Url => vec![("maxLength", json!(2048)), ("pattern", json!(format!("^(https?://[^\\s{NO_CONTROL}]+)?$")))],
        Kind::Text if f.key == "mail_smtp_host" => text(255, "\\s"),
        Kind::Text => text(255, ""),
        Kind::Secret => text(1024, ""),
        Kind::Port => vec![("minimum", json!(1)), ("maximum", json!(65535))],
        // `null` in the list too: with `nullable`, an enum still decides (OpenAPI 3.0.3).
        Kind::MailTls => vec![("enum", json!(["", "starttls", "tls", "none", null]))],
        Kind::AppriseMode => vec![("enum", json!(["stateless", "package", null]))],
        Kind::Services => vec![
            ("maxItems", json!(50)),
            (
                "items",
                json!({"type": "string", "minLength": 1, "maxLength": 2048, "pattern": format!("^[^{NO_CONTROL}]*$")}),
            ),
        ],
        Kind::Bool => Vec::new(),
    }
}
