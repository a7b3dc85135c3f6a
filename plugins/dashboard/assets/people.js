// People: one's own account (#/account), the users (#/users) and the audit log (#/audit) for
// admins, and the first run (#/setup), which makes the first admin with the setup code from
// the server's log.

import { api, ApiFailure, caller, signIn } from "./api.js";
import { $, el, act, confirmAction, dateTime, notify, wireForm } from "./dom.js";

// ---- First run -----------------------------------------------------------------------------

// Whether the server has no user yet and waits for its setup code (no credentials needed).
export async function firstRunOpen() {
  try {
    const response = await fetch("/api/v1/setup", { credentials: "omit", cache: "no-store" });
    return response.ok && (await response.json()).needed === true;
  } catch (e) {
    return false;
  }
}

export function wireSetup(signedIn) {
  wireForm($("setup-form"), async () => {
    const name = $("setup-name").value.trim();
    const password = $("setup-password").value;
    const body = { code: $("setup-code").value.trim(), name, password };
    const email = $("setup-email").value.trim();
    if (email) body.email = email;
    const response = await fetch("/api/v1/setup", {
      method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body), credentials: "omit", cache: "no-store",
    });
    if (!response.ok) {
      const data = await response.json().catch(() => ({}));
      throw new ApiFailure(response.status, data.message || `${response.status}`, data.detail);
    }
    $("setup-form").reset();
    await signIn("admin", name, password);
    await signedIn(`Welcome, ${name}: you are this server's first admin.`);
  });
}

// ---- Providers -------------------------------------------------------------------------------

// What a provider's failed sign-in says on the sign-in view (`#/sign-in?provider=…`).
const PROVIDER_FAILED = {
  "no-account": "The provider knows you, but no account here has your email: ask an admin to add it to your account.",
  refused: "The sign-in through the provider did not go through (it was cancelled, took too long, or was refused). Try again.",
  unavailable: "The provider cannot be reached now. Try again later, or sign in with your password.",
};

// The sign-in view's providers (GET /api/v1/auth/providers), and whether passwords are taken;
// a provider's sign-in is a plain link: the browser goes there and comes back signed in.
export async function showSignInMethods(params) {
  let methods = { password: true, providers: [] };
  try {
    const response = await fetch("/api/v1/auth/providers", { credentials: "omit", cache: "no-store" });
    if (response.ok) methods = await response.json();
  } catch (e) { /* the page still offers passwords */ }
  $("signin-provider-list").replaceChildren(...methods.providers.map((p) => el("li", {},
    el("a", { class: "button", href: `/api/v1/sign-in/${encodeURIComponent(p.id)}`, text: `Sign in with ${p.name}` }))));
  $("signin-providers").hidden = methods.providers.length === 0;
  // Passwords refused (DISABLE_PASSWORD_LOGIN): the page offers the providers and API tokens.
  $("signin-kind-admin").disabled = !methods.password;
  if (!methods.password) {
    $("signin-kind-token").checked = true;
    $("signin-admin-fields").hidden = true;
    $("signin-token-fields").hidden = false;
  }
  const failed = params && PROVIDER_FAILED[params.get("provider")];
  return failed || null;
}

// ---- Account ---------------------------------------------------------------------------------

export async function showAccount() {
  const me = await api("GET", "/api/v1/account");
  const facts = [["Name", me.name], ["Role", me.role], ["Tenant", me.tenant || "the whole host"], ["Email", me.email || "none"]];
  $("account-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
  $("account-email").value = me.email || "";
}

export function wireAccount() {
  wireForm($("account-form"), async () => {
    const body = {};
    const email = $("account-email").value.trim();
    body.email = email;
    const password = $("account-password").value;
    if (password) {
      body.password = password;
      body.currentPassword = $("account-current").value;
    }
    await api("PATCH", "/api/v1/account", body);
    $("account-password").value = "";
    $("account-current").value = "";
    await showAccount();
    notify(password ? "Saved. Your password is changed; your other sign-ins have ended." : "Saved.");
  });
}

// ---- Users -----------------------------------------------------------------------------------

const ROLES = ["admin", "operator", "viewer"];

export async function loadUsers() {
  const users = await api("GET", "/api/v1/users");
  const me = caller() && caller().name;
  $("user-rows").replaceChildren(...users.map((u) => {
    const role = el("select", { "aria-label": `Role of ${u.name}` },
      ...ROLES.map((r) => el("option", { value: r, text: r, ...(r === u.role ? { selected: "" } : {}) })));
    role.addEventListener("change", act(async () => {
      try {
        await api("PATCH", `/api/v1/users/${encodeURIComponent(u.name)}`, { role: role.value });
        notify(`${u.name} is now ${role.value}.`);
      } finally {
        await loadUsers();
      }
    }));
    const remove = el("button", { type: "button", class: "danger small", "aria-label": `Remove ${u.name}`, text: "Remove" });
    remove.disabled = u.name === me;
    remove.addEventListener("click", act(async () => {
      if (!(await confirmAction(`Remove ${u.name}? Their sign-ins end and their tokens stop working.`, "Remove"))) return;
      await api("DELETE", `/api/v1/users/${encodeURIComponent(u.name)}`);
      await loadUsers();
      notify(`Removed ${u.name}.`);
    }));
    return el("tr", { "data-user": u.name },
      el("td", { "data-label": "Name", text: u.name }),
      el("td", { "data-label": "Role" }, role),
      el("td", { "data-label": "Tenant", text: u.tenant || "whole host" }),
      el("td", { "data-label": "Email", text: u.email || "" }),
      el("td", { class: "actions" }, remove));
  }));
}

export function wireUsers() {
  wireForm($("user-form"), async () => {
    const body = { name: $("user-name").value.trim(), role: $("user-role").value, password: $("user-password").value };
    const tenant = $("user-tenant").value.trim();
    const email = $("user-email").value.trim();
    if (tenant) body.tenant = tenant;
    if (email) body.email = email;
    await api("POST", "/api/v1/users", body);
    $("user-form").reset();
    await loadUsers();
    notify(`Added ${body.name} (${body.role}).`);
  });
}

// ---- Audit -----------------------------------------------------------------------------------

function changesText(changes) {
  return Object.entries(changes || {}).map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`).join(", ");
}

export async function loadAudit() {
  const params = new URLSearchParams({ limit: "200" });
  const actor = $("audit-actor").value.trim();
  const action = $("audit-action").value;
  if (actor) params.set("actor", actor);
  if (action) params.set("action", action);
  const entries = await api("GET", `/api/v1/audit?${params}`);
  $("audit-none").hidden = entries.length > 0;
  $("audit-table").hidden = entries.length === 0;
  $("audit-rows").replaceChildren(...entries.map((e) => el("tr", {},
    el("td", { "data-label": "When", text: dateTime(e.at) }),
    el("td", { "data-label": "Who", text: e.actor || "(unknown)" }),
    el("td", { "data-label": "From", text: e.client || "this host" }),
    el("td", { "data-label": "What", text: e.action }),
    el("td", { "data-label": "On", text: e.target }),
    el("td", { "data-label": "Changes", text: changesText(e.changes) }))));
}

export function wireAudit() {
  $("audit-form").addEventListener("submit", act(async (event) => {
    event.preventDefault();
    await loadAudit();
  }));
}
