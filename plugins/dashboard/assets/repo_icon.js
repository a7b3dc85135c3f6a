// Repositories' icons: BorgWarehouse 3.6's picker's (Tabler icons, MIT), drawn from the sprite
// icons.svg, so an `icon` set by a BorgWarehouse client shows here too; and the picker of the
// add and edit forms.

import { el } from "./dom.js";
import { ICON_CATEGORIES, ICONS } from "./icons.js";

const SVG = "http://www.w3.org/2000/svg";

// "IconDeviceLaptop" -> "Device laptop".
export function iconWords(name) {
  const words = name.slice(4).replace(/([a-z])([A-Z0-9])/g, "$1 $2").replace(/([0-9])([A-Z])/g, "$1 $2");
  return words.charAt(0) + words.slice(1).toLowerCase();
}

// The icon, decorative (the alias beside it says what it is); none for no icon, or a name this
// page does not draw (the API takes any `Icon…` name).
export function repoIcon(name) {
  if (!name || !ICONS.has(name)) return null;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "repo-icon");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.setAttribute("data-icon", name);
  const use = document.createElementNS(SVG, "use");
  use.setAttribute("href", `/dashboard/icons.svg#${name}`);
  svg.append(use);
  return svg;
}

// Fills a form's icon select (by category) and keeps its preview beside it.
export function wireIconPicker(select, preview) {
  select.replaceChildren(el("option", { value: "", text: "None" }),
    ...ICON_CATEGORIES.map((c) => el("optgroup", { label: c.label },
      ...c.icons.map((name) => el("option", { value: name, text: iconWords(name) })))));
  const show = () => preview.replaceChildren(...[repoIcon(select.value)].filter(Boolean));
  select.addEventListener("change", show);
  return (value) => {
    // A name this page does not offer is kept as it is, shown by its words.
    if (value && !ICONS.has(value)) select.append(el("option", { value, text: iconWords(value) }));
    select.value = value || "";
    // The API cannot take an icon away: "None" is for a repository that has none.
    select.querySelector('option[value=""]').disabled = !!value;
    show();
  };
}
