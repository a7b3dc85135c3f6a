// The alert channels on the Server view (#/server): which are on, a test alert, and, for an
// admin, their settings changed over the host's environment (GET/PATCH /api/v1/alerts/settings).
// A save sends only the fields that changed, so what the host sets stays the host's.

import { api, may } from "./api.js";
import { $, el, act, notify, wireForm } from "./dom.js";

const TEXTS = ["emailTo", "smtpHost", "smtpFrom", "smtpLogin", "webhookUrl", "appriseUrl"];
// Write-only: the API says whether one is set, never what it is.
const SECRETS = { smtpPassword: "smtpPasswordSet", webhookSecret: "webhookSecretSet" };
const CHECKS = ["smtpRejectSelfSignedTls", "webhookBackupCompleted"];
// The settings as last read.
let loaded = null;
// Whether the admin changed a field since: a live redraw of the view (a backup ended) must not
// put the saved values back under their hands.
let edited = false;

export function wireAlertSettings() {
  $("test-alert").addEventListener("click", act(sendTestAlert));
  wireForm($("alert-settings-form"), saveSettings);
  $("alert-settings-form").addEventListener("input", () => { edited = true; });
  $("alert-settings-reset").addEventListener("click", act(useTheHosts));
}

// The channels and, for an admin, the form (`entered`: the view is newly shown, so what was
// typed and left unsaved before goes).
export async function showChannels(entered = true) {
  const channels = await api("GET", "/api/v1/alerts/channels").then((c) => c.channels).catch(() => []);
  $("channel-rows").replaceChildren(...channels.map((c) => el("li", {},
    el("span", { class: `light ${c.configured ? "ok" : "off"}`, text: c.configured ? "on" : "off" }),
    el("span", { text: ` ${c.name}` }))));
  $("test-alert").disabled = !channels.some((c) => c.configured);
  $("test-alert-result").hidden = true;
  if (entered) edited = false;
  if (!may("users")) return;
  const settings = await api("GET", "/api/v1/alerts/settings");
  if (!edited) fill(settings);
}

function fill(settings) {
  loaded = settings;
  for (const k of TEXTS) $(`as-${k}`).value = settings[k] || "";
  $("as-smtpPort").value = settings.smtpPort == null ? "" : String(settings.smtpPort);
  for (const [k, set] of Object.entries(SECRETS)) {
    $(`as-${k}`).value = "";
    $(`as-${k}`).placeholder = settings[set] ? "set (type a new one to replace it)" : "none";
  }
  for (const k of CHECKS) $(`as-${k}`).checked = !!settings[k];
  $("as-smtpTls").value = settings.smtpTls || "";
  $("as-appriseMode").value = settings.appriseMode;
  $("as-appriseServices").value = (settings.appriseServices || []).join("\n");
  const fromPage = new Set(settings.fromPage);
  for (const source of $("alert-settings-form").querySelectorAll(".setting-source")) {
    const key = source.id.replace(/^as-/, "").replace(/-source$/, "");
    // Only what the page set is marked: the rest is the host's, as the hint above says.
    source.hidden = !fromPage.has(key);
    source.textContent = fromPage.has(key) ? "Set in this page." : "";
  }
}

function services() {
  return $("as-appriseServices").value.split("\n").map((s) => s.trim()).filter(Boolean);
}

async function saveSettings() {
  const body = {};
  for (const k of TEXTS) {
    const value = $(`as-${k}`).value.trim();
    if (value !== (loaded[k] || "")) body[k] = value;
  }
  const port = $("as-smtpPort").value;
  // An emptied port goes back to the host's (there is no "no port").
  if (port !== (loaded.smtpPort == null ? "" : String(loaded.smtpPort))) body.smtpPort = port === "" ? null : Number(port);
  for (const k of Object.keys(SECRETS)) if ($(`as-${k}`).value) body[k] = $(`as-${k}`).value;
  for (const k of CHECKS) if ($(`as-${k}`).checked !== !!loaded[k]) body[k] = $(`as-${k}`).checked;
  if ($("as-smtpTls").value !== (loaded.smtpTls || "")) body.smtpTls = $("as-smtpTls").value;
  if ($("as-appriseMode").value !== loaded.appriseMode) body.appriseMode = $("as-appriseMode").value;
  if (services().join("\n") !== (loaded.appriseServices || []).join("\n")) body.appriseServices = services();
  if (Object.keys(body).length === 0) { notify("Nothing changed."); return; }
  await api("PATCH", "/api/v1/alerts/settings", body);
  edited = false;
  await showChannels();
  notify("Alert settings saved: the next alert uses them.");
}

async function useTheHosts() {
  if (!loaded || loaded.fromPage.length === 0) { notify("Every alert setting is the host's already."); return; }
  await api("PATCH", "/api/v1/alerts/settings", Object.fromEntries(loaded.fromPage.map((k) => [k, null])));
  edited = false;
  await showChannels();
  notify("The host's alert settings apply again.");
}

// A test alert through every configured channel; what each did.
async function sendTestAlert() {
  const sent = await api("POST", "/api/v1/alerts/test");
  const result = $("test-alert-result");
  result.replaceChildren(...sent.channels.map((c) => el("li", {},
    el("span", { class: `light ${c.delivered ? "ok" : "late"}`, text: c.delivered ? "delivered" : "failed" }),
    el("span", { text: ` ${c.name}${c.delivered ? "" : ": the server's log says why"}` }))));
  result.hidden = false;
  notify(sent.channels.length ? "Test alert sent." : "No channel is configured.");
}
