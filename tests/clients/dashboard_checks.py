"""Checks the dashboard flows run on every view: an accessibility scan (the serious failures an
axe-core scan reports: contrast, names of form fields and buttons, images without text, duplicate
ids, roles), and the screenshots at 1280 px and 375 px, light and dark, kept as CI artifacts.

The scan runs in the page, on what is shown, with the browser's computed styles; it reports each
violation with the element it is about, so a failure says what to fix.
"""

import os

# Contrast as WCAG 2.1 computes it; the background is the first opaque one up the tree (the
# page's backgrounds are plain colours, no images under text).
A11Y_SCAN = r"""
() => {
  const problems = [];
  const visible = (e) => {
    if (!(e instanceof Element)) return false;
    const r = e.getBoundingClientRect();
    const s = getComputedStyle(e);
    return r.width > 0 && r.height > 0 && s.visibility !== "hidden" && s.display !== "none" && !e.closest("[hidden]");
  };
  const describe = (e) => e.id ? `#${e.id}` : `${e.tagName.toLowerCase()}${e.className && typeof e.className === "string" ? "." + e.className.split(" ").join(".") : ""} "${(e.textContent || "").trim().slice(0, 40)}"`;
  const rgba = (c) => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[,\s/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const background = (e) => {
    for (let n = e; n; n = n.parentElement) {
      const c = rgba(getComputedStyle(n).backgroundColor);
      if (c && c.a >= 0.99) return c;
    }
    // Nothing opaque up the tree: the canvas, white.
    return { r: 255, g: 255, b: 255, a: 1 };
  };
  const blend = (fg, bg) => ({ r: fg.r * fg.a + bg.r * (1 - fg.a), g: fg.g * fg.a + bg.g * (1 - fg.a), b: fg.b * fg.a + bg.b * (1 - fg.a), a: 1 });

  // 1. Text contrast: 4.5:1, or 3:1 for large text (24 px, or 18.66 px bold).
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  while (walker.nextNode()) {
    const t = walker.currentNode;
    const e = t.parentElement;
    if (!t.textContent.trim() || seen.has(e) || !visible(e)) continue;
    if (e.closest("svg")) continue;
    seen.add(e);
    const s = getComputedStyle(e);
    if (e.closest("button:disabled, [aria-disabled=true]")) continue;
    const fg = rgba(s.color);
    if (!fg) continue;
    const bg = background(e);
    const r = ratio(blend(fg, bg), bg);
    const size = parseFloat(s.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(s.fontWeight) >= 700);
    if (r < (large ? 3 : 4.5)) problems.push(`contrast ${r.toFixed(2)}:1 of ${describe(e)} (${s.color} on rgb(${bg.r},${bg.g},${bg.b}))`);
  }
  // 2. Every form field has a name.
  for (const f of document.querySelectorAll("input, select, textarea")) {
    if (!visible(f) || f.type === "hidden") continue;
    const named = (f.labels && f.labels.length) || f.getAttribute("aria-label") || f.getAttribute("aria-labelledby");
    if (!named) problems.push(`form field without a label: ${describe(f)}`);
  }
  // 3. Every button and link says what it does.
  for (const b of document.querySelectorAll("button, a[href], [role=button], [role=tab]")) {
    if (!visible(b)) continue;
    const name = (b.getAttribute("aria-label") || b.textContent || b.getAttribute("title") || "").trim();
    if (!name) problems.push(`control without a name: ${describe(b)}`);
  }
  // 4. Images and drawings carry text.
  for (const i of document.querySelectorAll("img, svg[role=img], [role=img]")) {
    if (!visible(i)) continue;
    if (!(i.getAttribute("alt") || i.getAttribute("aria-label") || i.getAttribute("aria-labelledby"))) problems.push(`image without text: ${describe(i)}`);
  }
  // 5. Ids are unique (labels and aria references depend on it).
  const ids = {};
  for (const e of document.querySelectorAll("[id]")) ids[e.id] = (ids[e.id] || 0) + 1;
  for (const [id, n] of Object.entries(ids)) if (n > 1) problems.push(`id ${id} used ${n} times`);
  // 6. aria references point at something; tabs control a panel.
  for (const e of document.querySelectorAll("[aria-labelledby], [aria-describedby], [aria-controls]")) {
    for (const attr of ["aria-labelledby", "aria-describedby", "aria-controls"]) {
      for (const id of (e.getAttribute(attr) || "").split(/\s+/).filter(Boolean)) {
        if (!document.getElementById(id)) problems.push(`${attr} of ${describe(e)} names no element (${id})`);
      }
    }
  }
  // 7. One main landmark, one h1.
  if (document.querySelectorAll("main").length !== 1) problems.push("not exactly one <main>");
  if (document.querySelectorAll("h1").length !== 1) problems.push("not exactly one <h1>");
  return problems;
}
"""

# The focus ring against the page background, the colour a keyboard user follows: 3:1. When
# the page does not hold the window's focus (another page of the run has it), :focus-visible
# does not match; the ring is then read from the stylesheet's :focus-visible rule itself.
FOCUS_CONTRAST = r"""
(id) => {
  const e = document.getElementById(id);
  e.focus();
  let s = getComputedStyle(e);
  let how = "computed";
  let ring = { color: s.outlineColor, style: s.outlineStyle, width: s.outlineWidth };
  if (ring.style === "none") {
    const rule = [...document.styleSheets].flatMap((sheet) => [...sheet.cssRules])
      .find((r) => r.selectorText && r.selectorText.includes(":focus-visible") && r.style.outline);
    if (!rule) return { style: "none", ratio: 0, how: "no :focus-visible rule" };
    const probe = document.createElement("span");
    probe.style.outline = rule.style.outline;
    document.body.append(probe);
    const p = getComputedStyle(probe);
    ring = { color: p.outlineColor, style: p.outlineStyle, width: p.outlineWidth };
    probe.remove();
    how = "rule";
  }
  const rgba = (c) => c.match(/\d+(\.\d+)?/g).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); })
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const bg = rgba(getComputedStyle(document.body).backgroundColor);
  const [x, y] = [lum(rgba(ring.color)), lum(bg)].sort((a, b) => b - a);
  return { width: ring.width, style: ring.style, ratio: (x + 0.05) / (y + 0.05), how };
}
"""


def scan(page, where):
    """The serious accessibility violations on what the page shows now."""
    return [f"{where}: {p}" for p in page.evaluate(A11Y_SCAN)]


def screenshots(page, artifacts, name, shot_all):
    """The view at 1280 px and 375 px, light and dark (the theme button's override), saved as
    NAME-WIDTH-THEME.png; with `shot_all` false only the 1280 px light one."""
    taken = []
    before = page.viewport_size
    for theme in (["light", "dark"] if shot_all else ["light"]):
        page.evaluate("(t) => document.documentElement.setAttribute('data-theme', t)", theme)
        for width in ([1280, 375] if shot_all else [1280]):
            page.set_viewport_size({"width": width, "height": 860})
            path = os.path.join(artifacts, f"{name}-{width}-{theme}.png")
            page.screenshot(path=path, full_page=True)
            taken.append(path)
    page.set_viewport_size(before)
    page.evaluate("() => { const t = localStorage.getItem('bw-dashboard-theme') || 'system';"
                  " if (t === 'system') document.documentElement.removeAttribute('data-theme');"
                  " else document.documentElement.setAttribute('data-theme', t); }")
    return taken
