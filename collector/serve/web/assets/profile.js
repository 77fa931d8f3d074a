// /profile: CPU profile (ResLens) of the traced replicas. An interactive
// flamegraph (click to zoom, regex search) built from the folded stacks of
// /api/v1/profile, beside a ranked table of functions (flat = samples with
// the function on top of the stack, cum = samples with it anywhere on the
// stack), filters by replica and PBFT phase, and downloads (pprof, folded,
// SVG, markdown) of exactly the window shown.
'use strict';

RT.parseFolded = function (text) {
  const root = {name: 'all', value: 0, self: 0, children: new Map(), depth: 0};
  const flat = new Map(), cum = new Map();
  for (const line of (text || '').split('\n')) {
    const sp = line.lastIndexOf(' ');
    if (sp <= 0) continue;
    const count = Number(line.slice(sp + 1));
    if (!(count > 0)) continue;
    const frames = line.slice(0, sp).split(';');
    root.value += count;
    let node = root;
    for (const f of frames) {
      let c = node.children.get(f);
      if (!c) { c = {name: f, value: 0, self: 0, children: new Map(), depth: node.depth + 1, parent: node}; node.children.set(f, c); }
      c.value += count;
      node = c;
    }
    node.self += count;
    const leaf = frames[frames.length - 1];
    flat.set(leaf, (flat.get(leaf) || 0) + count);
    for (const f of new Set(frames)) cum.set(f, (cum.get(f) || 0) + count);
  }
  const fns = [...cum.keys()].map((name) => ({name, flat: flat.get(name) || 0, cum: cum.get(name)}));
  return {root, fns, total: root.value};
};

RT.frameColor = function (name) {
  if (name.startsWith('[')) return '#b8bcc2';
  if (name.startsWith('pid ') || name.startsWith('phase ')) return '#9ec5fe';
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
  if (name.endsWith('_[k]')) return `hsl(${20 + (h % 20)}, 80%, ${62 + (h % 10)}%)`;
  return `hsl(${(h % 50)}, ${70 + (h % 20)}%, ${55 + (h % 12)}%)`;
};

RT.Flame = class {
  constructor(box, details) {
    this.box = box;
    this.details = details;
    this.focus = null;
    this.search = null;
  }

  setData(parsed) {
    this.data = parsed;
    this.focus = parsed.root;
    this.draw();
  }

  draw() {
    const {root, total} = this.data;
    const W = 900, rowH = 17;
    let maxDepth = 0;
    const walk = (n) => { maxDepth = Math.max(maxDepth, n.depth); for (const c of n.children.values()) walk(c); };
    walk(root);
    const H = (maxDepth + 1) * rowH + 4;
    const svg = RT.svg('svg', {id: 'flame-svg', viewBox: `0 0 ${W} ${H}`, width: '100%', height: H, 'data-total': total});
    const focus = this.focus;
    // Ancestors of the focus span the whole width.
    const chain = [];
    for (let n = focus; n; n = n.parent) chain.unshift(n);
    const re = this.search;
    let matched = 0;
    const drawNode = (n, x0, w, dim) => {
      if (w < 0.4) return;
      const y = H - (n.depth + 1) * rowH;
      const isMatch = re && n !== root && re.test(n.name);
      const g = RT.svg('g', {class: 'flame-frame' + (isMatch ? ' match' : '') + (dim ? ' dim' : ''),
        'data-name': n.name, 'data-samples': n.value, 'data-depth': n.depth,
        onclick: () => { this.focus = n; this.draw(); },
        onmouseover: () => { this.details.textContent = `${n.name} — ${n.value} samples (${(100 * n.value / (total || 1)).toFixed(2)}%), self ${n.self}`; }});
      g.append(RT.svg('rect', {x: x0, y, width: Math.max(0.5, w - 0.5), height: rowH - 1, rx: 1.5, fill: RT.frameColor(n.name)}),
        RT.tip(`${n.name}\n${n.value} samples (${(100 * n.value / (total || 1)).toFixed(2)}%)`));
      if (w > 36) {
        const chars = Math.floor((w - 6) / 6.4);
        const label = n.name.length > chars ? n.name.slice(0, Math.max(0, chars - 1)) + '…' : n.name;
        g.append(RT.svg('text', {x: x0 + 3, y: y + rowH - 5, text: label}));
      }
      svg.append(g);
    };
    for (const n of chain.slice(0, -1)) drawNode(n, 0, W, true);
    const scale = W / (focus.value || 1);
    const rec = (n, x0) => {
      if (n.value * scale < 0.4) return;  // too narrow to see, callees too
      drawNode(n, x0, n.value * scale, false);
      let x = x0;
      const kids = [...n.children.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const c of kids) { rec(c, x); x += c.value * scale; }
    };
    rec(focus, 0);
    // Samples under a match (the outermost match on each path), in view.
    const count = (n) => {
      if (re && n !== root && re.test(n.name)) { matched += n.value; return; }
      for (const c of n.children.values()) count(c);
    };
    if (re) count(focus);
    this.box.replaceChildren(svg);
    const info = document.getElementById('flame-info');
    if (info) {
      info.replaceChildren(
        focus !== root ? RT.el('button', {type: 'button', id: 'flame-reset', onclick: () => { this.focus = root; this.draw(); }, text: 'Reset zoom'}) : '',
        focus !== root ? ` zoomed to ${focus.name} (${focus.value} samples) ` : '',
        re ? RT.el('span', {id: 'flame-matched', 'data-samples': matched, text: ` matched ${matched} samples (${(100 * matched / (total || 1)).toFixed(2)}%)`}) : '');
    }
  }
};

RT.renderProfile = async function () {
  const main = RT.main();
  const params = new URLSearchParams(location.search);
  const state = {
    replica: params.get('replica') || '',
    phase: params.get('phase') || '',
    last: params.get('last') || '30',
    split: params.get('split') || '',
  };
  const sel = (id, options, value) => RT.el('select', {id}, options.map(([v, label]) => RT.el('option', {value: v, selected: v === value, text: label})));
  main.replaceChildren(
    RT.el('h1', {text: 'CPU profile'}),
    RT.el('form', {class: 'controls panel', id: 'profile-controls'},
      RT.el('label', {}, 'replica ', sel('f-replica', [['', 'all replicas']].concat(state.replica ? [[state.replica, `replica ${state.replica}`]] : []), state.replica)),
      RT.el('label', {}, 'phase ', sel('f-phase', [['', 'all phases'], ['pre_prepare', 'pre-prepare'], ['prepare', 'prepare'],
        ['commit', 'commit'], ['execute', 'execute'], ['request', 'request'], ['none', 'no hook yet']], state.phase)),
      RT.el('label', {}, 'window ', sel('f-last', [['10', 'last 10 s'], ['30', 'last 30 s'], ['60', 'last 60 s'], ['300', 'last 5 min'], ['3600', 'last hour']], state.last)),
      RT.el('label', {}, RT.el('input', {type: 'checkbox', id: 'f-split', checked: state.split === 'pid'}), ' one tower per process'),
      RT.el('button', {type: 'submit', text: 'Load'}),
      RT.el('span', {class: 'downloads', id: 'downloads'})),
    RT.el('div', {id: 'profile-summary', class: 'muted'}),
    RT.el('div', {class: 'flame-wrap'},
      RT.el('div', {class: 'panel'},
        RT.el('div', {class: 'controls'}, RT.el('label', {}, 'search ', RT.el('input', {id: 'flame-search', size: 30, placeholder: 'regex, e.g. Prepare|commit'})),
          RT.el('span', {id: 'flame-info'})),
        RT.el('div', {class: 'details', id: 'flame-details'}),
        RT.el('div', {id: 'flamegraph'})),
      RT.el('div', {class: 'panel'},
        RT.el('h2', {text: 'Top functions'}),
        RT.el('div', {class: 'fn-table'}, RT.el('table', {id: 'fn-table'},
          RT.el('thead', {}, RT.el('tr', {},
            RT.el('th', {class: 'num sortable', 'data-sort': 'flat', text: 'flat'}), RT.el('th', {class: 'num', text: 'flat %'}),
            RT.el('th', {class: 'num sortable', 'data-sort': 'cum', text: 'cum'}), RT.el('th', {class: 'num', text: 'cum %'}),
            RT.el('th', {text: 'function'}))),
          RT.el('tbody', {id: 'fn-body'}))),
        RT.el('h2', {text: 'Samples by phase'}), RT.el('table', {id: 'phase-table'}))));
  const flame = new RT.Flame(document.getElementById('flamegraph'), document.getElementById('flame-details'));
  let sortKey = 'flat';
  let parsed = null;
  const drawTable = () => {
    if (!parsed) return;
    const rows = parsed.fns.slice().sort((a, b) => b[sortKey] - a[sortKey] || (a.name < b.name ? -1 : 1)).slice(0, 200);
    const pct = (v) => (100 * v / (parsed.total || 1)).toFixed(2);
    document.getElementById('fn-body').replaceChildren(...rows.map((f, i) => RT.el('tr', {
      class: 'fn-row', 'data-rank': i + 1, 'data-name': f.name, 'data-flat': f.flat, 'data-cum': f.cum,
      onclick: (ev) => {
        document.querySelectorAll('#fn-body tr.sel').forEach((r) => r.classList.remove('sel'));
        ev.currentTarget.classList.add('sel');
        const s = document.getElementById('flame-search');
        s.value = '^' + f.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '$';
        s.dispatchEvent(new Event('input'));
      }},
    RT.el('td', {class: 'num', text: f.flat}), RT.el('td', {class: 'num', text: pct(f.flat)}),
    RT.el('td', {class: 'num', text: f.cum}), RT.el('td', {class: 'num', text: pct(f.cum)}),
    RT.el('td', {class: 'name', title: f.name, text: f.name}))));
    document.querySelectorAll('#fn-table th.sortable').forEach((th) => { th.textContent = th.dataset.sort + (th.dataset.sort === sortKey ? ' ▼' : ''); });
  };
  document.querySelectorAll('#fn-table th.sortable').forEach((th) => th.addEventListener('click', () => { sortKey = th.dataset.sort; drawTable(); }));
  document.getElementById('flame-search').addEventListener('input', (ev) => {
    const v = ev.target.value;
    try { flame.search = v ? new RegExp(v) : null; } catch (e) { flame.search = null; }
    if (flame.data) flame.draw();
  });

  const query = () => {
    const q = new URLSearchParams();
    if (state.replica) q.set('replica', state.replica);
    if (state.phase) q.set('phase', state.phase);
    if (state.split) q.set('split', state.split);
    return q;
  };
  const load = async () => {
    const q = query();
    q.set('last', state.last);
    history.replaceState(null, '', '/profile?' + q.toString());
    document.getElementById('profile-summary').textContent = 'Loading…';
    let p;
    try {
      p = await RT.getJSON('/api/v1/profile?' + q.toString());
    } catch (err) {
      document.getElementById('profile-summary').replaceChildren();
      RT.showError(document.getElementById('profile-summary'), err);
      RT.ready('profile-error');
      return;
    }
    parsed = RT.parseFolded(p.folded || '');
    const c = p.counters || {};
    const procs = p.processes || [];
    const repSel = document.getElementById('f-replica');
    const known = new Set([...repSel.options].map((o) => o.value));
    for (const pr of procs) {
      if (pr.replica_id !== undefined && !known.has(String(pr.replica_id))) {
        repSel.append(RT.el('option', {value: pr.replica_id, text: `replica ${pr.replica_id}`}));
        known.add(String(pr.replica_id));
      }
    }
    const summary = document.getElementById('profile-summary');
    summary.dataset.samples = c.samples || 0;
    summary.textContent = `${RT.fmtCount(Number(c.samples || 0))} samples at ${p.frequency_hz || 0} Hz from ` +
      `${procs.map((pr) => `pid ${pr.pid}${pr.replica_id !== undefined ? ' (r' + pr.replica_id + ')' : ''}`).join(', ') || 'no process'}` +
      ` · ${p.range ? `${p.range.start} → ${p.range.end}` : ''}` +
      ` · lost stacks ${Number(c.lost_user_stacks || 0) + Number(c.lost_kernel_stacks || 0)}, dropped ${c.dropped_samples || 0}, truncated ${c.truncated_stacks || 0}`;
    document.getElementById('phase-table').replaceChildren(...(p.phases || []).map((ph) =>
      RT.el('tr', {class: 'phase-samples', 'data-phase': ph.name, 'data-samples': ph.samples},
        RT.el('td', {text: ph.name}), RT.el('td', {class: 'num', text: RT.fmtCount(Number(ph.samples || 0))}))));
    // Downloads of exactly this window.
    const d = query();
    if (p.range && p.range.start) d.set('from', p.range.start);
    if (p.range && p.range.end) d.set('to', p.range.end);
    if (!(p.range && p.range.start && p.range.end)) d.set('last', state.last);
    document.getElementById('downloads').replaceChildren('download: ',
      ...[['pprof', 'pprof (.pb.gz)'], ['folded', 'folded'], ['svg', 'SVG'], ['md', 'summary (.md)']].map(([f, label]) => {
        const q2 = new URLSearchParams(d);
        q2.set('format', f);
        return RT.el('a', {href: '/api/v1/profile?' + q2.toString(), download: '', 'data-format': f, text: label});
      }));
    flame.setData(parsed);
    drawTable();
    RT.ready('profile');
  };
  document.getElementById('profile-controls').addEventListener('submit', (ev) => {
    ev.preventDefault();
    state.replica = document.getElementById('f-replica').value;
    state.phase = document.getElementById('f-phase').value;
    state.last = document.getElementById('f-last').value;
    state.split = document.getElementById('f-split').checked ? 'pid' : '';
    load();
  });
  await load();
};
