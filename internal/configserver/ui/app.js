// Granary dashboard: polls the config server's read API once a second and
// draws what it answers. /v1/status and /v1/state come from the config
// server that served this page (its replicated state); /v1/stats is the
// leader's (a follower forwards the request).
"use strict";

const BUCKETS = 16384, COLS = 128, CELL = 4;
const PALETTE = ["#3b6fd6", "#e07b39", "#2e9d8f", "#c9435b", "#8a5cc7", "#7fa33a", "#d4a62a", "#4aa3d8",
  "#b65fa0", "#5d6b8a", "#a0522d", "#1f8a4c"];
const STATE_COLOURS = { served: "#2e9d5b", under: "#e0a526", unserved: "#d64545", moving: "#3b6fd6" };
const STATE_NAMES = { served: "served", under: "under-replicated", unserved: "unserved", moving: "moving" };

let colourBy = "owner";
let last = null; // the last successful poll, for redraws and hovering

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function badge(text) { return el("span", { class: "badge " + text }, text); }

function swatch(colour) {
  const s = el("span", { class: "swatch" });
  s.style.background = colour;
  return s;
}

function num(v, digits) {
  if (v === undefined || v === null || v < 0) return "–";
  return v.toLocaleString(undefined, { maximumFractionDigits: digits === undefined ? 0 : digits });
}

function bytes(v) {
  if (v === undefined || v === null) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return v.toFixed(i === 0 ? 0 : 1) + " " + units[i];
}

// silence renders how long ago the leader heard from a node (nanoseconds,
// measured by the leader's clock).
function silence(ns) {
  if (ns === undefined) return "–";
  const s = ns / 1e9;
  return s < 1 ? "now" : s.toFixed(s < 10 ? 1 : 0) + " s ago";
}

async function getJSON(path) {
  const r = await fetch(path, { cache: "no-store" });
  const body = await r.json().catch(() => ({ error: r.statusText }));
  if (!r.ok) throw new Error(path + ": " + (body.error || r.status));
  return body;
}

// bucketInfo expands the table's ranges into per-bucket owner and state.
function bucketInfo(state) {
  const nodes = new Map(state.nodes.map((n) => [n.id, n]));
  const copies = state.settings.copies || 1;
  const owner = new Int32Array(BUCKETS).fill(-1);
  const status = new Array(BUCKETS).fill("unserved");
  const replicas = new Array(BUCKETS).fill(null);
  const primaries = new Map(), held = new Map();
  for (const r of state.table.ranges || []) {
    const ids = r.replicas.map((i) => state.table.nodes[i]);
    const live = ids.filter((id) => (nodes.get(id) || {}).state === "up" || (nodes.get(id) || {}).state === "draining").length;
    const primaryUp = ids.length > 0 && live > 0 && ["up", "draining"].includes((nodes.get(ids[0]) || {}).state);
    // "moving": a bucket with a learner (a migration target catching up)
    // or frozen for the handover to a new primary.
    const moving = (r.learners && r.learners.length > 0) || r.frozen;
    const st = !primaryUp ? "unserved" : live < copies ? "under" : moving ? "moving" : "served";
    const n = r.last - r.first + 1;
    if (ids.length > 0) {
      primaries.set(ids[0], (primaries.get(ids[0]) || 0) + n);
      for (const id of ids) held.set(id, (held.get(id) || 0) + n);
    }
    for (let b = r.first; b <= r.last; b++) {
      owner[b] = ids.length > 0 ? state.table.nodes.indexOf(ids[0]) : -1;
      status[b] = st;
      replicas[b] = ids;
    }
  }
  return { owner, status, replicas, primaries, held };
}

// nodeColours gives each data server a colour, by its order in the node list.
function nodeColours(state) {
  const ids = state.nodes.map((n) => n.id).sort();
  return new Map(ids.map((id, i) => [id, PALETTE[i % PALETTE.length]]));
}

function renderHealth(status, state) {
  $("#served-by").textContent = "served by config server " + status.id;
  $("#leader").textContent = status.leader || "none (election)";
  $("#health").dataset.leader = status.leader || "";
  $("#term").textContent = status.term;
  $("#epoch").textContent = status.epoch;
  $("#copies").textContent = status.copies;
  $("#nodes-up").textContent = (status.nodes.up || 0) + " of " + state.nodes.length;
  $("#unassigned").textContent = status.unassigned;
  const tb = $("#config-servers tbody");
  tb.replaceChildren(...state.config_servers.map((cs) => el("tr", { "data-config-server": cs.id },
    el("td", { class: "mono" }, cs.id),
    el("td", {}, badge(cs.leader ? "leader" : cs.voter ? "follower" : "nonvoter")),
    el("td", { class: "mono" }, cs.http ? el("a", { href: "http://" + cs.http + "/ui/" }, cs.http) : "–"),
    el("td", { class: "mono" }, cs.resp || "–"),
    el("td", { class: "mono" }, cs.raft))));
}

function renderNodes(state, stats, info, colours) {
  const load = new Map((stats ? stats.nodes : []).map((n) => [n.id, n]));
  const rows = [...state.nodes].sort((a, b) => a.id.localeCompare(b.id)).map((n) => {
    const l = load.get(n.id) || {};
    // An up node the leader has not heard from for 4 heartbeats (1 s by
    // default) is "late": it will be marked down if the silence lasts.
    const late = n.state === "up" && stats && l.silence > 4 * stats.heartbeat;
    return el("tr", { "data-node": n.id, "data-state": n.state },
      el("td", {}, swatch(colours.get(n.id))),
      el("td", { class: "mono", title: n.id }, n.id.slice(0, 10)),
      el("td", {}, badge(n.state), late ? " " : "", late ? badge("late") : ""),
      el("td", {}, n.zone || "–"),
      el("td", { class: "mono" }, n.addr || "–"),
      el("td", { class: "num" }, n.state === "up" ? num(l.ops_per_sec, 0) : "–"),
      el("td", { class: "num" }, n.state === "up" ? bytes(l.bytes) : "–"),
      el("td", { class: "num" }, n.state === "up" ? num(l.items) : "–"),
      el("td", { class: "num" }, n.state === "up" ? num(l.clients) : "–"),
      el("td", { class: "num" }, num(info.primaries.get(n.id) || 0)),
      el("td", { class: "num" }, num(info.held.get(n.id) || 0)),
      el("td", {}, silence(l.silence)));
  });
  $("#nodes tbody").replaceChildren(...rows);
}

function renderBuckets(state, info, colours) {
  const ctx = $("#buckets").getContext("2d");
  ctx.fillStyle = "#e8eaef";
  ctx.fillRect(0, 0, COLS * CELL, COLS * CELL);
  for (let b = 0; b < BUCKETS; b++) {
    let c;
    if (colourBy === "owner") {
      c = info.owner[b] < 0 ? null : colours.get(state.table.nodes[info.owner[b]]);
    } else {
      c = STATE_COLOURS[info.status[b]];
    }
    if (!c) continue;
    ctx.fillStyle = c;
    ctx.fillRect((b % COLS) * CELL, Math.floor(b / COLS) * CELL, CELL, CELL);
  }
  const legend = $("#bucket-legend");
  if (colourBy === "owner") {
    legend.replaceChildren(...state.nodes.map((n) => el("div", {}, swatch(colours.get(n.id)), " ",
      el("span", { class: "mono" }, n.id.slice(0, 10)), " ", n.addr || "", ": ",
      num(info.primaries.get(n.id) || 0), " primaries")));
  } else {
    const count = {};
    for (const s of info.status) count[s] = (count[s] || 0) + 1;
    legend.replaceChildren(...Object.keys(STATE_COLOURS).map((s) => el("div", { "data-bucket-state": s },
      swatch(STATE_COLOURS[s]), " ", STATE_NAMES[s], ": ", num(count[s] || 0))));
  }
}

function hoverBucket(ev) {
  if (!last) return;
  const r = ev.target.getBoundingClientRect();
  const x = Math.floor((ev.clientX - r.left) / (r.width / COLS));
  const y = Math.floor((ev.clientY - r.top) / (r.height / COLS));
  const b = y * COLS + x;
  if (b < 0 || b >= BUCKETS) return;
  const ids = last.info.replicas[b] || [];
  $("#bucket-hover").textContent = "bucket " + b + ": " + STATE_NAMES[last.info.status[b]] +
    (ids.length ? ", replicas " + ids.map((id) => id.slice(0, 10)).join(", ") : ", no replica");
}

// lineChart draws one line per series into an SVG element, time on x.
function lineChart(svg, series, fmt, fixedMax) {
  const W = svg.clientWidth || 420, H = svg.clientHeight || 170, L = 64, R = 10, T = 10, B = 20;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const ns = "http://www.w3.org/2000/svg";
  const mk = (tag, attrs, text) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const pts = series.flatMap((s) => s.points);
  if (pts.length < 2) {
    svg.replaceChildren(mk("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" }, "collecting samples…"));
    return;
  }
  const t0 = Math.min(...pts.map((p) => p[0])), t1 = Math.max(...pts.map((p) => p[0]));
  let vmax = fixedMax || Math.max(...pts.map((p) => p[1]), 0);
  if (vmax <= 0) vmax = 1;
  const x = (t) => L + (t1 === t0 ? 0 : ((t - t0) / (t1 - t0)) * (W - L - R));
  const y = (v) => T + (1 - v / vmax) * (H - T - B);
  const out = [];
  for (const f of [0, 0.5, 1]) {
    out.push(mk("line", { x1: L, x2: W - R, y1: y(vmax * f), y2: y(vmax * f), class: "grid" }));
    out.push(mk("text", { x: L - 6, y: y(vmax * f) + 3, "text-anchor": "end" }, fmt(vmax * f)));
  }
  const span = Math.round((t1 - t0) / 1000);
  out.push(mk("text", { x: L, y: H - 5 }, "−" + span + " s"));
  out.push(mk("text", { x: W - R, y: H - 5, "text-anchor": "end" }, "now"));
  for (const s of series) {
    if (s.points.length === 0) continue;
    const d = s.points.map((p, i) => (i ? "L" : "M") + x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1)).join("");
    out.push(mk("path", { d, fill: "none", stroke: s.colour, "stroke-width": 1.8 }, undefined));
  }
  svg.replaceChildren(...out);
}

function renderNamespaces(state, stats) {
  const samples = stats ? stats.samples : [];
  const latest = new Map((samples.length ? samples[samples.length - 1].namespaces : []).map((n) => [n.id, n]));
  // Namespace 0 exists on every data server without being defined; any
  // other that reports figures without a definition is shown as well.
  const defined = new Map(state.namespaces.map((n) => [n.id, n]));
  for (const smp of samples) {
    for (const n of smp.namespaces) {
      if (!defined.has(n.id)) {
        defined.set(n.id, { id: n.id, name: n.id === 0 ? "(default)" : "(undefined)", engine: "mem", ack: "–", quota: 0 });
      }
    }
  }
  const list = [...defined.values()].sort((a, b) => a.id - b.id);
  const colours = new Map(list.map((n, i) => [n.id, PALETTE[(i + 3) % PALETTE.length]]));
  $("#namespaces tbody").replaceChildren(...list.map((n) => {
    const s = latest.get(n.id) || {};
    return el("tr", { "data-namespace": n.id },
      el("td", {}, swatch(colours.get(n.id))),
      el("td", { class: "num" }, n.id), el("td", {}, n.name), el("td", {}, n.engine), el("td", {}, n.ack),
      el("td", { class: "num" }, n.quota ? bytes(n.quota) : "unlimited"),
      el("td", { class: "num" }, num(s.ops_per_sec)),
      el("td", { class: "num" }, s.hit_rate >= 0 ? (s.hit_rate * 100).toFixed(1) + " %" : "–"),
      el("td", { class: "num" }, num(s.items)),
      el("td", { class: "num" }, bytes(s.bytes)),
      el("td", { class: "num" }, s.latency_us >= 0 ? num(s.latency_us, 1) + " µs" : "–"));
  }));
  const series = (field, scale) => list.map((n) => ({
    colour: colours.get(n.id),
    points: samples.flatMap((smp) => {
      const v = smp.namespaces.find((x) => x.id === n.id);
      return v && v[field] >= 0 ? [[Date.parse(smp.time), v[field] * (scale || 1)]] : [];
    }),
  }));
  lineChart($("#chart-ops"), series("ops_per_sec"), (v) => num(v));
  lineChart($("#chart-hits"), series("hit_rate", 100), (v) => v.toFixed(0) + " %", 100);
  lineChart($("#chart-memory"), series("bytes"), bytes);
  lineChart($("#chart-latency"), series("latency_us"), (v) => num(v, 1) + " µs");
}

function render() {
  const { status, state, stats, info } = last;
  const colours = nodeColours(state);
  renderHealth(status, state);
  renderNodes(state, stats, info, colours);
  renderBuckets(state, info, colours);
  renderNamespaces(state, stats);
}

async function poll() {
  const errors = [];
  try {
    const [status, state, stats] = await Promise.all([
      getJSON("/v1/status"), getJSON("/v1/state"),
      getJSON("/v1/stats").catch((e) => { errors.push("load figures unavailable: " + e.message); return null; }),
    ]);
    last = { status, state, stats, info: bucketInfo(state) };
    render();
    $("#updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    errors.push("cannot reach the config server: " + e.message);
  }
  const banner = $("#error");
  banner.hidden = errors.length === 0;
  banner.textContent = errors.join("; ");
  setTimeout(poll, 1000);
}

for (const r of document.querySelectorAll("input[name=colour]")) {
  r.addEventListener("change", () => { colourBy = r.value; if (last) render(); });
}
$("#buckets").addEventListener("mousemove", hoverBucket);
poll();
