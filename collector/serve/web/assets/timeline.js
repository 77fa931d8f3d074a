// /timeline/<seq>: one consensus instance in ResView's style. One lane per
// replica (plus the client proxy when traced), arrows for the pre-prepare,
// prepare and commit messages between lanes, marks for prepared /
// committed / executed / replied, the quorum moments (the 2f+1-th vote),
// stragglers and what the trace is missing (LOST vs NOT_REACHED).
//
// Stable hooks for tests: g.lane.replica[data-replica], path.arrow.<phase>
// [data-from][data-to][data-sent-ns][data-recv-ns], g.mark.<stage>
// [data-offset-ns], circle.quorum[data-formed-ns], g.missing[data-reason],
// and [data-field][data-latency-ns] on the headline numbers.
'use strict';

RT.MSG_KINDS = [
  {cls: 'pre-prepare', send: 'pre_prepare_sent', recv: 'pre_prepare_received', quorum: null},
  {cls: 'prepare', send: 'prepare_sent', recv: 'prepare_received', quorum: 'prepare_quorum'},
  {cls: 'commit', send: 'commit_sent', recv: 'commit_received', quorum: 'commit_quorum'},
];

RT.STAGE_MARKS = [
  {field: 'prepared_offset_ns', cls: 'prepared', label: 'prepared', shape: 'circle'},
  {field: 'committed_offset_ns', cls: 'committed', label: 'committed', shape: 'circle'},
  {field: 'execute_end_offset_ns', cls: 'executed', label: 'executed', shape: 'rect'},
  {field: 'reply_sent_offset_ns', cls: 'replied', label: 'replied', shape: 'tri'},
];

RT.drawTimeline = function (t) {
  const replicas = (t.replicas || []).slice().sort((a, b) => a.replica_id - b.replica_id);
  const laneIds = replicas.map((r) => r.replica_id);
  // Replicas the timeline expected something of but saw nothing from.
  const ghosts = [];
  for (const m of (t.completeness && t.completeness.missing) || []) {
    if (!laneIds.includes(m.replica_id) && !ghosts.includes(m.replica_id)) ghosts.push(m.replica_id);
  }
  const req = (t.requests || [])[0];
  const clientSent = req ? RT.num(req.sent_offset_ns) : null;
  const clientReplied = req ? RT.num(req.replied_offset_ns) : null;
  const hasClient = clientSent !== null || clientReplied !== null;

  let minOff = 0;
  let maxOff = Math.max(1, RT.num(t.duration_ns) || 0);
  if (clientSent !== null) minOff = Math.min(minOff, clientSent);
  if (clientReplied !== null) maxOff = Math.max(maxOff, clientReplied);

  const W = 1300, left = 118, right = 250, top = 46, laneGap = 64;
  const plotW = W - left - right;
  const lanes = [];  // {id, y, kind}
  let y = top + 16;
  if (hasClient) { lanes.push({id: 'client', y, kind: 'client'}); y += laneGap; }
  for (const id of laneIds) { lanes.push({id, y, kind: 'replica'}); y += laneGap; }
  for (const id of ghosts.sort((a, b) => a - b)) { lanes.push({id, y, kind: 'ghost'}); y += laneGap; }
  const H = y - laneGap + 58;
  const laneY = {};
  for (const l of lanes) laneY[l.id] = l.y;
  const x = (off) => left + ((off - minOff) / (maxOff - minOff)) * plotW;

  const svg = RT.svg('svg', {
    class: 'timeline-diagram', viewBox: `0 0 ${W} ${H}`, width: '100%',
    'data-seq': t.seq, 'data-duration-ns': t.duration_ns || '0', role: 'img',
    'aria-label': `PBFT timeline of seq ${t.seq}`,
  });
  const defs = RT.svg('defs');
  for (const [cls, color] of Object.entries({
    'pre-prepare': '#8250df', prepare: '#1f6feb', commit: '#1a7f37', request: '#57606a',
  })) {
    defs.append(RT.svg('marker', {
      id: `head-${cls}`, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7,
      markerHeight: 7, orient: 'auto-start-reverse',
    }, RT.svg('path', {d: 'M0,0 L10,5 L0,10 z', fill: color})));
  }
  svg.append(defs);

  // Axis (ms since the timeline's first event).
  const axis = RT.svg('g', {class: 'axis'});
  for (const off of RT.ticks(minOff, maxOff, 8)) {
    axis.append(RT.svg('line', {x1: x(off), x2: x(off), y1: top - 6, y2: H - 24}));
    axis.append(RT.svg('text', {x: x(off), y: top - 12, 'text-anchor': 'middle', text: RT.fmtNs(Math.round(off))}));
  }
  svg.append(axis);

  const phases = {};
  for (const p of t.phases || []) phases[p.phase] = p;

  // Straggler bands, under everything else.
  const bands = RT.svg('g', {class: 'stragglers'});
  for (const p of t.phases || []) {
    if (p.straggler === undefined || !(RT.num(p.straggler_lag_ns) > 0) || laneY[p.straggler] === undefined) continue;
    const d = (p.durations || []).find((q) => q.replica_id === p.straggler);
    const qEnd = RT.num(p.quorum_end_offset_ns);
    if (!d || qEnd === null) continue;
    const name = (RT.PHASES.find((q) => q.key === p.phase) || {name: p.phase}).name;
    const x0 = x(qEnd), x1 = x(RT.num(d.end_offset_ns));
    bands.append(RT.svg('rect', {
      class: 'straggler-band', x: x0, y: laneY[p.straggler] - 14, width: Math.max(2, x1 - x0), height: 28,
      'data-phase': name, 'data-replica': p.straggler, 'data-lag-ns': p.straggler_lag_ns,
    }, RT.tip(`${name} straggler r${p.straggler}: +${RT.fmtNs(RT.num(p.straggler_lag_ns))} after the quorum-th replica`)));
  }
  svg.append(bands);

  // Lanes.
  const laneG = RT.svg('g', {class: 'lanes'});
  for (const l of lanes) {
    const r = replicas.find((q) => q.replica_id === l.id);
    let label = l.kind === 'client' ? `client ${req.proxy_id}` : `r${l.id}`;
    if (r && r.primary) label += ' ★';
    const cls = l.kind === 'client' ? 'lane client' : l.kind === 'ghost' ? 'lane replica ghost' : 'lane replica';
    const g = RT.svg('g', {class: cls, 'data-replica': l.id, 'data-primary': r && r.primary ? 'true' : null, 'data-pid': r ? r.pid : null});
    g.append(RT.svg('line', {class: 'lane-line', x1: left, x2: left + plotW, y1: l.y, y2: l.y}));
    g.append(RT.svg('text', {class: 'lane-label', x: 10, y: l.y + 4, text: label},
      RT.tip(l.kind === 'ghost' ? `replica ${l.id}: no events observed` : r && r.primary ? `replica ${l.id} (primary, pid ${r.pid})` : l.kind === 'client' ? 'client proxy' : `replica ${l.id} (pid ${r.pid})`)));
    if (l.kind === 'ghost') g.append(RT.svg('text', {x: left + 4, y: l.y - 6, class: 'muted', 'font-size': 11, fill: '#8c959f', text: 'no events observed'}));
    laneG.append(g);
  }
  svg.append(laneG);

  // Quorum-th lines (the protocol's phase end).
  for (const key of ['PHASE_PREPARE', 'PHASE_COMMIT']) {
    const p = phases[key];
    const end = p ? RT.num(p.quorum_end_offset_ns) : null;
    if (end === null) continue;
    const name = key === 'PHASE_PREPARE' ? 'prepare' : 'commit';
    svg.append(RT.svg('line', {
      class: 'quorum-line', 'data-phase': name, 'data-offset-ns': p.quorum_end_offset_ns,
      x1: x(end), x2: x(end), y1: top, y2: H - 24,
    }, RT.tip(`${name}: the quorum-th replica (r${p.quorum_replica}) done at +${RT.fmtNs(end)}`)));
    svg.append(RT.svg('text', {x: x(end) + 3, y: H - 12, 'font-size': 11, fill: '#9a6700', text: `${name} quorum r${p.quorum_replica}`}));
  }

  // Message arrows.
  const arrows = RT.svg('g', {class: 'arrows'});
  const byStage = (r, stage) => (r.marks || []).filter((m) => RT.stage(m.type) === stage);
  let arrowCount = 0;
  for (const kind of RT.MSG_KINDS) {
    for (const r of replicas) {
      const q = kind.quorum ? r[kind.quorum] : null;
      let qSender = null, qAt = null;
      if (q && q.formed_offset_ns !== undefined && (q.members || []).length >= q.required) {
        qSender = q.members[q.required - 1];
        qAt = q.formed_offset_ns;
      }
      for (const m of byStage(r, kind.recv)) {
        if (m.peer === undefined || m.peer === r.replica_id) continue;  // self-delivery
        const recv = RT.num(m.offset_ns);
        const sender = replicas.find((s) => s.replica_id === m.peer);
        let sent = null;
        if (sender) {
          const sends = byStage(sender, kind.send).filter((s) => s.view === m.view || s.view === undefined || m.view === undefined);
          const before = sends.filter((s) => RT.num(s.offset_ns) <= recv);
          const pick = before.length ? before[before.length - 1] : sends[0];
          if (pick) sent = RT.num(pick.offset_ns);
        }
        const y0 = laneY[m.peer], y1 = laneY[r.replica_id];
        const unmatched = sent === null || y0 === undefined;
        const x0 = unmatched ? x(recv) - 14 : x(sent);
        const yy0 = y0 === undefined ? y1 - 30 : y0;
        const isQuorum = qSender === m.peer && qAt === m.offset_ns;
        const cls = `arrow ${kind.cls}` + (unmatched ? ' unmatched' : '') + (isQuorum ? ' quorum-vote' : '');
        const inflight = sent === null ? '' : ` (in flight ${RT.fmtNs(recv - sent)})`;
        arrows.append(RT.svg('path', {
          class: cls, d: `M${x0},${yy0} L${x(recv)},${y1}`, 'marker-end': `url(#head-${kind.cls})`,
          'data-from': m.peer, 'data-to': r.replica_id, 'data-sent-ns': sent === null ? null : String(sent),
          'data-recv-ns': m.offset_ns, 'data-view': m.view,
        }, RT.tip(`${kind.cls} r${m.peer} → r${r.replica_id}` +
          (sent === null ? ' (send not traced)' : `: sent +${RT.fmtNs(sent)}`) +
          `, received +${RT.fmtNs(recv)}${inflight}` + (isQuorum ? ` — the ${q.required}th vote: quorum formed` : ''))));
        arrowCount++;
      }
    }
  }
  if (hasClient && clientSent !== null) {
    const primary = replicas.find((r) => r.primary);
    const rr = primary && byStage(primary, 'request_received')[0];
    if (rr) {
      arrows.append(RT.svg('path', {
        class: 'arrow request', d: `M${x(clientSent)},${laneY.client} L${x(RT.num(rr.offset_ns))},${laneY[primary.replica_id]}`,
        'marker-end': 'url(#head-request)', 'data-from': 'client', 'data-to': primary.replica_id,
        'data-sent-ns': req.sent_offset_ns, 'data-recv-ns': rr.offset_ns,
      }, RT.tip(`client request → r${primary.replica_id}: sent ${RT.fmtNs(clientSent)}, received +${RT.fmtNs(RT.num(rr.offset_ns))}`)));
    }
  }
  svg.append(arrows);
  svg.dataset.arrows = String(arrowCount);

  // Stage marks and quorum moments.
  const marks = RT.svg('g', {class: 'marks'});
  for (const r of replicas) {
    const ly = laneY[r.replica_id];
    for (const m of byStage(r, 'pre_prepare_sent')) {
      marks.append(RT.svg('g', {class: 'mark sent pre-prepare-sent', 'data-replica': r.replica_id, 'data-offset-ns': m.offset_ns},
        RT.svg('circle', {cx: x(RT.num(m.offset_ns)), cy: ly, r: 4}), RT.tip(`r${r.replica_id} pre-prepare sent +${RT.fmtNs(RT.num(m.offset_ns))}`)));
    }
    for (const s of RT.STAGE_MARKS) {
      const off = RT.num(r[s.field]);
      if (off === null) continue;
      const cx = x(off);
      let shape;
      if (s.shape === 'circle') shape = RT.svg('circle', {cx, cy: ly, r: 5.5});
      else if (s.shape === 'rect') shape = RT.svg('rect', {x: cx - 5, y: ly - 5, width: 10, height: 10});
      else shape = RT.svg('path', {d: `M${cx - 6},${ly + 5} L${cx + 6},${ly + 5} L${cx},${ly - 6} z`});
      marks.append(RT.svg('g', {class: `mark ${s.cls}`, 'data-replica': r.replica_id, 'data-offset-ns': r[s.field]},
        shape, RT.tip(`r${r.replica_id} ${s.label} +${RT.fmtNs(off)}`)));
    }
    for (const [field, name] of [['prepare_quorum', 'prepare'], ['commit_quorum', 'commit']]) {
      const q = r[field];
      if (!q || q.formed_offset_ns === undefined) continue;
      const f = RT.num(q.formed_offset_ns);
      marks.append(RT.svg('circle', {
        class: `quorum ${name}`, cx: x(f), cy: ly, r: 10, 'data-replica': r.replica_id,
        'data-formed-ns': q.formed_offset_ns, 'data-members': (q.members || []).join(','),
        'data-late': (q.late || []).join(','),
      }, RT.tip(`r${r.replica_id} ${name} quorum formed +${RT.fmtNs(f)}: ${q.required} votes from ` +
        `${(q.members || []).map((m) => 'r' + m).join(', ')}` + ((q.late || []).length ? `; late: ${q.late.map((m) => 'r' + m).join(', ')}` : ''))));
    }
  }
  if (hasClient && clientReplied !== null) {
    marks.append(RT.svg('g', {class: 'mark client-replied', 'data-replica': 'client', 'data-offset-ns': req.replied_offset_ns},
      RT.svg('path', {d: `M${x(clientReplied) - 6},${laneY.client + 5} L${x(clientReplied) + 6},${laneY.client + 5} L${x(clientReplied)},${laneY.client - 6} z`, fill: '#57606a'}),
      RT.tip(`client answered +${RT.fmtNs(clientReplied)} (${req.matching_replies || 0} matching replies)`)));
  }
  if (hasClient && clientSent !== null) {
    marks.append(RT.svg('g', {class: 'mark sent client-sent', 'data-replica': 'client', 'data-offset-ns': req.sent_offset_ns},
      RT.svg('circle', {cx: x(clientSent), cy: laneY.client, r: 4}), RT.tip(`client request sent ${RT.fmtNs(clientSent)}`)));
  }
  svg.append(marks);

  // Missing events, right of each lane.
  const missing = RT.svg('g', {class: 'missing-events'});
  const perLane = {};
  for (const m of (t.completeness && t.completeness.missing) || []) {
    const ly = laneY[m.replica_id];
    if (ly === undefined) continue;
    const k = perLane[m.replica_id] = (perLane[m.replica_id] || 0) + 1;
    if (k > 3) continue;
    const reason = m.reason === 'MISSING_REASON_LOST' ? 'lost' : 'not-reached';
    const label = `${RT.stage(m.type)}${m.peer !== undefined ? ' r' + m.peer : ''} ${reason === 'lost' ? 'LOST' : 'NOT REACHED'}`;
    const yy = ly - 18 + k * 11;
    missing.append(RT.svg('g', {
      class: `missing ${reason}`, 'data-replica': m.replica_id, 'data-type': RT.stage(m.type),
      'data-reason': m.reason, 'data-peer': m.peer,
    }, RT.svg('path', {d: `M${left + plotW + 8},${yy - 3} l6,6 m0,-6 l-6,6`, 'stroke-width': 1.5}),
    RT.svg('text', {x: left + plotW + 18, y: yy + 3, 'font-size': 11, text: label}),
    RT.tip(reason === 'lost' ? 'LOST: later events prove it happened; the trace lost it' :
      'NOT_REACHED: the replica lagged, stalled or is faulty')));
  }
  for (const [rid, k] of Object.entries(perLane)) {
    if (k > 3) missing.append(RT.svg('text', {x: left + plotW + 18, y: laneY[rid] + 28, 'font-size': 11, fill: '#68707a', text: `+${k - 3} more missing`}));
  }
  svg.append(missing);
  return svg;
};

RT.renderTimelinePage = async function (seq) {
  const main = RT.main();
  main.replaceChildren(RT.el('h1', {text: `Timeline of seq ${seq}`}));
  let t;
  try {
    t = await RT.getJSON(`/api/v1/timelines/${encodeURIComponent(seq)}`);
  } catch (err) {
    RT.showError(main, err);
    RT.ready('timeline-error');
    return;
  }
  const score = t.completeness && t.completeness.score !== undefined ? t.completeness.score : 0;
  const missing = (t.completeness && t.completeness.missing) || [];
  const req = (t.requests || [])[0];
  const head = RT.el('dl', {class: 'kv summary'});
  const kv = (k, v, attrs) => { head.append(RT.el('dt', {text: k}), RT.el('dd', attrs || {}, v)); };
  kv('state', RT.shortState(t.state), {class: `state-${RT.shortState(t.state)}`, 'data-field': 'state'});
  kv('view', `${t.view || 0}` + ((t.views || []).length > 1 ? ` (seen in views ${t.views.join(', ')})` : ''));
  kv('primary', t.primary !== undefined ? `r${t.primary}` : 'not observed');
  const notListed = Number((t.completeness && t.completeness.missing_not_listed) || 0);
  kv('completeness', `${(score * 100).toFixed(1)}% (${t.completeness ? t.completeness.observed || 0 : 0} observed, ${missing.length + notListed} missing` +
    (notListed ? `, ${notListed} not listed` : '') + ')' +
    (t.completeness && t.completeness.losses_while_open ? ' — the collector reported losses while it was open' : '') +
    (t.events_dropped ? ` — ${t.events_dropped} events beyond the per-timeline cap not kept` : '') +
    (t.truncated ? ' — cut to the size cap (marks left out)' : ''),
    {'data-field': 'completeness', 'data-score': score});
  const lat = (label, field, v) => kv(label, RT.fmtNs(RT.num(v)), {'data-field': field, 'data-latency-ns': v === undefined ? null : v});
  lat('commit latency', 'commit_latency_ns', t.commit_latency_ns);
  lat('execute latency', 'execute_latency_ns', t.execute_latency_ns);
  if (req) lat(`client latency (proxy ${req.proxy_id}${req.local_id !== undefined ? ', batch ' + req.local_id : ''})`, 'client_latency_ns', req.latency_ns);
  lat('duration', 'duration_ns', t.duration_ns || '0');
  main.append(RT.el('div', {class: 'panel'}, head,
    RT.el('p', {class: 'muted'}, 'JSON: ', RT.el('a', {href: `/api/v1/timelines/${t.seq}`, text: `/api/v1/timelines/${t.seq}`}),
      ` · CLI: resdb-trace timeline ${t.seq}`)));

  const legend = RT.el('div', {class: 'legend'},
    ...[['pre-prepare', '#8250df'], ['prepare', '#1f6feb'], ['commit', '#1a7f37'], ['request', '#57606a']].map(([n, c]) =>
      RT.el('span', {}, RT.el('span', {class: 'sw', style: `background:${c}`}), `${n} message`)),
    RT.el('span', {text: '● prepared / committed  ■ executed  ▲ replied  ○ quorum formed (2f+1-th vote, thick arrow)  ▭ straggler  ✕ missing'}));
  main.append(RT.el('div', {class: 'panel'}, legend, RT.drawTimeline(t)));

  // Per-replica stage offsets and quorums.
  const rows = (t.replicas || []).map((r) => {
    const cell = (field) => RT.el('td', {class: 'num', 'data-field': field, 'data-ns': r[field]}, RT.fmtNs(RT.num(r[field])));
    const quorum = (q) => {
      if (!q || q.formed_offset_ns === undefined) return RT.el('td', {class: 'muted', text: q ? `not formed in the trace (${q.votes_before_state || 0} of ${q.required} votes seen)` : '—'});
      return RT.el('td', {'data-ns': q.formed_offset_ns}, `${RT.fmtNs(RT.num(q.formed_offset_ns))} [${(q.members || []).map((m) => 'r' + m).join(',')}]` +
        ((q.late || []).length ? ` late ${q.late.map((m) => 'r' + m).join(',')}` : ''));
    };
    return RT.el('tr', {class: 'replica-row', 'data-replica': r.replica_id},
      RT.el('td', {text: `r${r.replica_id}${r.primary ? ' ★' : ''}`}),
      cell('pre_prepare_offset_ns'), cell('prepared_offset_ns'), cell('committed_offset_ns'),
      cell('execute_end_offset_ns'), cell('reply_sent_offset_ns'), quorum(r.prepare_quorum), quorum(r.commit_quorum));
  });
  main.append(RT.el('div', {class: 'panel'}, RT.el('h2', {text: 'Stages per replica (offset from the first event)'}),
    RT.el('table', {class: 'replicas'}, RT.el('thead', {}, RT.el('tr', {},
      ...['replica', 'pre-prepare', 'prepared', 'committed', 'executed', 'replied', 'prepare quorum', 'commit quorum'].map((h, i) => RT.el('th', {class: i > 0 && i < 6 ? 'num' : '', text: h})))),
    RT.el('tbody', {}, rows))));

  const prow = (t.phases || []).map((p) => {
    const name = (RT.PHASES.find((q) => q.key === p.phase) || {name: p.phase}).name;
    const qd = RT.phaseLatency(t, p.phase);
    return RT.el('tr', {class: 'phase-row', 'data-phase': name},
      RT.el('td', {text: name}),
      RT.el('td', {text: p.quorum_replica !== undefined ? `r${p.quorum_replica}` : '—'}),
      RT.el('td', {class: 'num', 'data-latency-ns': qd === null ? null : String(qd)}, RT.fmtNs(qd)),
      RT.el('td', {text: p.straggler !== undefined ? `r${p.straggler}` : '—'}),
      RT.el('td', {class: 'num', 'data-ns': p.straggler_lag_ns || '0'}, p.straggler !== undefined ? '+' + RT.fmtNs(RT.num(p.straggler_lag_ns) || 0) : '—'),
      RT.el('td', {text: (p.durations || []).map((d) => `r${d.replica_id} ${RT.fmtNs(RT.num(d.duration_ns))}`).join('  ')}));
  });
  main.append(RT.el('div', {class: 'panel'}, RT.el('h2', {text: 'Phases: quorum-th replica and straggler'}),
    RT.el('table', {class: 'phases'}, RT.el('thead', {}, RT.el('tr', {},
      ...['phase', 'quorum-th replica', 'its duration', 'straggler', 'lag', 'per replica'].map((h) => RT.el('th', {text: h})))),
    RT.el('tbody', {}, prow))));

  if (missing.length) {
    main.append(RT.el('div', {class: 'panel'}, RT.el('h2', {text: `Missing events (${missing.length})`}),
      RT.el('ul', {class: 'missing-list'}, missing.map((m) => RT.el('li', {'data-reason': m.reason},
        `r${m.replica_id} ${RT.stage(m.type)}${m.peer !== undefined ? ' from r' + m.peer : ''} `,
        RT.el('span', {class: `badge ${m.reason === 'MISSING_REASON_LOST' ? 'lost' : 'not-reached'}`, text: m.reason === 'MISSING_REASON_LOST' ? 'LOST' : 'NOT_REACHED'}))))));
  }
  RT.ready('timeline');
};
