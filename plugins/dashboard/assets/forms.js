// Adding and editing a repository: every field the API takes (lanCommand and the storage
// target too, and the first key on edit), checked next to each field, with the API's own
// refusals shown on the field they name.

import { api, may, path } from "./api.js";
import { $, el, act, confirmAction, copy, notify, wireForm } from "./dom.js";
import { borgInit } from "./guide.js";
import { current, loadRepo } from "./repo.js";
import { wireIconPicker } from "./repo_icon.js";
import { markListStale, serverInfo } from "./repos.js";

export const ALERTS = [
  [0, "Never (not monitored)"], [3600, "1 hour"], [21600, "6 hours"], [43200, "12 hours"],
  [90000, "1 day (25 h)"], [172800, "2 days"], [259200, "3 days"], [345600, "4 days"],
  [432000, "5 days"], [518400, "6 days"], [604800, "1 week"], [864000, "10 days"],
  [1209600, "2 weeks"], [2592000, "30 days"],
];

let go = () => {};
let setAddIcon = () => {};
let setEditIcon = () => {};
let refreshAdd = () => {};
let refreshEdit = () => {};

export function wireForms(navigate) {
  go = navigate;
  for (const id of ["add-alert", "edit-alert"]) {
    for (const [value, label] of ALERTS) $(id).append(el("option", { value: String(value), text: label }));
  }
  $("add-alert").value = "90000";
  setAddIcon = wireIconPicker($("add-icon"), $("add-icon-preview"));
  setEditIcon = wireIconPicker($("edit-icon"), $("edit-icon-preview"));
  refreshAdd = wireForm($("add-form"), addRepo);
  refreshEdit = wireForm($("edit-form"), saveEdit);
  $("add-copy").addEventListener("click", () => copy($("add-copy"), $("add-result-command").textContent));
  $("edit-delete").addEventListener("click", act(deleteRepo));
  $("edit-archive").addEventListener("click", act(toggleArchive));
}

// ---- Add -----------------------------------------------------------------------------------

export async function openAdd() {
  $("add-result").hidden = true;
  if (!$("add-icon").value) setAddIcon("");
  // Listing the targets needs the read permission: a create-only token places in the pool.
  const targets = may("read")
    ? await api("GET", "/api/v1/storage-targets").then((t) => t.storageTargets).catch(() => [])
    : [];
  $("add-target-field").hidden = targets.length === 0;
  $("add-target").replaceChildren(el("option", { value: "", text: "The pool (default)" }),
    ...targets.map((t) => el("option", { value: t.path, text: t.name === t.path ? t.path : `${t.name} (${t.path})` })));
  refreshAdd();
}

async function addRepo() {
  const body = {
    alias: $("add-alias").value,
    sshPublicKey: $("add-key").value.trim(),
    storageSize: Number($("add-quota").value),
    alert: Number($("add-alert").value),
    appendOnlyMode: $("add-append-only").checked,
    lanCommand: $("add-lan").checked,
  };
  if ($("add-comment").value) body.comment = $("add-comment").value;
  if ($("add-icon").value) body.icon = $("add-icon").value;
  if ($("add-target").value) body.storageTarget = $("add-target").value;
  const created = await api("POST", "/api/v1/repositories", body);
  const url = created.sshUrl || `ssh://USER@HOST/./${created.repositoryName}`;
  $("add-result-name").textContent = created.repositoryName;
  $("add-result-url").textContent = url;
  $("add-result-command").textContent = borgInit(url);
  $("add-result-link").href = `#/repositories/${encodeURIComponent(created.repositoryName)}`;
  $("add-result").hidden = false;
  markListStale();
  if (!created.sshUrl) notify("The server has no FQDN and UNIX_USER set: put this host's SSH user and name in the URL.");
  $("add-form").reset();
  $("add-alert").value = "90000";
  setAddIcon = wireIconPicker($("add-icon"), $("add-icon-preview"));
  setEditIcon = wireIconPicker($("edit-icon"), $("edit-icon-preview"));
  $("add-result").focus();
}

// ---- Edit ----------------------------------------------------------------------------------

export async function openEdit(name) {
  const r = await loadRepo(name);
  $("edit-name").textContent = r.alias;
  $("edit-alias").value = r.alias;
  $("edit-key").value = r.sshPublicKey;
  $("edit-quota").value = String(r.storageSize);
  $("edit-alert").value = String(r.alert);
  $("edit-append-only").checked = !!r.appendOnlyMode;
  $("edit-lan").checked = !!r.lanCommand;
  $("edit-comment").value = r.comment || "";
  setEditIcon(r.icon);
  $("edit-target").textContent = r.storageTarget
    ? `Stored on ${r.storageTarget}; a repository's storage target is chosen when it is added.`
    : "Stored in the pool; a repository's storage target is chosen when it is added.";
  $("edit-archive").textContent = r.archived ? "Unarchive repository" : "Archive repository";
  for (const id of ["edit-alias", "edit-key", "edit-quota", "edit-alert", "edit-append-only", "edit-lan", "edit-comment", "edit-icon", "edit-submit"]) {
    $(id).disabled = !!r.archived;
  }
  $("edit-delete").hidden = !!(serverInfo() && serverInfo().deleteDisabled) || !may("delete");
  const back = `#/repositories/${encodeURIComponent(r.repositoryName)}`;
  $("edit-back").href = back;
  $("edit-cancel").href = back;
  if (!r.archived) refreshEdit();
}

async function saveEdit() {
  const r = current.repo;
  const patch = {};
  if ($("edit-alias").value !== r.alias) patch.alias = $("edit-alias").value;
  if ($("edit-key").value.trim() !== r.sshPublicKey) patch.sshPublicKey = $("edit-key").value.trim();
  if (Number($("edit-quota").value) !== r.storageSize) patch.storageSize = Number($("edit-quota").value);
  if (Number($("edit-alert").value) !== r.alert) patch.alert = Number($("edit-alert").value);
  if ($("edit-append-only").checked !== !!r.appendOnlyMode) patch.appendOnlyMode = $("edit-append-only").checked;
  if ($("edit-lan").checked !== !!r.lanCommand) patch.lanCommand = $("edit-lan").checked;
  if ($("edit-comment").value !== (r.comment || "")) patch.comment = $("edit-comment").value;
  if ($("edit-icon").value && $("edit-icon").value !== r.icon) patch.icon = $("edit-icon").value;
  if (Object.keys(patch).length) {
    await api("PATCH", `/api/v1/repositories/${path(r.repositoryName)}`, patch);
  }
  markListStale();
  go(`#/repositories/${encodeURIComponent(r.repositoryName)}`,
    Object.keys(patch).length ? `Saved ${patch.alias || r.alias}.` : "Nothing changed.");
}

// An archived repository keeps its data, but its client can no longer connect.
async function toggleArchive() {
  const r = current.repo;
  const answer = await api("POST", `/api/v1/repositories/${path(r.repositoryName)}/archive`, { archived: !r.archived });
  markListStale();
  go("#/repositories", answer.message);
}

async function deleteRepo() {
  const r = current.repo;
  const sure = await confirmAction(`Delete ${r.alias} (${r.repositoryName})? Its backups are deleted from this host.`, "Delete");
  if (!sure) return;
  await api("DELETE", `/api/v1/repositories/${path(r.repositoryName)}`);
  markListStale();
  go("#/repositories", `Deleted ${r.alias}.`);
}
