// The repository list: one request for the whole list (no request per row), then search, sort
// and filter in the page over an index built once, and a page of rows drawn at a time, so a
// host of 100,000 repositories stays browsable. The search, sort, filter and page are in the
// address (#/repositories?q=…&sort=…&late=1&page=2): Back and bookmarks keep them.

import { api, may } from "./api.js";
import { $, el, ago, bytes, copy, date } from "./dom.js";
import { repoIcon } from "./repo_icon.js";

export const PAGE_SIZE = 100;

// The list and the server's description, as last read: written here only, through the
// functions below, so that a view never finds them half changed by another.
const state = { repos: [], index: [], server: null, loadedAt: 0 };

// Every repository of the last list read.
export function repositories() {
  return state.repos;
}

// `GET /api/v1/server-info` as last read, or null.
export function serverInfo() {
  return state.server;
}

export function setServerInfo(info) {
  state.server = info;
}

// Whether the list was read less than `ms` ago.
export function listIsFresh(ms) {
  return Date.now() - state.loadedAt <= ms;
}

// The next view of the list reads it again (after a change, a check, a new sign-in).
export function markListStale() {
  state.loadedAt = 0;
}

// Forgets what this sign-in read.
export function forgetAll() {
  Object.assign(state, { repos: [], index: [], server: null, loadedAt: 0 });
}

export function condition(r) {
  if (r.archived) return ["off", "archived"];
  if (!r.alert) return ["off", "not monitored"];
  return r.status ? ["ok", "OK"] : ["late", "late"];
}

export function usedFraction(r) {
  return r.storageSize ? (r.storageUsed * 1024) / (r.storageSize * 1e9) : 0;
}

export function repoUrl(r) {
  return r.sshUrl || `ssh://USER@HOST/./${r.repositoryName}`;
}

export async function loadRepos() {
  // With `keys`: a row shows how many keys a repository has (the list leaves them out by default).
  const answer = await api("GET", "/api/v1/repositories?include=keys");
  state.repos = answer.repoList || [];
  state.index = state.repos.map((r) => ({
    repo: r,
    text: `${r.alias}\n${r.repositoryName}\n${r.comment || ""}`.toLowerCase(),
    late: condition(r)[0] === "late",
    used: usedFraction(r),
  }));
  state.loadedAt = Date.now();
}

const byAlias = (a, b) => (a.repo.alias < b.repo.alias ? -1 : a.repo.alias > b.repo.alias ? 1 : a.repo.id - b.repo.id);
const SORTS = {
  alias: byAlias,
  status: (a, b) => (b.late - a.late) || byAlias(a, b),
  last: (a, b) => (a.repo.lastSave - b.repo.lastSave) || byAlias(a, b),
  used: (a, b) => (b.used - a.used) || byAlias(a, b),
  size: (a, b) => (b.repo.storageUsed - a.repo.storageUsed) || byAlias(a, b),
};

// The rows a query selects, in order.
export function select(query) {
  const q = (query.q || "").trim().toLowerCase();
  let rows = state.index;
  if (query.late) rows = rows.filter((i) => i.late);
  if (q) rows = rows.filter((i) => i.text.includes(q));
  return rows.slice().sort(SORTS[query.sort] || byAlias);
}

export function readQuery(params) {
  return {
    q: params.get("q") || "",
    sort: SORTS[params.get("sort")] ? params.get("sort") : "alias",
    late: params.get("late") === "1",
    page: Math.max(1, parseInt(params.get("page") || "1", 10) || 1),
  };
}

export function queryString(query) {
  const p = new URLSearchParams();
  if (query.q) p.set("q", query.q);
  if (query.sort !== "alias") p.set("sort", query.sort);
  if (query.late) p.set("late", "1");
  if (query.page > 1) p.set("page", String(query.page));
  const s = p.toString();
  return s ? `?${s}` : "";
}

export function render(query) {
  $("repo-search").value = query.q;
  $("repo-sort").value = query.sort;
  $("repo-late").checked = query.late;
  const count = state.repos.length;
  $("repo-empty").hidden = count !== 0;
  $("repo-table").hidden = count === 0;
  const rows = select(query);
  const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
  const page = Math.min(query.page, pages);
  const shown = rows.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE);
  const late = state.index.filter((i) => i.late).length;
  $("repo-summary").textContent = count === 0 ? "" :
    `${count} ${count === 1 ? "repository" : "repositories"}, ${late} late` +
    (rows.length !== count ? `, ${rows.length} match` : "") +
    (pages > 1 ? `; page ${page} of ${pages}` : "");
  $("repo-rows").replaceChildren(...shown.map((i) => repoRow(i.repo)));
  $("repo-pager").hidden = pages <= 1;
  $("page-where").textContent = `Page ${page} of ${pages}`;
  $("page-prev").disabled = page <= 1;
  $("page-next").disabled = page >= pages;
  return { page, pages };
}

function repoRow(r) {
  const [kind, word] = condition(r);
  const percent = Math.round(usedFraction(r) * 1000) / 10;
  const meter = el("meter", { min: "0", max: "100", low: "80", high: "95", optimum: "0", value: String(Math.min(100, percent)),
    "aria-label": `${r.alias}: ${percent} % of quota used` });
  const badges = el("div", { class: "badges" });
  if (r.appendOnlyMode) badges.append(el("span", { class: "badge", text: "append-only" }));
  if (r.archived) badges.append(el("span", { class: "badge", text: "archived" }));
  if (r.storageTarget) badges.append(el("span", { class: "badge", text: `on ${r.storageTarget}` }));
  if (r.keys && r.keys.length > 1) badges.append(el("span", { class: "badge", text: `${r.keys.length} keys` }));
  if (r.lastVerify && !r.lastVerify.ok) badges.append(el("span", { class: "badge bad", text: "verify failed" }));
  const url = repoUrl(r);
  const copyButton = el("button", { type: "button", class: "small", "aria-label": `Copy the URL of ${r.alias}`, text: "Copy URL" });
  copyButton.addEventListener("click", () => copy(copyButton, url));
  const href = `#/repositories/${encodeURIComponent(r.repositoryName)}`;
  const actions = el("td", { class: "actions" });
  if (may("update")) actions.append(el("a", { class: "button", href: `${href}/edit`, "aria-label": `Edit ${r.alias}`, text: "Edit" }));
  return el("tr", { "data-name": r.repositoryName },
    el("td", { "data-label": "Status" }, el("span", { class: `light ${kind}`, text: word })),
    el("td", { "data-label": "Repository", class: "repo-cell" },
      el("a", { class: "alias", href }, repoIcon(r.icon), r.alias),
      el("div", { class: "name", text: r.repositoryName }),
      el("div", { class: "url-line" }, el("code", { class: "url", text: url }), copyButton),
      badges),
    el("td", { "data-label": "Last backup", class: "last", title: date(r.lastSave), text: r.lastSave ? `last backup ${ago(r.lastSave)}` : "no backup yet" }),
    el("td", { "data-label": "Used of quota" }, meter,
      el("div", { class: "used", text: `${bytes(r.storageUsed * 1024)} of ${r.storageSize} GB (${percent} %)` })),
    actions);
}
