// /viewchanges: each view-change episode drawn as such — one lane per
// replica, its view-change vote (start), the votes it received, the new
// primary's new-view message, the moment 2f+1 replicas installed the new
// view, and how long the system made no progress. Anomalies below.
'use strict';

RT.drawEpisode = function (e) {
  const reps = (e.replicas || []).slice().sort((a, b) => a.replica_id - b.replica_id);
  const offs = [0];
  for (const r of reps) {
    for (const f of ['started_offset_ns', 'installed_offset_ns']) if (r[f] !== undefined) offs.push(RT.num(r[f]));
  }
  for (const f of ['new_view_sent_offset_ns', 'installed_offset_ns']) if (e[f] !== undefined) offs.push(RT.num(e[f]));
  const maxOff = Math.max(1, ...offs) * 1.04;
  const W = 1100, left = 110, right = 200, top = 40, gap = 48;
  const plotW = W - left - right;
  // The old primary often reports nothing (it crashed or stalled): it
  // still gets a lane, marked as such.
  const silentOld = e.old_primary !== undefined && !reps.some((r) => r.replica_id === e.old_primary);
  const H = top + 20 + (reps.length + (silentOld ? 1 : 0)) * gap + 20;
  const x = (o) => left + (o / maxOff) * plotW;
  const svg = RT.svg('svg', {class: 'episode-diagram', viewBox: `0 0 ${W} ${H}`, width: '100%', 'data-episode-id': e.id});
  const axis = RT.svg('g', {class: 'axis'});
  for (const v of RT.ticks(maxOff, 8)) {
    axis.append(RT.svg('line', {x1: x(v), x2: x(v), y1: top - 6, y2: H - 16}), RT.svg('text', {x: x(v), y: top - 12, 'text-anchor': 'middle', text: RT.fmtNs(v)}));
  }
  svg.append(axis);
  const laneY = {};
  reps.forEach((r, i) => { laneY[r.replica_id] = top + 20 + i * gap; });
  if (silentOld) {
    const y = top + 20 + reps.length * gap;
    svg.append(RT.svg('g', {class: 'lane replica ghost old-primary', 'data-replica': e.old_primary},
      RT.svg('line', {class: 'lane-line', x1: left, x2: left + plotW, y1: y, y2: y, 'stroke-dasharray': '4 4'}),
      RT.svg('text', {class: 'lane-label', x: 10, y: y + 4, text: `r${e.old_primary}`}),
      RT.svg('text', {x: left + 4, y: y - 6, 'font-size': 11, fill: '#8c959f', text: 'no view-change events (crashed or stalled)'}),
      RT.svg('text', {x: left + plotW + 10, y: y + 4, 'font-size': 11, fill: '#68707a', text: 'old primary'})));
  }
  for (const r of reps) {
    const y = laneY[r.replica_id];
    const roles = [];
    if (r.replica_id === e.old_primary) roles.push('old primary');
    if (r.replica_id === e.new_primary) roles.push('new primary');
    if ((e.triggered_by || []).includes(r.replica_id)) roles.push('triggered');
    const g = RT.svg('g', {class: 'lane replica', 'data-replica': r.replica_id});
    g.append(RT.svg('line', {class: 'lane-line', x1: left, x2: left + plotW, y1: y, y2: y}),
      RT.svg('text', {class: 'lane-label', x: 10, y: y + 4, text: `r${r.replica_id}`}));
    if (roles.length) g.append(RT.svg('text', {x: left + plotW + 10, y: y + 4, 'font-size': 11, fill: '#68707a', text: roles.join(', ')}));
    const s = RT.num(r.started_offset_ns), inst = RT.num(r.installed_offset_ns);
    if (s !== null && inst !== null) {
      g.append(RT.svg('rect', {class: 'vc-span', x: x(s), y: y - 6, width: Math.max(1, x(inst) - x(s)), height: 12, fill: '#ffe8b3'},
        RT.tip(`r${r.replica_id} in view change for ${RT.fmtNs(inst - s)}`)));
    }
    if (s !== null) {
      g.append(RT.svg('g', {class: 'mark vc-started', 'data-offset-ns': r.started_offset_ns, 'data-voted-view': r.voted_view},
        RT.svg('circle', {cx: x(s), cy: y, r: 6, fill: (e.triggered_by || []).includes(r.replica_id) ? '#cf222e' : '#bf8700'}),
        RT.tip(`r${r.replica_id} view change started +${RT.fmtNs(s)}, voted for view ${r.voted_view}; received votes from ${(r.votes_from || []).map((v) => 'r' + v).join(', ') || 'none'}`)));
    }
    if (inst !== null) {
      g.append(RT.svg('g', {class: 'mark vc-installed', 'data-offset-ns': r.installed_offset_ns},
        RT.svg('rect', {x: x(inst) - 5, y: y - 5, width: 10, height: 10, fill: '#1a7f37'}),
        RT.tip(`r${r.replica_id} installed view ${e.new_view} +${RT.fmtNs(inst)}`)));
    }
    svg.append(g);
  }
  // Votes received: arrows from each voter's start to the receiver's lane,
  // at the receiver's install time at the latest (arrival times are not
  // traced; the order is).
  const votes = RT.svg('g', {class: 'votes'});
  for (const r of reps) {
    (r.votes_from || []).forEach((from) => {
      const src = reps.find((q) => q.replica_id === from);
      if (!src || src.started_offset_ns === undefined || from === r.replica_id) return;
      const x0 = x(RT.num(src.started_offset_ns));
      votes.append(RT.svg('path', {class: 'arrow vote', d: `M${x0},${laneY[from]} L${x0 + 6},${laneY[r.replica_id]}`,
        stroke: '#bf8700', 'stroke-dasharray': '3 3', 'data-from': from, 'data-to': r.replica_id},
      RT.tip(`view-change vote r${from} → r${r.replica_id}`)));
    });
  }
  svg.append(votes);
  if (e.new_view_sent_offset_ns !== undefined && e.new_primary !== undefined && laneY[e.new_primary] !== undefined) {
    const nx = x(RT.num(e.new_view_sent_offset_ns));
    const g = RT.svg('g', {class: 'new-view', 'data-offset-ns': e.new_view_sent_offset_ns});
    for (const r of reps) {
      if (r.replica_id === e.new_primary) continue;
      const to = r.installed_offset_ns !== undefined ? x(RT.num(r.installed_offset_ns)) : nx + 8;
      g.append(RT.svg('path', {class: 'arrow new-view-msg', d: `M${nx},${laneY[e.new_primary]} L${to},${laneY[r.replica_id]}`, stroke: '#1a7f37', 'stroke-width': 1.4}));
    }
    g.append(RT.svg('circle', {cx: nx, cy: laneY[e.new_primary], r: 6, fill: '#1a7f37'}), RT.tip(`r${e.new_primary} sent new-view +${RT.fmtNs(RT.num(e.new_view_sent_offset_ns))}`));
    svg.append(g);
  }
  if (e.installed_offset_ns !== undefined) {
    const ix = x(RT.num(e.installed_offset_ns));
    svg.append(RT.svg('line', {class: 'quorum-line installed', x1: ix, x2: ix, y1: top, y2: H - 16, 'data-offset-ns': e.installed_offset_ns},
      RT.tip(`2f+1 replicas installed view ${e.new_view} at +${RT.fmtNs(RT.num(e.installed_offset_ns))}`)));
    svg.append(RT.svg('text', {x: ix + 4, y: H - 4, 'font-size': 11, fill: '#9a6700', text: '2f+1 installed'}));
  }
  return svg;
};

RT.renderViewChanges = async function () {
  const main = RT.main();
  main.replaceChildren(RT.el('h1', {text: 'View changes'}));
  let data;
  try {
    data = await RT.getJSON('/api/v1/viewchanges?limit=20');
  } catch (err) {
    RT.showError(main, err);
    RT.ready('viewchanges-error');
    return;
  }
  const eps = data.episodes || [];
  if (!eps.length) main.append(RT.el('p', {class: 'muted', text: 'No view change seen since the collector started.'}));
  for (const e of eps) {
    const kv = RT.el('dl', {class: 'kv'});
    const add = (k, v, attrs) => kv.append(RT.el('dt', {text: k}), RT.el('dd', attrs || {}, v));
    add('views', `${e.old_view || 0} → ${e.new_view !== undefined ? e.new_view : '(none installed)'}` +
      ((e.attempted_views || []).length > 1 ? ` (attempted ${e.attempted_views.join(', ')})` : ''));
    add('primary', `${e.old_primary !== undefined ? 'r' + e.old_primary : '?'} → ${e.new_primary !== undefined ? 'r' + e.new_primary : '?'}`);
    add('triggered by', (e.triggered_by || []).map((r) => 'r' + r).join(', ') || '—');
    add('new view installed (2f+1)', e.installed_offset_ns !== undefined ? `+${RT.fmtNs(RT.num(e.installed_offset_ns))}` : 'not yet',
      {'data-field': 'installed_offset_ns', 'data-latency-ns': e.installed_offset_ns});
    add('no progress for', e.no_progress_ns !== undefined ? RT.fmtNs(RT.num(e.no_progress_ns)) : '—',
      {'data-field': 'no_progress_ns', 'data-latency-ns': e.no_progress_ns});
    add('last seq before / first after', `${e.last_seq_before !== undefined ? e.last_seq_before : '?'} / ${e.first_seq_after !== undefined ? e.first_seq_after : '?'}`);
    add('finished', e.finished ? 'yes' : 'no');
    main.append(RT.el('div', {class: 'panel episode', 'data-episode-id': e.id},
      RT.el('h2', {text: `Episode ${e.id} — ${e.start_time || ''}`}), kv,
      RT.el('div', {class: 'legend'}, RT.el('span', {text: '● view change started (red: triggered it)  ▭ in view change  ■ new view installed  green: new-view message  dashed: view-change votes'})),
      RT.drawEpisode(e)));
  }
  const an = data.anomalies || [];
  main.append(RT.el('div', {class: 'panel'}, RT.el('h2', {text: `Safety anomalies (${an.length})`}),
    an.length ? RT.el('ul', {}, an.map((a) => RT.el('li', {class: 'anomaly', 'data-seq': a.seq}, `${a.kind}: ${a.description}`))) :
      RT.el('p', {class: 'muted', text: 'None: no conflicting commits or pre-prepares seen.'})));
  RT.ready('viewchanges');
};
