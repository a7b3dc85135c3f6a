// The monitoring view (#/monitoring): the host at a glance. Totals, what needs attention (late,
// near quota, failed verify, recent health alerts), used space over time with when the pool's
// disk fills at the current pace, storage per repository, and the alerts that fired.

import { api } from "./api.js";
import { $, el, ago, bytes, date } from "./dom.js";
import { lineChart } from "./chart.js";
import { renderAlerts, ALERT_WORDS } from "./repo.js";
import { condition, repositories, serverInfo, usedFraction } from "./repos.js";

const DAY = 86400;
const NEAR_QUOTA = 0.8;
// How many of each kind "Needs attention" lists before it says how many there are in all.
const ATTENTION_FIRST = 5;
// Health alerts that say more than the figures shown above them (a quota and a failed verify
// are listed from the repositories themselves).
const HEALTH = new Set(["shrink", "growth"]);

function total(label, value, detail) {
  return el("div", { class: "total" }, el("div", { class: "total-label", text: label }),
    el("div", { class: "total-value", text: value }), detail ? el("div", { class: "hint", text: detail }) : null);
}

// Least squares over the last 30 days of the host's points: bytes a day; null without enough.
export function growthPerDay(points) {
  const recent = points.filter((p) => p.at >= points[points.length - 1].at - 30 * DAY);
  if (recent.length < 2 || recent[recent.length - 1].at - recent[0].at < DAY / 4) return null;
  const n = recent.length;
  const mx = recent.reduce((s, p) => s + p.at, 0) / n;
  const my = recent.reduce((s, p) => s + p.value, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of recent) { num += (p.at - mx) * (p.value - my); den += (p.at - mx) ** 2; }
  return den ? (num / den) * DAY : null;
}

export function projection(points, disk) {
  if (!disk) return { text: "The pool's disk size is unknown: no projection.", line: [] };
  if (points.length === 0) return { text: `${bytes(disk.freeBytes)} free of ${bytes(disk.totalBytes)}.`, line: [] };
  const perDay = growthPerDay(points);
  const free = `${bytes(disk.freeBytes)} free of ${bytes(disk.totalBytes)}`;
  if (perDay === null) return { text: `${free}; not enough history yet to project when it fills.`, line: [] };
  if (perDay <= 0) return { text: `${free}; used space is not growing (${bytes(Math.abs(perDay))} a day less).`, line: [] };
  const days = disk.freeBytes / perDay;
  const last = points[points.length - 1];
  const full = last.at + days * DAY;
  const text = days > 3650
    ? `${free}; growing ${bytes(perDay)} a day, it would take more than 10 years to fill.`
    : `${free}; growing ${bytes(perDay)} a day, the disk fills around ${date(full)} (in ${Math.round(days)} days).`;
  const until = Math.min(full, last.at + 90 * DAY);
  return { text, line: [{ at: until, value: last.value + perDay * ((until - last.at) / DAY) }], days };
}

export async function showMonitoring() {
  const repos = repositories();
  const monitored = repos.filter((r) => condition(r)[0] !== "off");
  const healthy = monitored.filter((r) => r.status && usedFraction(r) < NEAR_QUOTA && (!r.lastVerify || r.lastVerify.ok)).length;
  const used = repos.reduce((s, r) => s + r.storageUsed * 1024, 0);
  const allotted = repos.reduce((s, r) => s + r.storageSize * 1e9, 0);
  const last = repos.reduce((m, r) => Math.max(m, r.lastSave), 0);
  $("totals").replaceChildren(
    total("Repositories", String(repos.length), `${monitored.length} monitored`),
    total("Healthy", `${healthy} of ${monitored.length}`, "on time, under 80 % of quota, verify not failed"),
    total("Used of allotted", `${bytes(used)} of ${bytes(allotted)}`, allotted ? `${Math.round((used / allotted) * 100)} %` : ""),
    total("Last backup", last ? ago(last) : "none yet", last ? date(last) : ""));

  const now = Math.floor(Date.now() / 1000);
  const [history, fired] = await Promise.all([
    api("GET", `/api/v1/history?from=${now - 90 * DAY}`).then((h) => h.points).catch(() => []),
    api("GET", "/api/v1/alerts?limit=100").then((a) => a.alerts).catch(() => []),
  ]);

  // Each kind: its first few, then how many in all with the way to see them (a host after an
  // outage has thousands late; listed whole, the view was 48,000 px tall).
  const attention = [];
  const link = (r) => el("a", { href: `#/repositories/${encodeURIComponent(r.repositoryName)}`, text: r.alias });
  const group = (items, kind, item, rest) => {
    for (const x of items.slice(0, ATTENTION_FIRST)) attention.push(item(x));
    if (items.length > ATTENTION_FIRST) {
      attention.push(el("li", { class: `${kind} more` }, el("strong", { text: rest.words(items.length) }),
        rest.href ? el("a", { href: rest.href, text: rest.link }) : el("span", { text: rest.link })));
    }
  };
  group(repos.filter((x) => condition(x)[0] === "late"), "late",
    (r) => el("li", { class: "late" }, el("strong", { text: "Late " }), link(r),
      el("span", { text: r.lastSave ? `: last backup ${ago(r.lastSave)}` : ": no backup yet" })),
    { words: (n) => `${n.toLocaleString("en")} late in all: `, href: "#/repositories?late=1", link: "see them in the list" });
  group(repos.filter((x) => !x.archived && usedFraction(x) >= NEAR_QUOTA).sort((a, b) => usedFraction(b) - usedFraction(a)), "quota",
    (r) => el("li", { class: "quota" }, el("strong", { text: usedFraction(r) >= 1 ? "Over quota " : "Near quota " }), link(r),
      el("span", { text: `: ${Math.round(usedFraction(r) * 100)} % of ${r.storageSize} GB` })),
    { words: (n) => `${n.toLocaleString("en")} near or over quota in all: `, href: "#/repositories?sort=used", link: "see them in the list, fullest first" });
  group(repos.filter((x) => x.lastVerify && !x.lastVerify.ok), "verify",
    (r) => el("li", { class: "verify" }, el("strong", { text: "Verify failed " }), link(r),
      el("span", { text: `: ${r.lastVerify.message}` })),
    { words: (n) => `${n.toLocaleString("en")} failed verifies in all: `, link: "each is among the alerts that fired, below" });
  group(fired.filter((x) => HEALTH.has(x.kind) && x.at >= now - 7 * DAY), "health",
    (a) => el("li", { class: "health" }, el("strong", { text: `Health: ${ALERT_WORDS[a.kind]} ` }),
      el("a", { href: `#/repositories/${encodeURIComponent(a.repositoryName)}`, text: a.alias }),
      el("span", { text: `: ${a.message} (${ago(a.at)})` })),
    { words: (n) => `${n.toLocaleString("en")} health alerts this week: `, link: "each is among the alerts that fired, below" });
  $("attention").replaceChildren(...attention);
  $("attention-none").hidden = attention.length !== 0;

  const points = history.map((p) => ({ at: p.at, value: p.storageUsed * 1024 }));
  // The host's points come from the check runs; a backup's session moves the totals at once.
  // The chart ends where the totals stand now, not at the last check (#33: 12.9 MB drawn
  // against 15.0 MB in the totals).
  if (repos.length && (points.length === 0 || points[points.length - 1].at < now)) points.push({ at: now, value: used });
  const disk = serverInfo() && serverInfo().poolDisk;
  const projected = projection(points, disk);
  $("host-chart").replaceChildren(lineChart(points, { label: "Used space on this host", format: bytes, extra: projected.line }));
  $("projection").textContent = projected.text;

  const top = repos.slice().sort((a, b) => b.storageUsed - a.storageUsed).slice(0, 15);
  const biggest = Math.max(1, ...top.map((r) => r.storageUsed));
  $("usage").replaceChildren(...top.map((r) => el("li", {},
    el("a", { href: `#/repositories/${encodeURIComponent(r.repositoryName)}`, text: r.alias }),
    el("meter", { min: "0", max: String(biggest), value: String(r.storageUsed), "aria-label": `${r.alias}: ${bytes(r.storageUsed * 1024)}` }),
    el("span", { class: "used", text: bytes(r.storageUsed * 1024) }))));

  renderAlerts($("fired"), $("fired-none"), fired.slice(0, 30), true);
}
