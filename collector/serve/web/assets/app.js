// resdb-trace web view: shared helpers. Plain browser JavaScript, no
// framework, nothing loaded from outside this server. Data comes from the
// collector's JSON API (/api/v1/..., protobuf JSON mapping with the .proto
// field names; 64-bit integers arrive as strings).
'use strict';

const RT = {};

RT.SVGNS = 'http://www.w3.org/2000/svg';

// el('div', {class: 'x', 'data-seq': 3}, child, 'text', ...)
RT.el = function (tag, attrs, ...children) {
  const e = document.createElement(tag);
  RT.fill(e, attrs, children);
  return e;
};

RT.svg = function (tag, attrs, ...children) {
  const e = document.createElementNS(RT.SVGNS, tag);
  RT.fill(e, attrs, children);
  return e;
};

RT.fill = function (e, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') e.textContent = String(v);
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
};

// SVG <title> tooltip.
RT.tip = function (text) {
  return RT.svg('title', {text});
};

// 64-bit JSON integers are strings; absent means "not observed".
RT.num = function (v) {
  return v === undefined || v === null ? null : Number(v);
};

RT.fmtNs = function (ns) {
  if (ns === null || ns === undefined || Number.isNaN(ns)) return '—';
  const a = Math.abs(ns);
  if (a >= 1e9) return (ns / 1e9).toFixed(2) + ' s';
  if (a >= 1e6) return (ns / 1e6).toFixed(3) + ' ms';
  if (a >= 1e3) return (ns / 1e3).toFixed(1) + ' µs';
  return ns + ' ns';
};

RT.fmtCount = function (n) {
  if (n === null || n === undefined) return '—';
  return Number(n).toLocaleString('en-US');
};

// EVENT_TYPE_PREPARE_RECEIVED -> prepare_received
RT.stage = function (type) {
  return String(type || '').replace(/^EVENT_TYPE_/, '').toLowerCase();
};

RT.PHASES = [
  {key: 'PHASE_PRE_PREPARE', name: 'pre-prepare', cls: 'pre-prepare'},
  {key: 'PHASE_PREPARE', name: 'prepare', cls: 'prepare'},
  {key: 'PHASE_COMMIT', name: 'commit', cls: 'commit'},
  {key: 'PHASE_EXECUTE', name: 'execute', cls: 'execute'},
  {key: 'PHASE_REPLY', name: 'reply', cls: 'reply'},
];
RT.PHASE_COLORS = {
  'pre-prepare': '#8250df', prepare: '#1f6feb', commit: '#1a7f37',
  execute: '#bf8700', reply: '#cf222e',
};

// The phase's latency in a timeline: the duration of its quorum-th replica
// (the protocol's view of the phase), or null.
RT.phaseLatency = function (t, phaseKey) {
  for (const p of t.phases || []) {
    if (p.phase !== phaseKey || p.quorum_replica === undefined) continue;
    for (const d of p.durations || []) {
      if (d.replica_id === p.quorum_replica) return RT.num(d.duration_ns) || 0;
    }
  }
  return null;
};

RT.shortState = function (s) {
  return String(s || 'TIMELINE_STATE_UNSPECIFIED').replace(/^TIMELINE_STATE_/, '');
};

// Fetches JSON; throws an Error carrying the server's error message.
RT.getJSON = async function (url) {
  const r = await fetch(url, {headers: {Accept: 'application/json'}});
  const text = await r.text();
  let body = null;
  try { body = JSON.parse(text); } catch (e) { body = null; }
  if (!r.ok) {
    const msg = body && body.error ? body.error.message : text;
    const err = new Error(`${r.status}: ${msg}`);
    err.status = r.status;
    throw err;
  }
  return body;
};

RT.showError = function (container, err) {
  container.append(RT.el('div', {class: 'error', 'data-error': err.status || 0, text: String(err.message || err)}));
};

// Tests (tests/e2e/web_test.py) wait for this before reading the DOM.
RT.ready = function (page) {
  document.body.dataset.ready = page;
};

RT.percentile = function (sorted, q) {
  if (!sorted.length) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
};

// Axis ticks: about `n` round values in [min, max] (or [0, min] when
// called with two arguments).
RT.ticks = function (min, max, n) {
  if (n === undefined) { n = max; max = min; min = 0; }
  const span = max - min;
  if (!(span > 0)) return [min];
  const raw = span / n;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(min / step) * step; v <= max + 1e-9; v += step) out.push(v);
  return out;
};

RT.main = function () {
  return document.getElementById('main');
};
