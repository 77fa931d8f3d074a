// /: the live view. Recent timelines flowing through the phases (a
// per-phase latency bar per instance, completeness), per-phase p50/p99 over
// time, throughput and every drop counter, fed by /api/v1/timelines once and
// then by the /api/v1/stream Server-Sent Events.
'use strict';

RT.Live = class {
  constructor() {
    this.buckets = new Map();  // unix second -> {n, phases: {cls: [ns...]}, commit: [ns...]}
    this.rows = [];            // newest first
    this.maxRows = 40;
    this.windowS = 60;
    this.streamDropped = 0;
    this.stats = null;
    this.lastData = 0;         // unix seconds of the newest timeline seen
  }

  // Bucket key: the second the instance started (its first event).
  add(t) {
    const start = t.start_time ? Date.parse(t.start_time) / 1000 : Date.now() / 1000;
    const sec = Math.floor(start);
    this.lastData = Math.max(this.lastData, sec);
    let b = this.buckets.get(sec);
    if (!b) { b = {n: 0, phases: {}, commit: []}; this.buckets.set(sec, b); }
    b.n++;
    for (const p of RT.PHASES) {
      const v = RT.phaseLatency(t, p.key);
      if (v !== null) (b.phases[p.cls] = b.phases[p.cls] || []).push(v);
    }
    const c = RT.num(t.commit_latency_ns);
    if (c !== null) b.commit.push(c);
    for (const k of this.buckets.keys()) if (k < sec - 3600) this.buckets.delete(k);
  }

  // The window shown: the last `windowS` seconds, ending now while data is
  // fresh, or at the newest data when the cluster has gone quiet.
  windowEnd() {
    const now = Math.floor(Date.now() / 1000);
    return this.lastData && now - this.lastData > 5 ? this.lastData + 1 : now;
  }

  async start() {
    const main = RT.main();
    main.replaceChildren(
      RT.el('h1', {text: 'Live'}),
      RT.el('div', {class: 'cards', id: 'cards'}),
      RT.el('div', {class: 'row2'},
        RT.el('div', {class: 'panel'}, RT.el('h2', {text: 'Per-phase latency per second, quorum-th replica (p50 solid, p99 dashed, log scale)'}),
          RT.el('div', {class: 'legend', id: 'latency-legend'}), RT.el('div', {id: 'latency-chart-box'})),
        RT.el('div', {class: 'panel'}, RT.el('h2', {text: 'Throughput (instances started per second)'}),
          RT.el('div', {id: 'throughput-box'}), RT.el('h2', {text: 'Drops and losses'}), RT.el('div', {id: 'drops-box'}))),
      RT.el('div', {class: 'panel'}, RT.el('h2', {text: 'Recent timelines (newest first) — click one for its diagram'}),
        RT.el('div', {class: 'legend'}, RT.PHASES.map((p) => RT.el('span', {}, RT.el('span', {class: 'sw', style: `background:${RT.PHASE_COLORS[p.cls]}`}), p.name))),
        RT.el('table', {id: 'recent'}, RT.el('thead', {}, RT.el('tr', {},
          ...['seq', 'state', 'complete', 'commit', 'execute', 'phases (quorum-th replica, to scale)', 'missing'].map((h) => RT.el('th', {text: h})))),
        RT.el('tbody', {id: 'recent-body'}))));
    document.getElementById('latency-legend').append(...RT.PHASES.map((p) =>
      RT.el('span', {}, RT.el('span', {class: 'sw', style: `background:${RT.PHASE_COLORS[p.cls]}`}), p.name)));
    try {
      const [stats, list] = await Promise.all([
        RT.getJSON('/api/v1/stats'),
        RT.getJSON('/api/v1/timelines?limit=2000&brief=1'),
      ]);
      this.stats = stats;
      const ts = (list.timelines || []).slice().reverse();  // oldest first
      for (const t of ts) this.add(t);
      this.rows = (list.timelines || []).slice(0, this.maxRows);
    } catch (err) {
      RT.showError(main, err);
    }
    this.render();
    this.connect();
    RT.ready('live');
    this.timer = setInterval(() => this.render(), 1000);
  }

  connect() {
    const conn = document.getElementById('conn');
    const es = new EventSource('/api/v1/stream');
    this.es = es;
    es.addEventListener('open', () => { conn.textContent = 'live'; conn.className = 'conn open'; });
    es.addEventListener('error', () => { conn.textContent = 'reconnecting'; conn.className = 'conn closed'; });
    es.addEventListener('timeline', (e) => {
      const t = JSON.parse(e.data);
      this.add(t);
      this.rows.unshift(t);
      if (this.rows.length > this.maxRows) this.rows.length = this.maxRows;
      this.dirty = true;
    });
    es.addEventListener('stats', (e) => { this.stats = JSON.parse(e.data); this.dirty = true; });
    es.addEventListener('dropped', (e) => { this.streamDropped += Number(JSON.parse(e.data).dropped || 0); });
    es.addEventListener('viewchange', () => { this.dirty = true; });
    es.addEventListener('end', () => { es.close(); conn.textContent = 'collector stopped'; conn.className = 'conn closed'; });
  }

  series() {
    const end = this.windowEnd();
    const out = {secs: [], n: [], p50: {}, p99: {}, commit50: null, commit99: null, rate: 0};
    const recentCommit = [];
    let recentN = 0;
    // Up to windowS seconds, but no empty stretch before the first data.
    let first = end - this.windowS;
    if (this.buckets.size) {
      const oldest = Math.min(...this.buckets.keys());
      first = Math.max(first, Math.min(oldest, end - 10));
    }
    out.span = end - first;
    for (let s = first; s < end; s++) {
      const b = this.buckets.get(s);
      out.secs.push(s);
      out.n.push(b ? b.n : 0);
      for (const p of RT.PHASES) {
        const v = b && b.phases[p.cls] ? b.phases[p.cls].slice().sort((a, c) => a - c) : [];
        (out.p50[p.cls] = out.p50[p.cls] || []).push(RT.percentile(v, 0.5));
        (out.p99[p.cls] = out.p99[p.cls] || []).push(RT.percentile(v, 0.99));
      }
      if (s >= end - 10 && b) { recentCommit.push(...b.commit); }
      if (s >= end - 5 && s < end && b) recentN += b.n;
    }
    recentCommit.sort((a, c) => a - c);
    out.commit50 = RT.percentile(recentCommit, 0.5);
    out.commit99 = RT.percentile(recentCommit, 0.99);
    out.rate = recentN / 5;
    return out;
  }

  render() {
    if (!document.getElementById('cards')) { clearInterval(this.timer); return; }
    const s = this.series();
    const st = this.stats || {};
    const tl = st.timelines || {};
    const subDrops = (st.subscribers || []).reduce((a, x) => a + Number(x.dropped || 0), 0);
    const drops = {
      ringbuf: Number(st.ringbuf_drops_total || 0),
      builder: Number(tl.events_dropped || 0),
      malformed: Number(st.records_malformed || 0),
      jsonl: Number(st.jsonl_dropped || 0),
      subscribers: subDrops,
      stream: this.streamDropped,
    };
    const total = Object.values(drops).reduce((a, b) => a + b, 0);
    const card = (id, label, value, sub, attrs) => RT.el('div', Object.assign({class: 'card', id}, attrs || {}),
      RT.el('div', {class: 'label', text: label}), RT.el('div', {class: 'value', text: value}), RT.el('div', {class: 'sub', text: sub}));
    document.getElementById('cards').replaceChildren(
      card('card-throughput', 'throughput', `${s.rate.toFixed(0)}/s`, 'instances, last 5 s', {'data-value': s.rate}),
      card('card-commit', 'commit latency p50 / p99', `${RT.fmtNs(s.commit50)}`, `p99 ${RT.fmtNs(s.commit99)} (last 10 s)`,
        {'data-p50-ns': s.commit50, 'data-p99-ns': s.commit99}),
      card('card-timelines', 'timelines', RT.fmtCount(Number(tl.complete || 0)),
        `complete · ${RT.fmtCount(Number(tl.incomplete || 0))} incomplete · ${RT.fmtCount(Number(tl.evicted || 0))} evicted · ${tl.open || 0} open`,
        {'data-complete': tl.complete || 0, 'data-incomplete': tl.incomplete || 0}),
      card('card-drops', 'drops', RT.fmtCount(total), 'ring buffer, builder, subscribers, stream', {class: total > 0 ? 'card bad' : 'card', 'data-value': total}),
      card('card-viewchanges', 'view changes', RT.fmtCount(Number(tl.view_changes || 0)), `${RT.fmtCount(Number(tl.anomalies || 0))} anomalies`,
        {'data-value': tl.view_changes || 0}));
    document.getElementById('drops-box').replaceChildren(RT.el('table', {class: 'drops'}, RT.el('tbody', {},
      [['ring buffer (kernel)', 'ringbuf', drops.ringbuf], ['timeline builder queue', 'builder', drops.builder],
        ['malformed records', 'malformed', drops.malformed], ['gRPC subscribers', 'subscribers', drops.subscribers],
        ['--jsonl writer', 'jsonl', drops.jsonl], ['this page\'s stream', 'stream', drops.stream]].map(([label, key, v]) =>
        RT.el('tr', {'data-drop': key, 'data-value': v}, RT.el('td', {text: label}), RT.el('td', {class: 'num', text: RT.fmtCount(v)}))))));
    this.drawLatency(s);
    this.drawThroughput(s);
    this.drawRows();
  }

  drawLatency(s) {
    // Log scale: phases differ by orders of magnitude (execute in µs,
    // prepare and commit in ms).
    const W = 760, H = 240, L = 78, R = 10, T = 10, B = 24;
    let max = 0, min = Infinity;
    for (const p of RT.PHASES) {
      for (const q of ['p50', 'p99']) {
        for (const v of s[q][p.cls]) if (v !== null && v > 0) { max = Math.max(max, v); min = Math.min(min, v); }
      }
    }
    const lmax = Math.ceil(Math.log10(max || 1e7));
    const lmin = Math.min(lmax - 1, Math.floor(Math.log10(Number.isFinite(min) ? min : 1e3)));
    const svg = RT.svg('svg', {id: 'latency-chart', viewBox: `0 0 ${W} ${H}`, width: '100%', height: H, preserveAspectRatio: 'none',
      'data-scale': 'log10'});
    const n = s.secs.length;
    const x = (i) => L + (i / Math.max(1, n - 1)) * (W - L - R);
    const y = (v) => T + (1 - (Math.log10(Math.max(v, Math.pow(10, lmin))) - lmin) / (lmax - lmin)) * (H - T - B);
    const axis = RT.svg('g', {class: 'axis'});
    for (let e = lmin; e <= lmax; e++) {
      const v = Math.pow(10, e);
      axis.append(RT.svg('line', {x1: L, x2: W - R, y1: y(v), y2: y(v)}), RT.svg('text', {x: L - 4, y: y(v) + 4, 'text-anchor': 'end', text: RT.fmtNs(v)}));
    }
    axis.append(RT.svg('text', {x: L, y: H - 6, text: `-${s.span} s`}), RT.svg('text', {x: W - R, y: H - 6, 'text-anchor': 'end', text: 'now'}));
    svg.append(axis);
    for (const p of RT.PHASES) {
      for (const q of ['p50', 'p99']) {
        const pts = [];
        s[q][p.cls].forEach((v, i) => { if (v !== null) pts.push(`${x(i).toFixed(1)},${y(v).toFixed(1)}`); });
        if (!pts.length) continue;
        const last = [...s[q][p.cls]].reverse().find((v) => v !== null);
        svg.append(RT.svg('polyline', {class: `series ${q} ${p.cls}`, points: pts.join(' '), stroke: RT.PHASE_COLORS[p.cls],
          'data-phase': p.cls, 'data-quantile': q, 'data-last-ns': last}, RT.tip(`${p.name} ${q}: latest ${RT.fmtNs(last)}`)));
      }
    }
    document.getElementById('latency-chart-box').replaceChildren(svg);
  }

  drawThroughput(s) {
    const W = 480, H = 120, L = 44, T = 6, B = 18;
    const max = Math.max(1, ...s.n);
    const svg = RT.svg('svg', {id: 'throughput-chart', viewBox: `0 0 ${W} ${H}`, width: '100%', height: H, preserveAspectRatio: 'none'});
    const bw = (W - L) / s.n.length;
    const axis = RT.svg('g', {class: 'axis'});
    for (const v of RT.ticks(max, 3)) {
      const yy = T + (1 - v / max) * (H - T - B);
      axis.append(RT.svg('line', {x1: L, x2: W, y1: yy, y2: yy}), RT.svg('text', {x: L - 4, y: yy + 4, 'text-anchor': 'end', text: String(Math.round(v))}));
    }
    svg.append(axis);
    s.n.forEach((v, i) => {
      if (!v) return;
      const h = (v / max) * (H - T - B);
      svg.append(RT.svg('rect', {class: 'tp-bar', x: L + i * bw, y: H - B - h, width: Math.max(1, bw - 1), height: h, 'data-count': v},
        RT.tip(`${v} instances`)));
    });
    document.getElementById('throughput-box').replaceChildren(svg);
  }

  drawRows() {
    if (!this.dirty && this.drawn) return;
    this.dirty = false;
    this.drawn = true;
    let scale = 0;
    for (const t of this.rows) {
      let sum = 0;
      for (const p of RT.PHASES) sum += RT.phaseLatency(t, p.key) || 0;
      scale = Math.max(scale, sum);
    }
    const body = document.getElementById('recent-body');
    body.replaceChildren(...this.rows.map((t) => {
      const st = RT.shortState(t.state);
      const c = t.completeness || {};
      const bar = RT.svg('svg', {class: 'phase-bars', width: 360, height: 14, viewBox: '0 0 360 14'});
      let xx = 0;
      for (const p of RT.PHASES) {
        const v = RT.phaseLatency(t, p.key);
        if (v === null) continue;
        const w = scale ? (v / scale) * 360 : 0;
        bar.append(RT.svg('rect', {class: `phase-bar ${p.cls}`, x: xx, y: 2, width: Math.max(0.5, w), height: 10,
          'data-phase': p.cls, 'data-duration-ns': String(v)}, RT.tip(`${p.name}: ${RT.fmtNs(v)}`)));
        xx += w;
      }
      const nMissing = Number(c.missing ? c.missing.length : 0) + Number(c.missing_not_listed || 0);
      return RT.el('tr', {class: 'timeline-row', 'data-seq': t.seq, 'data-state': st},
        RT.el('td', {}, RT.el('a', {href: `/timeline/${t.seq}`, text: t.seq})),
        RT.el('td', {class: `state-${st}`, text: st}),
        RT.el('td', {class: 'num', 'data-score': c.score || 0, text: `${((c.score || 0) * 100).toFixed(0)}%`}),
        RT.el('td', {class: 'num', 'data-latency-ns': t.commit_latency_ns, text: RT.fmtNs(RT.num(t.commit_latency_ns))}),
        RT.el('td', {class: 'num', 'data-latency-ns': t.execute_latency_ns, text: RT.fmtNs(RT.num(t.execute_latency_ns))}),
        RT.el('td', {}, bar),
        RT.el('td', {}, nMissing ? RT.el('span', {class: 'badge lost', text: `${nMissing}`}) : ''));
    }));
  }
};
