// The dashboard: a client of this server's documented REST API, nothing more. It sends the
// credentials the person signed in with in the Authorization header on every call; they live in
// this tab's sessionStorage only. Text that comes from the API (aliases, comments, token names)
// is always set as text, never parsed as HTML.
"use strict";

const ALERTS = [
  [0, "Never (not monitored)"], [3600, "1 hour"], [21600, "6 hours"], [43200, "12 hours"],
  [90000, "1 day (25 h)"], [172800, "2 days"], [259200, "3 days"], [345600, "4 days"],
  [432000, "5 days"], [518400, "6 days"], [604800, "1 week"], [864000, "10 days"],
  [1209600, "2 weeks"], [2592000, "30 days"],
];
const AUTH_KEY = "bw-dashboard-authorization";
const MAX_ROWS = 500;

const $ = (id) => document.getElementById(id);
const state = { auth: null, repos: [], server: null, editing: null, busy: 0 };

// ---- The API ------------------------------------------------------------------------------

class ApiFailure extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (state.auth) headers.Authorization = state.auth;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  busy(+1);
  try {
    let response;
    try {
      response = await fetch(path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit", cache: "no-store",
      });
    } catch (e) {
      throw new ApiFailure(0, "The server cannot be reached.");
    }
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    if (!response.ok) {
      let message = (data && data.message) || `${response.status} ${response.statusText}`;
      if (data && data.detail) message += `: ${data.detail}`;
      throw new ApiFailure(response.status, message);
    }
    return data;
  } finally {
    busy(-1);
  }
}

function busy(delta) {
  state.busy += delta;
  $("progress").hidden = state.busy === 0;
  $("main").setAttribute("aria-busy", state.busy > 0 ? "true" : "false");
}

function showError(e) {
  const box = $("error");
  box.textContent = e instanceof ApiFailure || e instanceof Error ? e.message : String(e);
  box.hidden = false;
  if (e instanceof ApiFailure && e.status === 401 && state.auth) {
    signOut("Your sign-in is no longer accepted; sign in again.");
  }
}

function clearMessages() {
  $("error").hidden = true;
  $("notice").hidden = true;
}

function notify(text) {
  const box = $("notice");
  box.textContent = text;
  box.hidden = false;
}

// Runs an action started by the person: its errors go to the error box.
function act(fn) {
  return async (event) => {
    if (event) event.preventDefault();
    clearMessages();
    try { await fn(event); } catch (e) { showError(e); }
  };
}

// ---- Small helpers ------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function base64(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

function ago(unix) {
  if (!unix) return "never";
  const s = Math.max(0, Math.floor(Date.now() / 1000) - unix);
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

function bytes(n) {
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i += 1; }
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}

function date(unix) {
  return unix ? new Date(unix * 1000).toISOString().slice(0, 10) : "never";
}

function fillAlerts(select) {
  for (const [value, label] of ALERTS) select.append(el("option", { value: String(value), text: label }));
}

async function copy(button, text) {
  const was = button.textContent;
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch (e) {
    button.textContent = "Select the text and copy it";
  }
  setTimeout(() => { button.textContent = was; }, 2000);
}

// ---- Views --------------------------------------------------------------------------------

const VIEWS = ["signin", "repos", "add", "edit", "tokens", "server"];

function show(view) {
  for (const v of VIEWS) $(`view-${v}`).hidden = v !== view;
  for (const b of document.querySelectorAll("nav [data-view]")) {
    if (b.dataset.view === view) b.setAttribute("aria-current", "page");
    else b.removeAttribute("aria-current");
  }
}

async function openView(view) {
  clearMessages();
  show(view);
  try {
    if (view === "repos") await loadRepos();
    if (view === "tokens") await loadTokens();
    if (view === "server") await loadServer();
    if (view === "add") { $("add-result").hidden = true; $("add-alias").focus(); }
  } catch (e) {
    showError(e);
  }
}

// ---- Sign in ------------------------------------------------------------------------------

function signinKind() {
  return $("signin-kind-token").checked ? "token" : "admin";
}

function signinKindChanged() {
  const token = signinKind() === "token";
  $("signin-admin-fields").hidden = token;
  $("signin-token-fields").hidden = !token;
}

async function signIn() {
  const auth = signinKind() === "token"
    ? `Bearer ${$("signin-token").value.trim()}`
    : `Basic ${base64(`${$("signin-user").value}:${$("signin-password").value}`)}`;
  state.auth = auth;
  try {
    state.server = await api("GET", "/api/v1/server-info");
  } catch (e) {
    state.auth = null;
    throw e;
  }
  sessionStorage.setItem(AUTH_KEY, auth);
  $("signin-password").value = "";
  $("signin-token").value = "";
  startSession();
}

function startSession() {
  $("nav").hidden = false;
  $("edit-delete").hidden = !!(state.server && state.server.deleteDisabled);
  openView("repos");
}

function signOut(reason) {
  state.auth = null;
  state.repos = [];
  sessionStorage.removeItem(AUTH_KEY);
  $("nav").hidden = true;
  $("repo-rows").replaceChildren();
  $("token-rows").replaceChildren();
  show("signin");
  if (reason) {
    $("error").textContent = reason;
    $("error").hidden = false;
  }
}

// ---- Repositories -------------------------------------------------------------------------

function condition(r) {
  if (r.archived) return ["off", "archived"];
  if (!r.alert) return ["off", "not monitored"];
  return r.status ? ["ok", "OK"] : ["late", "late"];
}

function usedFraction(r) {
  return r.storageSize ? (r.storageUsed * 1024) / (r.storageSize * 1e9) : 0;
}

async function loadRepos() {
  const answer = await api("GET", "/api/v1/repositories");
  state.repos = answer.repoList || [];
  renderRepos();
}

function renderRepos() {
  const query = $("repo-search").value.trim().toLowerCase();
  const lateOnly = $("repo-late").checked;
  const order = $("repo-sort").value;
  let rows = state.repos.filter((r) => {
    if (lateOnly && condition(r)[0] !== "late") return false;
    if (!query) return true;
    return [r.alias, r.repositoryName, r.comment].some((t) => (t || "").toLowerCase().includes(query));
  });
  const byAlias = (a, b) => a.alias.localeCompare(b.alias);
  const sorts = {
    alias: byAlias,
    status: (a, b) => (condition(a)[0] === "late" ? 0 : 1) - (condition(b)[0] === "late" ? 0 : 1) || byAlias(a, b),
    last: (a, b) => a.lastSave - b.lastSave || byAlias(a, b),
    used: (a, b) => usedFraction(b) - usedFraction(a) || byAlias(a, b),
  };
  rows = rows.slice().sort(sorts[order] || byAlias);
  const late = state.repos.filter((r) => condition(r)[0] === "late").length;
  const count = state.repos.length;
  // A host of 100,000 repositories would make a table no browser scrolls well: the first
  // MAX_ROWS are drawn, and the search narrows the rest down.
  const drawn = rows.slice(0, MAX_ROWS);
  $("repo-summary").textContent = `${count} ${count === 1 ? "repository" : "repositories"}, ${late} late` +
    (rows.length !== count ? `, ${rows.length} match` : "") +
    (drawn.length < rows.length ? `; the first ${drawn.length} are shown, search to find the others` : "");
  $("repo-rows").replaceChildren(...drawn.map(repoRow));
}

function repoRow(r) {
  const [kind, word] = condition(r);
  const fraction = usedFraction(r);
  const percent = Math.round(fraction * 1000) / 10;
  const meter = el("meter", { min: "0", max: "100", low: "80", high: "95", optimum: "0", value: String(Math.min(100, percent)),
    "aria-label": `${r.alias}: ${percent} % of quota used` });
  const badges = el("div");
  if (r.appendOnlyMode) badges.append(el("span", { class: "badge", text: "append-only" }));
  if (r.archived) badges.append(el("span", { class: "badge", text: "archived" }));
  if (r.storageTarget) badges.append(el("span", { class: "badge", text: `on ${r.storageTarget}` }));
  const edit = el("button", { type: "button", "aria-label": `Edit ${r.alias}`, text: "Edit" });
  edit.addEventListener("click", () => openEdit(r.repositoryName));
  const row = el("tr", { "data-name": r.repositoryName },
    el("td", {}, el("span", { class: `light ${kind}`, text: word })),
    el("td", {}, el("div", { class: "alias", text: r.alias }), el("div", { class: "name", text: r.repositoryName }), badges),
    el("td", { class: "last", title: date(r.lastSave), text: r.lastSave ? `last backup ${ago(r.lastSave)}` : "no backup yet" }),
    el("td", {}, meter, el("div", { class: "used", text: `${bytes(r.storageUsed * 1024)} of ${r.storageSize} GB (${percent} %)` })),
    el("td", {}, edit));
  return row;
}

// ---- Add ----------------------------------------------------------------------------------

function borgInit(url) {
  return `borg init --encryption=repokey-blake2 ${url}`;
}

async function addRepo() {
  const body = {
    alias: $("add-alias").value,
    sshPublicKey: $("add-key").value.trim(),
    storageSize: Number($("add-quota").value),
    alert: Number($("add-alert").value),
    appendOnlyMode: $("add-append-only").checked,
  };
  if ($("add-comment").value) body.comment = $("add-comment").value;
  const created = await api("POST", "/api/v1/repositories", body);
  const url = created.sshUrl || `ssh://USER@HOST/./${created.repositoryName}`;
  $("add-result-name").textContent = created.repositoryName;
  $("add-result-url").textContent = url;
  $("add-result-command").textContent = borgInit(url);
  $("add-result").hidden = false;
  if (!created.sshUrl) notify("The server has no FQDN and UNIX_USER set: put this host's SSH user and name in the URL.");
  $("add-form").reset();
  $("add-alert").value = "90000";
}

// ---- Edit and delete ----------------------------------------------------------------------

async function openEdit(name) {
  clearMessages();
  const answer = await api("GET", `/api/v1/repositories/${encodeURIComponent(name)}`).catch((e) => { showError(e); return null; });
  if (!answer) return;
  const r = answer.repo;
  state.editing = r;
  $("edit-name").textContent = r.alias;
  $("edit-alias").value = r.alias;
  $("edit-quota").value = String(r.storageSize);
  $("edit-alert").value = String(r.alert);
  $("edit-append-only").checked = !!r.appendOnlyMode;
  $("edit-comment").value = r.comment || "";
  $("edit-archive").textContent = r.archived ? "Unarchive repository" : "Archive repository";
  show("edit");
  $("edit-alias").focus();
}

async function saveEdit() {
  const r = state.editing;
  const patch = {};
  if ($("edit-alias").value !== r.alias) patch.alias = $("edit-alias").value;
  if (Number($("edit-quota").value) !== r.storageSize) patch.storageSize = Number($("edit-quota").value);
  if (Number($("edit-alert").value) !== r.alert) patch.alert = Number($("edit-alert").value);
  if ($("edit-append-only").checked !== !!r.appendOnlyMode) patch.appendOnlyMode = $("edit-append-only").checked;
  if ($("edit-comment").value !== (r.comment || "")) patch.comment = $("edit-comment").value;
  if (Object.keys(patch).length) {
    await api("PATCH", `/api/v1/repositories/${encodeURIComponent(r.repositoryName)}`, patch);
  }
  await openView("repos");
  notify(`Saved ${patch.alias || r.alias}.`);
}

// An archived repository keeps its data, but its client can no longer connect.
async function toggleArchive() {
  const r = state.editing;
  const answer = await api("POST", `/api/v1/repositories/${encodeURIComponent(r.repositoryName)}/archive`,
    { archived: !r.archived });
  await openView("repos");
  notify(answer.message);
}

function confirmAction(text, ok) {
  return new Promise((resolve) => {
    const dialog = $("confirm");
    $("confirm-text").textContent = text;
    $("confirm-ok").textContent = ok;
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
    $("confirm-cancel").focus();
  });
}

async function deleteRepo() {
  const r = state.editing;
  const sure = await confirmAction(`Delete ${r.alias} (${r.repositoryName})? Its backups are deleted from this host.`, "Delete");
  if (!sure) return;
  await api("DELETE", `/api/v1/repositories/${encodeURIComponent(r.repositoryName)}`);
  await openView("repos");
  notify(`Deleted ${r.alias}.`);
}

// ---- Tokens -------------------------------------------------------------------------------

async function loadTokens() {
  const list = await api("GET", "/api/v1/integration/token-manager");
  $("token-rows").replaceChildren(...list.map((t) => {
    const perms = ["create", "read", "update", "delete"].filter((p) => t.permissions && t.permissions[p]).join(", ");
    const revoke = el("button", { type: "button", class: "danger", "aria-label": `Revoke ${t.name}`, text: "Revoke" });
    revoke.addEventListener("click", act(async () => {
      if (!(await confirmAction(`Revoke the token ${t.name}? Whatever uses it stops working.`, "Revoke"))) return;
      await api("DELETE", "/api/v1/integration/token-manager", { name: t.name });
      await loadTokens();
      notify(`Revoked ${t.name}.`);
    }));
    return el("tr", { "data-token": t.name },
      el("td", { text: t.name }), el("td", { text: perms || "none" }),
      el("td", { text: date(t.creation) }), el("td", { text: t.expiration ? date(t.expiration) : "never" }),
      el("td", {}, revoke));
  }));
}

async function createToken() {
  const name = $("token-name").value.trim();
  const body = {
    name,
    permissions: {
      create: $("token-create").checked, read: $("token-read").checked,
      update: $("token-update").checked, delete: $("token-delete").checked,
    },
  };
  const days = Number($("token-days").value);
  if (days > 0) body.expiration = Math.floor(Date.now() / 1000) + days * 86400;
  const created = await api("POST", "/api/v1/integration/token-manager", body);
  $("token-result-name").textContent = name;
  $("token-value").textContent = created.token;
  $("token-result").hidden = false;
  $("token-form").reset();
  await loadTokens();
}

// ---- Server -------------------------------------------------------------------------------

async function loadServer() {
  const info = await api("GET", "/api/v1/server-info");
  state.server = info;
  const facts = [
    ["SSH user", info.unixUser], ["Host name", info.fqdn], ["SSH port", info.sshPort],
    ["LAN host name", info.fqdnLan], ["LAN SSH port", info.sshPortLan],
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
    if (!(e instanceof ApiFailure && e.status === 404)) throw e;
  }
  $("targets-none").hidden = statuses.length > 0;
  $("targets-table").hidden = statuses.length === 0;
  $("target-rows").replaceChildren(...statuses.map((t) => el("tr", {},
    el("td", {}, el("div", { class: "alias", text: t.name }), el("div", { class: "name", text: t.path })),
    el("td", {}, el("span", { class: `light ${t.available ? "ok" : "late"}`, text: t.available ? "available" : "not available" })),
    el("td", { text: t.available ? `${bytes(t.usedBytes)} of ${bytes(t.totalBytes)}` : "-" }),
    el("td", { text: t.available ? bytes(t.freeBytes) : "-" }))));
}

// ---- Check now ----------------------------------------------------------------------------

async function checkNow() {
  const button = $("check-now");
  button.disabled = true;
  try {
    const answer = await api("POST", "/api/v1/repositories/refresh");
    await openView("repos");
    notify(answer.message || "Repositories refreshed");
  } finally {
    button.disabled = false;
  }
}

// ---- Wiring -------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  fillAlerts($("add-alert"));
  fillAlerts($("edit-alert"));
  $("add-alert").value = "90000";
  $("signin-kind-admin").addEventListener("change", signinKindChanged);
  $("signin-kind-token").addEventListener("change", signinKindChanged);
  $("signin-form").addEventListener("submit", act(signIn));
  $("add-form").addEventListener("submit", act(addRepo));
  $("edit-form").addEventListener("submit", act(saveEdit));
  $("edit-cancel").addEventListener("click", () => openView("repos"));
  $("edit-delete").addEventListener("click", act(deleteRepo));
  $("edit-archive").addEventListener("click", act(toggleArchive));
  $("token-form").addEventListener("submit", act(createToken));
  $("check-now").addEventListener("click", act(checkNow));
  $("sign-out").addEventListener("click", () => signOut(null));
  $("add-copy").addEventListener("click", () => copy($("add-copy"), $("add-result-command").textContent));
  $("token-copy").addEventListener("click", () => copy($("token-copy"), $("token-value").textContent));
  for (const id of ["repo-search", "repo-sort", "repo-late"]) $(id).addEventListener("input", renderRepos);
  for (const b of document.querySelectorAll("nav [data-view]")) b.addEventListener("click", () => openView(b.dataset.view));
  const kept = sessionStorage.getItem(AUTH_KEY);
  if (kept) {
    state.auth = kept;
    api("GET", "/api/v1/server-info")
      .then((info) => { state.server = info; startSession(); })
      .catch(() => signOut(null));
  } else {
    show("signin");
    $("signin-password").focus();
  }
});
