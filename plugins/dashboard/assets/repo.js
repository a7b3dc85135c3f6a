// One repository's page (#/repositories/NAME): its facts, how to connect a client (URL, borg,
// borgmatic, Vorta, the host keys), its storage over time, keys, sessions, alerts, and the
// maintenance buttons the caller's permissions and the server allow.

import { api, may, path } from "./api.js";
import { $, el, act, ago, bytes, confirmAction, copy, dateTime, duration, notify, wireForm } from "./dom.js";
import { lineChart } from "./chart.js";
import { borgCreate, borgInit, borgmaticConfig, borgRestore } from "./guide.js";
import { condition, repoUrl, serverInfo, usedFraction } from "./repos.js";
import { repoIcon } from "./repo_icon.js";

export const current = { repo: null };

const DAY = 86400;

export async function loadRepo(name) {
  const answer = await api("GET", `/api/v1/repositories/${path(name)}`);
  current.repo = answer.repo;
  return answer.repo;
}

export async function showRepo(name) {
  const r = await loadRepo(name);
  const [kind, word] = condition(r);
  $("repo-alias").replaceChildren(...[repoIcon(r.icon), r.alias].filter(Boolean));
  $("repo-name").textContent = r.repositoryName;
  const badges = [el("span", { class: `light ${kind}`, text: word })];
  if (r.appendOnlyMode) badges.push(el("span", { class: "badge", text: "append-only" }));
  if (r.archived) badges.push(el("span", { class: "badge", text: "archived" }));
  $("repo-badges").replaceChildren(...badges);
  const percent = Math.round(usedFraction(r) * 1000) / 10;
  const facts = [
    ["Last backup", r.lastSave ? `${dateTime(r.lastSave)} (${ago(r.lastSave)})` : "no backup yet"],
    ["Used", `${bytes(r.storageUsed * 1024)} of ${r.storageSize} GB (${percent} %)`],
    ["Alert after", r.alert ? duration(r.alert) : "never (not monitored)"],
    ["Storage", r.storageTarget ? `on ${r.storageTarget}` : "the pool"],
    ["Last verify", verifyText(r)],
  ];
  if (r.comment) facts.push(["Comment", r.comment]);
  $("repo-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
  fillGuide(r);
  $("repo-edit").href = `#/repositories/${encodeURIComponent(r.repositoryName)}/edit`;
  $("verify-state").textContent = `Last verify: ${verifyText(r)}.`;
  const server = serverInfo() || {};
  $("compact").hidden = !!server.compactDisabled;
  renderKeys(r);
  // The rest is read in parallel, each part on its own: a failure leaves a note in its place.
  const now = Math.floor(Date.now() / 1000);
  await Promise.all([
    api("GET", `/api/v1/repositories/${path(r.repositoryName)}/history?from=${now - 30 * DAY}`)
      .then((h) => $("repo-chart").replaceChildren(lineChart(
        h.points.map((p) => ({ at: p.at, value: p.storageUsed * 1024 })), { label: `${r.alias}, storage used`, format: bytes })))
      .catch((e) => $("repo-chart").replaceChildren(el("p", { class: "hint", text: `History: ${e.message}` }))),
    api("GET", `/api/v1/repositories/${path(r.repositoryName)}/sessions?limit=20`)
      .then((s) => renderSessions(r, s.sessions))
      .catch((e) => { $("session-rows").replaceChildren(); $("sessions-none").hidden = false; $("sessions-none").textContent = `Sessions: ${e.message}`; }),
    api("GET", `/api/v1/alerts?limit=20&repositoryName=${encodeURIComponent(r.repositoryName)}`)
      .then((a) => renderAlerts($("repo-alerts"), $("repo-alerts-none"), a.alerts))
      .catch(() => renderAlerts($("repo-alerts"), $("repo-alerts-none"), [])),
  ]);
}

function verifyText(r) {
  if (!r.lastVerify) return "never";
  return r.lastVerify.ok ? `passed ${dateTime(r.lastVerify.at)}` : `FAILED ${dateTime(r.lastVerify.at)}: ${r.lastVerify.message}`;
}

// ---- The guide -------------------------------------------------------------------------------

function fillGuide(r) {
  const url = repoUrl(r);
  $("guide-no-url").hidden = !!r.sshUrl;
  $("repo-url").textContent = url;
  $("repo-lan").hidden = !(r.lanCommand && r.lanSshUrl);
  $("repo-lan-url").textContent = r.lanSshUrl || "";
  $("guide-init").textContent = borgInit(url);
  $("guide-create").textContent = borgCreate(url);
  $("guide-borgmatic-config").textContent = borgmaticConfig(url, r.alias);
  $("guide-restore-commands").textContent = borgRestore(url);
  const keys = (serverInfo() && serverInfo().hostKeyFingerprints) || [];
  $("guide-host-keys").hidden = keys.length === 0;
  $("host-keys").replaceChildren(...keys.map((k) => el("li", {}, el("code", { text: `${k.type} SHA256:${k.sha256.replace(/^SHA256:/, "")}` }))));
}

export function wireGuide() {
  const pairs = [["copy-url", "repo-url"], ["copy-lan-url", "repo-lan-url"], ["copy-init", "guide-init"],
    ["copy-create", "guide-create"], ["copy-borgmatic", "guide-borgmatic-config"], ["copy-restore", "guide-restore-commands"]];
  for (const [button, source] of pairs) $(button).addEventListener("click", () => copy($(button), $(source).textContent));
  const tabs = ["borg", "borgmatic", "vorta", "restore"];
  const select = (name, focus) => {
    for (const t of tabs) {
      const on = t === name;
      $(`tab-${t}`).setAttribute("aria-selected", on ? "true" : "false");
      $(`tab-${t}`).tabIndex = on ? 0 : -1;
      $(`guide-${t}`).hidden = !on;
    }
    if (focus) $(`tab-${name}`).focus();
  };
  tabs.forEach((t, i) => {
    $(`tab-${t}`).addEventListener("click", () => select(t, false));
    $(`tab-${t}`).addEventListener("keydown", (e) => {
      if (e.key === "ArrowRight") select(tabs[(i + 1) % tabs.length], true);
      if (e.key === "ArrowLeft") select(tabs[(i + tabs.length - 1) % tabs.length], true);
    });
  });
}

// ---- Keys ------------------------------------------------------------------------------------

function renderKeys(r) {
  const keys = r.keys || [];
  $("mixed-keys").hidden = !(keys.some((k) => k.mode === "full") && keys.some((k) => k.mode === "append-only"));
  $("key-rows").replaceChildren(...keys.map((k) => {
    const label = k.name || k.fingerprint.slice(0, 20);
    const actions = el("td", { class: "actions" });
    if (may("update") && !r.archived) {
      const other = k.mode === "full" ? "append-only" : "full";
      const toggle = el("button", { type: "button", class: "small", "aria-label": `Make ${label} ${other}`, text: `Make ${other}` });
      toggle.addEventListener("click", act(async () => {
        await api("PATCH", `/api/v1/repositories/${path(r.repositoryName)}/keys/${path(k.id)}`, { mode: other });
        await showRepo(r.repositoryName);
        notify(`The key ${label} is now ${other}; it takes effect at the client's next login.`);
      }));
      const remove = el("button", { type: "button", class: "small danger", "aria-label": `Remove ${label}`, text: "Remove" });
      remove.disabled = keys.length === 1;
      if (keys.length === 1) remove.title = "A repository keeps at least one key";
      remove.addEventListener("click", act(async () => {
        if (!(await confirmAction(`Remove the key ${label}? Its client can no longer connect.`, "Remove"))) return;
        await api("DELETE", `/api/v1/repositories/${path(r.repositoryName)}/keys/${path(k.id)}`);
        await showRepo(r.repositoryName);
        notify(`Removed the key ${label}.`);
      }));
      actions.append(toggle, remove);
    }
    return el("tr", { "data-key": k.id },
      el("td", { "data-label": "Name", text: k.name || "(no name)" }),
      el("td", { "data-label": "Mode", text: k.mode }),
      el("td", { "data-label": "Fingerprint" }, el("code", { text: k.fingerprint })),
      el("td", { "data-label": "Last used", text: k.lastUsedAt ? ago(k.lastUsedAt) : "never" }),
      actions);
  }));
  $("key-form").hidden = !may("update") || r.archived;
}

export function wireKeys() {
  wireForm($("key-form"), async () => {
    const r = current.repo;
    const body = { sshPublicKey: $("key-key").value.trim(), mode: $("key-mode").value };
    if ($("key-name").value.trim()) body.name = $("key-name").value.trim();
    const added = await api("POST", `/api/v1/repositories/${path(r.repositoryName)}/keys`, body);
    $("key-form").reset();
    await showRepo(r.repositoryName);
    notify(`Added the key ${added.key.name || added.key.fingerprint}.`);
  });
}

// ---- Sessions and alerts -----------------------------------------------------------------------

// What the server can know of a session: whether it committed a change to the repository.
// borg serve's exit code is not the backup's result (it exits 0 when the client fails).
export function sessionOutcome(s) {
  if (s.exitCode !== 0) return `ended by the server side (borg serve exit ${s.exitCode})`;
  if (s.wroteChanges === true) return "wrote a backup";
  if (s.wroteChanges === false) return "no change (a read, or the client failed)";
  return "ended (not recorded whether it wrote)";
}

function renderSessions(r, sessions) {
  const names = new Map((r.keys || []).map((k) => [k.id, k.name || k.fingerprint.slice(0, 20)]));
  $("sessions-none").hidden = sessions.length !== 0;
  $("sessions-none").textContent = "No session recorded yet: sessions appear when a client's backup ends (with sessions on).";
  $("sessions-table").hidden = sessions.length === 0;
  $("session-rows").replaceChildren(...sessions.map((s) => el("tr", {},
    el("td", { "data-label": "Ended", text: dateTime(s.endedAt) }),
    el("td", { "data-label": "Duration", text: duration(Math.max(0, s.endedAt - s.startedAt)) }),
    el("td", { "data-label": "What it did", text: sessionOutcome(s) }),
    el("td", { "data-label": "Key", text: names.get(s.keyId) || s.keyId }),
    el("td", { "data-label": "Client", text: s.client || "" }))));
}

export const ALERT_WORDS = {
  late: "late", recovered: "back on time", quota: "near quota", shrink: "shrank", growth: "grew", verifyFailed: "verify failed",
};

export function renderAlerts(list, none, alerts, withRepo) {
  none.hidden = alerts.length !== 0;
  list.replaceChildren(...alerts.map((a) => el("li", { class: `alert-${a.kind}` },
    el("strong", { text: ALERT_WORDS[a.kind] || a.kind }),
    withRepo ? el("a", { href: `#/repositories/${encodeURIComponent(a.repositoryName)}`, text: ` ${a.alias}` }) : null,
    el("span", { text: ` ${dateTime(a.at)}: ${a.message}` }),
    el("span", { class: "hint", text: a.deliveredBy.length ? ` (sent by ${a.deliveredBy.join(", ")})` : " (no channel delivered it)" }))));
}

// ---- Maintenance -----------------------------------------------------------------------------

export function wireMaintenance() {
  $("verify-now").addEventListener("click", act(async () => {
    const r = current.repo;
    const answer = await api("POST", `/api/v1/repositories/${path(r.repositoryName)}/verify`);
    await showRepo(r.repositoryName);
    notify(answer.ok ? `${r.alias}: the verify passed.` : `${r.alias}: the verify FAILED: ${answer.message}`);
  }));
  $("compact").addEventListener("click", act(async () => {
    const r = current.repo;
    if (!(await confirmAction(`Compact ${r.alias}? borg frees the space of deleted archives; a client that connects meanwhile waits.`, "Compact"))) return;
    const answer = await api("POST", `/api/v1/repositories/${path(r.repositoryName)}/compact`);
    await showRepo(r.repositoryName);
    notify(answer.message);
  }));
  $("break-lock").addEventListener("click", act(async () => {
    const r = current.repo;
    if (!(await confirmAction(`Break the lock of ${r.alias}? Only for a stale lock, left by a client that is gone. The server refuses while a client is connected: pulling a live backup's lock would break it.`, "Break the lock"))) return;
    const answer = await api("POST", `/api/v1/repositories/${path(r.repositoryName)}/break-lock`);
    notify(answer.message);
  }));
}

