// The administrator's views: API tokens (#/tokens) and the server's facts (#/server; its alert
// channels are alert_settings.js's).

import { api, ApiFailure } from "./api.js";
import { $, el, act, ago, bytes, confirmAction, copy, date, notify, wireForm } from "./dom.js";
import { showChannels } from "./alert_settings.js";
import { serverInfo, setServerInfo } from "./repos.js";

// ---- Tokens --------------------------------------------------------------------------------

const PERMISSIONS = ["create", "read", "update", "delete"];

function chosenPermissions() {
  return Object.fromEntries(PERMISSIONS.map((p) => [p, $(`token-${p}`).checked]));
}

// A token that may do nothing is refused by the API too; say so before.
function somePermission() {
  const some = Object.values(chosenPermissions()).some(Boolean);
  $("token-permissions-error").hidden = some;
  $("token-permissions-error").textContent = some ? "" : "Choose at least one permission: a token without any can do nothing.";
  return some;
}

export function wireTokens() {
  wireForm($("token-form"), createToken, somePermission);
  $("token-copy").addEventListener("click", () => copy($("token-copy"), $("token-value").textContent));
}

export async function loadTokens() {
  const tokens = await api("GET", "/api/v1/integration/token-manager");
  $("token-rows").replaceChildren(...tokens.map((t) => {
    const perms = PERMISSIONS.filter((p) => t.permissions && t.permissions[p]).join(", ");
    const revoke = el("button", { type: "button", class: "danger small", "aria-label": `Revoke ${t.name}`, text: "Revoke" });
    revoke.addEventListener("click", act(async () => {
      if (!(await confirmAction(`Revoke the token ${t.name}? Whatever uses it stops working.`, "Revoke"))) return;
      await api("DELETE", "/api/v1/integration/token-manager", { name: t.name });
      await loadTokens();
      notify(`Revoked ${t.name}.`);
    }));
    return el("tr", { "data-token": t.name },
      el("td", { "data-label": "Name", text: t.name }),
      el("td", { "data-label": "Permissions", text: perms || "none" }),
      el("td", { "data-label": "Created", text: date(t.creation) }),
      el("td", { "data-label": "Expires", text: t.expiration ? date(t.expiration) : "never" }),
      el("td", { "data-label": "Last used", text: t.lastUsed ? ago(t.lastUsed) : "never" }),
      el("td", { class: "actions" }, revoke));
  }));
}

async function createToken() {
  const name = $("token-name").value.trim();
  const body = { name, permissions: chosenPermissions() };
  const days = Number($("token-days").value);
  if (days > 0) body.expiration = Math.floor(Date.now() / 1000) + days * 86400;
  const created = await api("POST", "/api/v1/integration/token-manager", body);
  $("token-result-name").textContent = name;
  $("token-value").textContent = created.token;
  $("token-result").hidden = false;
  $("token-form").reset();
  await loadTokens();
}

// The secret shown once goes as soon as the person leaves the view or signs out.
export function forgetTokenSecret() {
  $("token-value").textContent = "";
  $("token-result-name").textContent = "";
  $("token-result").hidden = true;
}

// ---- Server --------------------------------------------------------------------------------

export async function loadServerInfo() {
  setServerInfo(await api("GET", "/api/v1/server-info"));
  return serverInfo();
}

// `entered`: the view is newly shown (not drawn again for a live change).
export async function showServer(entered = true) {
  const info = await loadServerInfo();
  const facts = [
    ["SSH user", info.unixUser], ["Host name", info.fqdn], ["SSH port", info.sshPort],
    ["LAN host name", info.fqdnLan], ["LAN SSH port", info.sshPortLan],
    ["Pool disk", info.poolDisk ? `${bytes(info.poolDisk.usedBytes)} used, ${bytes(info.poolDisk.freeBytes)} free of ${bytes(info.poolDisk.totalBytes)}` : null],
    ["Deleting repositories", info.deleteDisabled ? "disabled" : "allowed"],
    ["API tokens", info.integrationsDisabled ? "disabled" : "allowed"],
    ["Compaction", info.compactDisabled ? "disabled" : "allowed"],
  ];
  const dl = $("server-info");
  dl.replaceChildren();
  for (const [k, v] of facts) {
    if (v === undefined || v === null) continue;
    dl.append(el("dt", { text: k }), el("dd", { text: String(v) }));
  }
  for (const k of info.hostKeyFingerprints || []) {
    dl.append(el("dt", { text: `Host key ${k.type}` }), el("dd", {}, el("code", { text: k.sha256 })));
  }
  let statuses = [];
  try {
    statuses = (await api("GET", "/api/v1/storage-targets/status")).statuses || [];
  } catch (e) {
    // Not built in (404), or not for a caller bound to a tenant (403): no section.
    if (!(e instanceof ApiFailure && (e.status === 404 || e.status === 403))) throw e;
  }
  await showChannels(entered);
  $("targets-none").hidden = statuses.length > 0;
  $("targets-table").hidden = statuses.length === 0;
  $("target-rows").replaceChildren(...statuses.map((t) => el("tr", {},
    el("td", { "data-label": "Target" }, el("div", { class: "alias", text: t.name }), el("div", { class: "name", text: t.path })),
    el("td", { "data-label": "State" }, el("span", { class: `light ${t.available ? "ok" : "late"}`, text: t.available ? "available" : "not available" })),
    el("td", { "data-label": "Used", text: t.available ? `${bytes(t.usedBytes)} of ${bytes(t.totalBytes)}` : "-" }),
    el("td", { "data-label": "Free", text: t.available ? bytes(t.freeBytes) : "-" }))));
}
