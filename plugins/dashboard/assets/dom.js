// Small helpers every view uses: elements (text from the API is always set as text, never
// parsed as HTML), the message banners, the confirm dialog, copy buttons, formats, and the
// forms' validation next to each field.

import { ApiFailure } from "./api.js";

export const $ = (id) => document.getElementById(id);

export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

// ---- Messages ------------------------------------------------------------------------------

export function clearMessages() {
  $("error").hidden = true;
  $("error").textContent = "";
  $("notice").hidden = true;
}

export function notify(text) {
  const box = $("notice");
  box.textContent = text;
  box.hidden = false;
}

export function showError(e) {
  const box = $("error");
  box.textContent = e instanceof Error ? e.message : String(e);
  box.hidden = false;
}

// Runs an action the person started: messages of the last action go, its error shows.
export function act(fn) {
  return async (event) => {
    if (event && event.type === "submit") event.preventDefault();
    clearMessages();
    try { await fn(event); } catch (e) { showError(e); }
  };
}

// ---- Formats -------------------------------------------------------------------------------

export function ago(unix) {
  if (!unix) return "never";
  const s = Math.max(0, Math.floor(Date.now() / 1000) - unix);
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function bytes(n) {
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i += 1; }
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}

export function date(unix) {
  return unix ? new Date(unix * 1000).toISOString().slice(0, 10) : "never";
}

export function dateTime(unix) {
  return unix ? new Date(unix * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC" : "never";
}

export function duration(seconds) {
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

// ---- Copy and confirm ----------------------------------------------------------------------

export async function copy(button, text) {
  const was = button.textContent;
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch (e) {
    button.textContent = "Select the text and copy it";
  }
  setTimeout(() => { button.textContent = was; }, 2000);
}

export function confirmAction(text, ok) {
  return new Promise((resolve) => {
    const dialog = $("confirm");
    $("confirm-text").textContent = text;
    $("confirm-ok").textContent = ok;
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    $("confirm-cancel").focus();
  });
}

// ---- Forms: validation next to each field ----------------------------------------------------

// The API names the field at fault first in its `detail` ("alias must …"); the field whose
// `data-field` is that name shows the message.
// A value already in use (a key: 409; a token's name: 400) is refused without naming a field;
// these say which field holds it.
const CONFLICTS = [
  [/SSH key is already used/, "sshPublicKey"],
  [/token with this name already exists/, "name"],
  [/user already exists/, "name"],
  [/another user has that email/, "email"],
  [/Wrong setup code/, "code"],
];

export function fieldOf(form, failure) {
  if (!(failure instanceof ApiFailure)) return null;
  if (!failure.detail) {
    const known = CONFLICTS.find(([words]) => words.test(failure.apiMessage));
    return known ? form.querySelector(`[data-field="${known[1]}"]`) : null;
  }
  const key = failure.detail.split(/[\s.:]/)[0];
  return form.querySelector(`[data-field="${CSS.escape(key)}"]`);
}

function errorBox(field) {
  return field && field.id ? $(`${field.id}-error`) : null;
}

export function markField(field, message) {
  const box = errorBox(field);
  if (!box) return false;
  box.textContent = message;
  box.hidden = false;
  field.setAttribute("aria-invalid", "true");
  field.setAttribute("aria-describedby", box.id);
  return true;
}

export function clearField(field) {
  const box = errorBox(field);
  if (box) { box.hidden = true; box.textContent = ""; }
  field.removeAttribute("aria-invalid");
  if (box && field.getAttribute("aria-describedby") === box.id) field.removeAttribute("aria-describedby");
}

// Wires a form: the submit button is enabled only while the form is valid (the browser's own
// checks plus `extra`), a field's message goes when it changes, and a refusal from the API
// marks the field it names (else it goes to the banner).
export function wireForm(form, handler, extra = () => true) {
  const button = form.querySelector('[type="submit"]');
  const update = () => { button.disabled = !(form.checkValidity() && extra()); };
  form.addEventListener("input", (event) => {
    // A message about the last submit no longer says anything about what is being typed.
    clearMessages();
    const field = event.target;
    if (field.matches("[data-field]")) {
      clearField(field);
      if (!field.checkValidity()) markField(field, field.validationMessage);
    }
    update();
  });
  form.addEventListener("change", update);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearMessages();
    for (const f of form.querySelectorAll("[data-field]")) clearField(f);
    if (!(form.checkValidity() && extra())) { update(); return; }
    try {
      await handler(event);
    } catch (e) {
      const field = fieldOf(form, e);
      if (field && markField(field, e.detail || e.apiMessage)) field.focus();
      else showError(e);
    }
  });
  form.addEventListener("reset", () => setTimeout(update));
  update();
  return update;
}
