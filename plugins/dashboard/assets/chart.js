// A line chart in SVG, drawn with DOM calls (no library, nothing inline for the CSP to refuse).
// It says what it shows in words too: a screen reader gets the range and the last value.

import { el, date } from "./dom.js";

const NS = "http://www.w3.org/2000/svg";
const W = 640;
const H = 200;
const PAD = { left: 64, right: 12, top: 12, bottom: 28 };

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  for (const c of children) node.append(c);
  return node;
}

// `points`: [{at, value}] oldest first; `format`: how a value reads; `extra`: an optional
// dashed line [{at, value}] (a projection).
export function lineChart(points, { label, format, extra }) {
  if (points.length === 0) {
    return el("p", { class: "hint", text: "No point yet: the checks and backups draw this as they run." });
  }
  const all = points.concat(extra || []);
  const t0 = Math.min(...all.map((p) => p.at));
  const t1 = Math.max(...all.map((p) => p.at), t0 + 1);
  const top = Math.max(...all.map((p) => p.value), 1);
  const x = (t) => PAD.left + ((t - t0) / (t1 - t0)) * (W - PAD.left - PAD.right);
  const y = (v) => H - PAD.bottom - (v / top) * (H - PAD.top - PAD.bottom);
  const line = (ps) => ps.map((p) => `${x(p.at).toFixed(1)},${y(p.value).toFixed(1)}`).join(" ");
  const last = points[points.length - 1];
  const summary = `${label}: from ${format(points[0].value)} on ${date(points[0].at)} to ${format(last.value)} on ${date(last.at)}` +
    (extra && extra.length ? `; projected ${format(extra[extra.length - 1].value)} on ${date(extra[extra.length - 1].at)}` : "");
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": summary, class: "line-chart" },
    svg("title", {}, summary),
    svg("line", { x1: PAD.left, y1: y(0), x2: W - PAD.right, y2: y(0), class: "axis" }),
    svg("line", { x1: PAD.left, y1: y(top), x2: W - PAD.right, y2: y(top), class: "grid" }),
    svg("text", { x: PAD.left - 6, y: y(top) + 4, class: "tick", "text-anchor": "end" }, format(top)),
    svg("text", { x: PAD.left - 6, y: y(0) + 4, class: "tick", "text-anchor": "end" }, format(0)),
    svg("text", { x: PAD.left, y: H - 8, class: "tick" }, date(t0)),
    svg("text", { x: W - PAD.right, y: H - 8, class: "tick", "text-anchor": "end" }, date(t1)));
  if (points.length === 1) {
    chart.append(svg("circle", { cx: x(last.at), cy: y(last.value), r: 4, class: "dot" }));
  } else {
    chart.append(svg("polyline", { points: line(points), class: "series" }));
  }
  if (extra && extra.length) chart.append(svg("polyline", { points: line([last].concat(extra)), class: "projection" }));
  return chart;
}
