// The dashboard: a client of this server's documented REST API, nothing more. Each view has an
// address (#/repositories, #/repositories/NAME, #/monitoring…): Back works and views can be
// bookmarked. A caller sees only the views its permissions allow (GET /api/v1/whoami), so a
// token never lands on a view that cannot work.

import * as session from "./api.js";
import { $, act, clearMessages, notify, showError } from "./dom.js";
import { forgetTokenSecret, loadServerInfo, loadTokens, showServer, wireTokens } from "./admin.js";
import { wireAlertSettings } from "./alert_settings.js";
import { openAdd, openEdit, wireForms } from "./forms.js";
import { showMonitoring } from "./monitor.js";
import { showRepo, wireGuide, wireKeys, wireMaintenance } from "./repo.js";
import * as repos from "./repos.js";
import {
  firstRunOpen, loadAudit, loadUsers, showAccount, showSignInMethods, wireAccount, wireAudit, wireSetup, wireUsers,
} from "./people.js";

const VIEWS = ["signin", "setup", "repos", "repo", "edit", "add", "monitoring", "tokens", "users", "audit", "server", "account", "missing"];
// What each view needs of the caller.
const NEEDS = {
  repos: "read", repo: "read", edit: "update", add: "create", monitoring: "read", tokens: "tokens", server: "read",
  users: "users", audit: "users", account: "account",
};
// Turning pages, sorting or going Back within the list reuses the list read less than this
// ago; coming to it from another view reads it again (another tab or client may have changed it).
const LIST_FRESH_MS = 60000;
let lastView = null; // the view shown before this one
let shown = null; // the view on the screen ("missing" when an address showed nothing)

let wanted = null; // the address asked for before signing in
let pendingNotice = null; // what an action that moves to another view says there
let stopFollowing = () => {}; // ends this sign-in's live updates
let liveTimer = null; // a redraw the live updates asked for, waiting to coalesce
let liveTokens = false; // whether the waiting redraw includes a change of the tokens
// Live updates: many changes in a second (a burst of sessions) are one redraw, at most one a
// second; views where a person types are never redrawn under them.
const LIVE_COALESCE_MS = 1000;
const LIVE_VIEWS = new Set(["repos", "repo", "monitoring", "tokens", "server"]);
// Relative times ("2 min ago") are drawn again this often on the list.
const TICK_MS = 30000;

// Goes to `hash`, and says `message` on the view it opens (an action's outcome outlives the
// move; the messages of the view left do not).
function navigate(hash, message) {
  pendingNotice = message || null;
  if (location.hash === hash) route().then(showPending);
  else location.hash = hash;
}

function showPending() {
  if (pendingNotice) notify(pendingNotice);
  pendingNotice = null;
}

function parse(hash) {
  const [where, query] = (hash.replace(/^#/, "") || "/").split("?");
  const parts = where.split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query || "");
  if (parts.length === 0) return { view: "home" };
  if (parts[0] === "sign-in" && parts.length === 1) return { view: "signin", params };
  if (parts[0] === "signed-in" && parts.length === 1) return { view: "home" };
  if (parts[0] === "setup" && parts.length === 1) return { view: "setup" };
  if (parts[0] === "repositories") {
    if (parts.length === 1) return { view: "repos", params };
    if (parts.length === 2) return { view: "repo", name: parts[1] };
    if (parts.length === 3 && parts[2] === "edit") return { view: "edit", name: parts[1] };
  }
  if (parts.length === 1 && ["add", "monitoring", "tokens", "server", "users", "audit", "account"].includes(parts[0])) {
    return { view: parts[0] };
  }
  return { view: "missing" };
}

function show(view) {
  shown = view;
  for (const v of VIEWS) $(`view-${v}`).hidden = v !== view;
  const section = view === "repo" || view === "edit" ? "repos" : view;
  for (const a of document.querySelectorAll("nav [data-view]")) {
    if (a.dataset.view === section) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (view !== "tokens") forgetTokenSecret();
}

// Moves focus to the view's heading, so a keyboard or screen reader user starts there.
function focusView(view) {
  const heading = $(`view-${view}`).querySelector("h2");
  if (heading) heading.focus({ preventScroll: false });
}

function home() {
  for (const v of ["repos", "add", "tokens"]) if (session.may(NEEDS[v])) return `#/${v === "repos" ? "repositories" : v}`;
  return "#/repositories";
}


let routing = 0; // the newest route(); an older one that is still loading stops there

async function route(live = false) {
  const seq = ++routing;
  const stale = () => seq !== routing || !session.caller();
  const target = parse(location.hash);
  const previous = lastView;
  lastView = target.view;
  if (!session.caller()) {
    const firstRun = await firstRunOpen();
    if (seq !== routing) return;
    if (target.view === "setup" && firstRun) {
      show("setup");
      focusView("setup");
      return;
    }
    if (target.view !== "signin" && target.view !== "setup") wanted = location.hash;
    $("signin-first-run").hidden = !firstRun;
    const failed = await showSignInMethods(target.params);
    if (seq !== routing) return;
    show("signin");
    if (failed) showError(failed);
    $("signin-password").focus();
    return;
  }
  if (target.view === "home" || target.view === "signin" || target.view === "setup") { location.replace(home()); return; }
  const need = NEEDS[target.view];
  if (need && !session.may(need)) {
    $("missing-text").textContent = {
      tokens: "API tokens are managed by admins and operators, signed in with their name and password.",
      users: "Only an admin manages users and reads the audit log.",
      account: "An API token has no account: sign in with a name and password.",
    }[need] || `This view needs the ${need} permission, which this sign-in does not have.`;
    show("missing");
    focusView("missing");
    return;
  }
  // Each view: what it reads, then what it draws. A view is shown only once its data is in,
  // and only if no newer address was asked for meanwhile.
  const views = {
    repos: [async () => {
      if (previous !== "repos" || !repos.listIsFresh(LIST_FRESH_MS)) await repos.loadRepos();
    }, () => repos.render(repos.readQuery(target.params))],
    repo: [() => showRepo(target.name)],
    edit: [() => openEdit(target.name)],
    add: [() => openAdd()],
    monitoring: [() => repos.loadRepos(), () => showMonitoring()],
    tokens: [() => loadTokens()],
    users: [() => loadUsers()],
    audit: [() => loadAudit()],
    account: [() => showAccount()],
    server: [() => showServer(previous !== "server")],
  };
  try {
    const [load, draw] = views[target.view] || [async () => { $("missing-text").textContent = "This address shows nothing."; }];
    await load();
    if (stale()) return;
    show(target.view);
    if (draw) await draw();
    if (stale()) return;
    if (!live) focusView(target.view);
  } catch (e) {
    if (stale()) return;
    if (e instanceof session.ApiFailure && e.status === 404 && (target.view === "repo" || target.view === "edit")) {
      $("missing-text").textContent = `There is no repository ${target.name}: it may have been deleted.`;
      show("missing");
      focusView("missing");
    } else {
      showError(e);
    }
  }
}

// ---- Signing in and out ------------------------------------------------------------------------

function signinKind() {
  return $("signin-kind-token").checked ? "token" : "admin";
}

function signinKindChanged() {
  const token = signinKind() === "token";
  $("signin-admin-fields").hidden = token;
  $("signin-token-fields").hidden = !token;
}

// Readies the views for this caller. The navigation shows only once the view to open is
// chosen (`showNav`), so a click on it cannot be overtaken by the sign-in's own move.
async function startSession() {
  for (const n of document.querySelectorAll("[data-needs]")) n.hidden = !session.may(n.dataset.needs);
  // The title leads where this caller may go (a create-only token: the add form).
  document.querySelector("a.home").href = home();
  if (session.may("read")) await loadServerInfo().catch(() => null);
  repos.markListStale();
  stopFollowing();
  if (session.may("read")) stopFollowing = session.follow(liveEvent);
}

// A change on the host: the view shown is read and drawn again, once for a burst of changes,
// without moving the focus or the scroll.
function liveEvent(event) {
  if (event.type === "ping") return;
  if (event.type === "token") liveTokens = true;
  else repos.markListStale();
  if (liveTimer !== null) return;
  liveTimer = setTimeout(async () => {
    const tokens = liveTokens;
    liveTimer = null;
    liveTokens = false;
    if (!session.caller() || !LIVE_VIEWS.has(shown)) return;
    if (shown === "tokens" && !tokens) return;
    // Someone is typing in a form of this view (a key, a token): not under their hands; the
    // next change, or the next visit, brings the view up to date.
    const typing = document.activeElement && document.activeElement.closest("main form");
    if (typing) return;
    await route(true).catch(() => null);
  }, LIVE_COALESCE_MS);
}

function showNav() {
  $("nav").hidden = !session.caller();
}

async function signIn() {
  const kind = signinKind();
  await session.signIn(kind, $("signin-user").value, kind === "token" ? $("signin-token").value : $("signin-password").value);
  $("signin-password").value = "";
  $("signin-token").value = "";
  await startSession();
  const next = wanted && parse(wanted).view !== "signin" ? wanted : home();
  wanted = null;
  if (location.hash === next) {
    showNav();
    await route();
  } else {
    location.hash = next;
    showNav();
  }
}

// Everything this sign-in showed goes: rows, forms, the token secret shown once.
function clearScreen() {
  stopFollowing();
  stopFollowing = () => {};
  $("nav").hidden = true;
  document.querySelector("a.home").href = "#/repositories";
  $("add-result").hidden = true;
  forgetTokenSecret();
  for (const id of ["repo-rows", "token-rows", "key-rows", "session-rows", "attention", "fired", "usage", "server-info",
    "user-rows", "audit-rows", "account-facts"]) $(id).replaceChildren();
  for (const f of document.querySelectorAll("main form")) if (f.id !== "signin-form") f.reset();
  repos.forgetAll();
}

function ended(message) {
  clearScreen();
  show("signin");
  showError(message);
  if (location.hash !== "#/sign-in") { wanted = location.hash; history.replaceState(null, "", "#/sign-in"); }
  $("signin-password").focus();
}

async function signOut() {
  clearMessages();
  await session.signOut();
  clearScreen();
  wanted = null;
  navigate("#/sign-in", "Signed out.");
}

// ---- The list's controls -----------------------------------------------------------------------

function listQuery(page) {
  return {
    q: $("repo-search").value, sort: $("repo-sort").value, late: $("repo-late").checked,
    page: page || 1,
  };
}

// Typing a search replaces the address (Back skips keystrokes); a page change is a step Back
// returns from.
function listChanged() {
  const query = listQuery(1);
  history.replaceState(null, "", `#/repositories${repos.queryString(query)}`);
  repos.render(query);
}

function turnPage(delta) {
  const current = repos.readQuery(new URLSearchParams(location.hash.split("?")[1] || ""));
  location.hash = `#/repositories${repos.queryString({ ...listQuery(), page: current.page + delta })}`;
}

async function checkNow() {
  const button = $("check-now");
  button.disabled = true;
  try {
    const answer = await session.api("POST", "/api/v1/repositories/refresh");
    repos.markListStale();
    await route();
    notify(answer.message || "Repositories refreshed");
  } finally {
    button.disabled = false;
  }
}

// ---- Theme -------------------------------------------------------------------------------------

const THEMES = ["system", "light", "dark"];

function applyTheme(theme) {
  if (theme === "system") document.documentElement.removeAttribute("data-theme");
  else document.documentElement.setAttribute("data-theme", theme);
  $("theme").textContent = `Theme: ${theme}`;
}

function cycleTheme() {
  const now = localStorage.getItem("bw-dashboard-theme") || "system";
  const next = THEMES[(THEMES.indexOf(now) + 1) % THEMES.length];
  localStorage.setItem("bw-dashboard-theme", next);
  applyTheme(next);
}

// ---- Wiring ------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", async () => {
  applyTheme(localStorage.getItem("bw-dashboard-theme") || "system");
  $("theme").addEventListener("click", cycleTheme);
  session.onBusy((on) => {
    $("progress").hidden = !on;
    $("main").setAttribute("aria-busy", on ? "true" : "false");
  });
  session.onEnded(ended);
  $("signin-kind-admin").addEventListener("change", signinKindChanged);
  $("signin-kind-token").addEventListener("change", signinKindChanged);
  $("signin-form").addEventListener("submit", act(signIn));
  $("sign-out").addEventListener("click", signOut);
  $("check-now").addEventListener("click", act(checkNow));
  $("repo-search").addEventListener("input", listChanged);
  $("repo-sort").addEventListener("change", listChanged);
  $("repo-late").addEventListener("change", listChanged);
  $("page-prev").addEventListener("click", () => turnPage(-1));
  $("page-next").addEventListener("click", () => turnPage(+1));
  $("skip-link").addEventListener("click", (e) => { e.preventDefault(); $("main").focus(); });
  wireForms(navigate);
  wireGuide();
  wireKeys();
  wireMaintenance();
  wireTokens();
  wireAlertSettings();
  wireAccount();
  wireUsers();
  wireAudit();
  wireSetup(async (message) => {
    await startSession();
    showNav();
    navigate(home(), message);
  });
  window.addEventListener("hashchange", async () => {
    clearMessages();
    await route();
    showPending();
  });
  // Relative times tick on the list (drawn from what was read, no request).
  setInterval(() => {
    if (lastView === "repos" && session.caller()) repos.render(repos.readQuery(new URLSearchParams(location.hash.split("?")[1] || "")));
  }, TICK_MS);
  // Back from a provider, signed in: this browser now holds the sign-in cookie.
  if (location.hash === "#/signed-in") session.providerSignedIn();
  if (await session.resume()) {
    await startSession();
    showNav();
  }
  await route();
});

