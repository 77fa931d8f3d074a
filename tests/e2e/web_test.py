#!/usr/bin/env python3
"""The web view (--http-listen) in a real browser against the traced demo
PBFT cluster: headless Chromium (Debian's package) loads the pages, and the
DOM must agree with the collector's own answers.

  web_test.py COLLECTOR CLI DEMO_DIR CLUSTER_SH

* HTTP: the pages and assets are served from the binary, with a CSP; bad
  query parameters are 400 with a JSON error, an unknown seq is 404, a
  foreign Host header is 403 (DNS rebinding).
* /: while the cluster runs, the live view lists timelines from the SSE
  stream, draws per-phase latency series and the drop counters.
* /timeline/<seq>: one lane per replica, an arrow per pre-prepare / prepare /
  commit message between replicas (counted against the timeline's marks),
  marks and quorum moments, and every number (commit / execute latency,
  stage offsets) equal to /api/v1/timelines/<seq> and to GetTimeline through
  `resdb-trace timeline SEQ --json`.
* /viewchanges: the primary's crash is drawn as one episode.
* A second collector traces without the commit_sent hook while the primary
  stalls: the diagram shows the LOST sends (commit arrows unmatched) and the
  stalled replica's NOT_REACHED stages on a lane of its own.
* /profile: a flamegraph and a ranked table whose flat / cum counts equal
  the folded stacks of the same window, downloaded through the page's link;
  click-zoom and search work.

Chromium is driven over its DevTools protocol on a pipe
(--remote-debugging-pipe: NUL-separated JSON on fds 3 and 4), so the test
needs nothing beyond Python's standard library. Screenshots go to
$TEST_UNDECLARED_OUTPUTS_DIR (web-live.png, web-timeline.png,
web-viewchanges.png, web-profile.png).
"""
import base64
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

collector, cli, demo_dir, cluster_sh = map(os.path.abspath, sys.argv[1:5])
DEADLINE = time.monotonic() + 240
PROCS = []
OUT = os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR") or tempfile.mkdtemp()


def fail(msg):
    print(f"FAIL: {msg}", flush=True)
    sys.exit(1)


def log(msg):
    print(f"web_test: {msg}", flush=True)


def left():
    return DEADLINE - time.monotonic()


def check(cond, msg):
    if not cond:
        fail(msg)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(argv, logfile, **kw):
    out = open(logfile, "wb")
    p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, **kw)
    PROCS.append(p)
    return p


def stop_all():
    for p in PROCS:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in PROCS:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def tail(path, n=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return "(no log)"


def http(url, headers=None):
    """(status, content type, body bytes, headers) of a GET."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read(), e.headers


def get_json(url):
    status, ctype, body, _ = http(url)
    check(status == 200, f"GET {url}: {status} {body[:300]!r}")
    check(ctype.startswith("application/json"), f"GET {url}: type {ctype}")
    return json.loads(body)


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    fail("no chromium on PATH: install Debian's package (scripts/setup.sh "
         "does: apt-get install chromium)")


class Browser:
    """Headless Chromium over the DevTools protocol on a pipe."""

    def __init__(self, tmp):
        self.chromium = find_chromium()
        r3, w3 = os.pipe()  # we write commands, chromium reads fd 3
        r4, w4 = os.pipe()  # chromium writes fd 4, we read
        # The child's ends go above 9 so that moving them to 3 and 4 cannot
        # clobber one another.
        for name in ("r3", "w4"):
            fd = locals()[name]
            high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
            os.close(fd)
            if name == "r3":
                r3 = high
            else:
                w4 = high
        self.profile_dir = tempfile.mkdtemp(prefix="chromium.", dir=tmp)

        # bash moves the pipe ends to fds 3 and 4 and execs chromium.
        args = ["--headless", "--no-sandbox", "--disable-gpu",
                "--remote-debugging-pipe", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--mute-audio",
                f"--user-data-dir={self.profile_dir}", "about:blank"]
        self.log = os.path.join(tmp, "chromium.log")
        self.proc = start(
            ["/bin/bash", "-c",
             f'exec "$0" "$@" 3<&{r3} 4>&{w4} {r3}<&- {w4}>&-',
             self.chromium] + args, self.log, pass_fds=(r3, w4))
        os.close(r3)
        os.close(w4)
        self.out = os.fdopen(w3, "wb", buffering=0)
        self.inp = os.fdopen(r4, "rb", buffering=0)
        self.buf = b""
        self.next_id = 0
        self.exceptions = []
        target = self.call("Target.createTarget", {"url": "about:blank"})
        self.session = self.call("Target.attachToTarget",
                                 {"targetId": target["targetId"],
                                  "flatten": True})["sessionId"]
        for m in ("Page.enable", "Runtime.enable"):
            self.call(m, session=True)
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": 1400, "height": 1000, "deviceScaleFactor": 1,
                   "mobile": False}, session=True)

    def _read_message(self):
        while b"\0" not in self.buf:
            chunk = self.inp.read(65536)
            if not chunk:
                fail("chromium closed its DevTools pipe:\n" + tail(self.log))
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, session=False):
        self.next_id += 1
        cmd = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            cmd["sessionId"] = self.session
        self.out.write(json.dumps(cmd).encode() + b"\0")
        while True:
            m = self._read_message()
            if m.get("method") == "Runtime.exceptionThrown":
                d = m["params"]["exceptionDetails"]
                self.exceptions.append(
                    d.get("exception", {}).get("description") or d.get("text"))
            if m.get("id") == self.next_id:
                if "error" in m:
                    fail(f"devtools {method}: {m['error']}")
                return m.get("result", {})

    def eval(self, expr):
        r = self.call("Runtime.evaluate",
                      {"expression": expr, "returnByValue": True,
                       "awaitPromise": True}, session=True)
        if "exceptionDetails" in r:
            fail(f"evaluating {expr[:80]}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def open(self, url, ready, timeout=30):
        """Navigates and waits until the page sets body[data-ready]."""
        self.exceptions = []
        self.call("Page.navigate", {"url": url}, session=True)
        end = time.monotonic() + timeout
        got = None
        while time.monotonic() < end:
            got = self.eval("document.body && document.body.dataset.ready")
            if got and got.startswith(ready):
                break
            time.sleep(0.1)
        if got != ready:
            shown = self.eval("[...document.querySelectorAll('.error')]"
                              ".map((e) => e.textContent).join('; ')")
            fail(f"{url}: page state {got!r}, want {ready!r}; page errors: "
                 f"{shown!r}; exceptions: {self.exceptions}")
        check(not self.exceptions, f"{url}: JavaScript exceptions: "
              f"{self.exceptions}")

    def screenshot(self, name):
        metrics = self.call("Page.getLayoutMetrics", session=True)
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        shot = self.call("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": 1400,
                     "height": min(4000, size["height"]), "scale": 1}},
            session=True)
        path = os.path.join(OUT, name)
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        log(f"screenshot {path}")

    def close(self):
        try:
            self.call("Browser.close")
        except SystemExit:
            pass


def check_http(base):
    status, ctype, body, headers = http(base + "/")
    check(status == 200 and ctype.startswith("text/html"),
          f"/: {status} {ctype}")
    check(b"/static/app.js" in body, "/ does not load app.js")
    csp = headers.get("Content-Security-Policy", "")
    check("default-src 'self'" in csp, f"/: CSP {csp!r}")
    for page in ("/timeline/5", "/viewchanges", "/profile"):
        status, ctype, _, _ = http(base + page)
        check(status == 200 and ctype.startswith("text/html"),
              f"{page}: {status} {ctype}")
    for asset, ctype_want in (("/static/app.js", "text/javascript"),
                              ("/static/style.css", "text/css")):
        status, ctype, body, _ = http(base + asset)
        check(status == 200 and ctype.startswith(ctype_want) and body,
              f"{asset}: {status} {ctype}")
    for url, want in (("/api/v1/timelines?limit=abc", 400),
                      ("/api/v1/timelines?bogus=1", 400),
                      ("/api/v1/timelines/abc", 400),
                      ("/api/v1/timelines/987654321", 404),
                      ("/api/v1/profile?format=gif", 400),
                      ("/api/v1/profile?phase=nonsense", 400),
                      ("/api/v1/stream?stats_ms=1", 400),
                      ("/api/v1/nothing", 404),
                      ("/nothing", 404),
                      ("/timeline/abc", 404)):
        status, ctype, body, _ = http(base + url)
        check(status == want, f"{url}: {status}, want {want}: {body[:200]!r}")
        if url.startswith("/api/"):
            err = json.loads(body)["error"]
            check(err["code"] == want and err["message"],
                  f"{url}: error body {err}")
    status, _, body, _ = http(base + "/api/v1/stats",
                              {"Host": "attacker.example:80"})
    check(status == 403, f"foreign Host: {status} {body[:200]!r}")
    log("HTTP checks passed")


def check_live(browser, base):
    browser.open(base + "/", "live")
    end = time.monotonic() + 20
    while time.monotonic() < end:
        state = browser.eval("""({
            rows: document.querySelectorAll('#recent-body tr.timeline-row').length,
            conn: document.getElementById('conn').className,
            series: document.querySelectorAll('#latency-chart polyline.series').length,
            bars: document.querySelectorAll('#throughput-chart rect.tp-bar').length,
            drops: document.querySelectorAll('#drops-box tr[data-drop]').length,
            complete: Number(document.getElementById('card-timelines').dataset.complete),
            phaseBars: document.querySelectorAll('#recent-body rect.phase-bar').length,
        })""")
        if (state["rows"] > 0 and "open" in state["conn"]
                and state["series"] >= 6 and state["complete"] > 0):
            break
        time.sleep(0.3)
    log(f"live view: {state}")
    check(state["rows"] > 0, f"live view lists no timelines: {state}")
    check("open" in state["conn"], f"live stream not connected: {state}")
    check(state["series"] >= 6, f"latency series missing: {state}")
    check(state["bars"] > 0, f"no throughput bars: {state}")
    check(state["drops"] == 6, f"drop counters: {state}")
    check(state["phaseBars"] >= state["rows"], f"phase bars: {state}")
    # Rows that arrived over the stream link to their diagrams.
    href = browser.eval("document.querySelector('#recent-body tr.timeline-row "
                        "a').getAttribute('href')")
    check(href.startswith("/timeline/"), f"row link {href}")
    browser.screenshot("web-live.png")


def send_recv_counts(t):
    """Per phase: messages between two different replicas the timeline
    received (each must be an arrow)."""
    kinds = {"pre-prepare": "EVENT_TYPE_PRE_PREPARE_RECEIVED",
             "prepare": "EVENT_TYPE_PREPARE_RECEIVED",
             "commit": "EVENT_TYPE_COMMIT_RECEIVED"}
    out = {}
    for cls, typ in kinds.items():
        n = 0
        for r in t["replicas"]:
            for m in r.get("marks", []):
                if (m["type"] == typ and "peer" in m
                        and m["peer"] != r["replica_id"]):
                    n += 1
        out[cls] = n
    return out


def check_timeline(browser, base, sock, seq):
    t = get_json(f"{base}/api/v1/timelines/{seq}")
    grpc_t = json.loads(subprocess.run(
        [cli, "--listen", sock, "timeline", str(seq), "--json"],
        capture_output=True, text=True, check=True).stdout)
    for f in ("commit_latency_ns", "execute_latency_ns", "duration_ns",
              "state", "primary"):
        check(t.get(f) == grpc_t.get(f),
              f"seq {seq} {f}: web API {t.get(f)} vs GetTimeline "
              f"{grpc_t.get(f)}")
    browser.open(f"{base}/timeline/{seq}", "timeline")
    dom = browser.eval("""(() => {
        const q = (s) => [...document.querySelectorAll(s)];
        const arrows = {};
        for (const k of ['pre-prepare', 'prepare', 'commit'])
          arrows[k] = q('svg.timeline-diagram path.arrow.' + k).length;
        const latency = {};
        for (const e of q('[data-field][data-latency-ns]'))
          latency[e.dataset.field] = e.dataset.latencyNs;
        const cells = {};
        for (const e of q('tr.replica-row td[data-field][data-ns]'))
          cells[e.closest('tr').dataset.replica + ':' + e.dataset.field] = e.dataset.ns;
        return {
          lanes: q('svg.timeline-diagram g.lane.replica:not(.ghost)').map((g) => Number(g.dataset.replica)),
          primary: q('g.lane.replica[data-primary="true"]').map((g) => Number(g.dataset.replica)),
          arrows, latency, cells,
          quorumVotes: q('path.arrow.quorum-vote').length,
          quorums: q('circle.quorum').map((c) => c.getAttribute('class') + '@' + c.dataset.replica + '=' + c.dataset.formedNs),
          marks: {
            prepared: q('g.mark.prepared').length, committed: q('g.mark.committed').length,
            executed: q('g.mark.executed').length, replied: q('g.mark.replied').length,
          },
          missing: q('g.missing').length,
          state: document.querySelector('[data-field="state"]').textContent,
        };
    })()""")
    log(f"timeline {seq}: lanes {dom['lanes']}, arrows {dom['arrows']}, "
        f"marks {dom['marks']}, quorum votes {dom['quorumVotes']}")
    want_lanes = sorted(r["replica_id"] for r in t["replicas"])
    check(dom["lanes"] == want_lanes,
          f"lanes {dom['lanes']}, replicas in the timeline {want_lanes}")
    check(len(want_lanes) == 4, f"seq {seq}: {len(want_lanes)} replicas")
    check(dom["primary"] == [t["primary"]],
          f"primary lane {dom['primary']} vs {t['primary']}")
    want_arrows = send_recv_counts(t)
    check(dom["arrows"] == want_arrows,
          f"arrows {dom['arrows']}, messages received {want_arrows}")
    for k, v in want_arrows.items():
        check(v > 0, f"no {k} messages in seq {seq}")
    for f in ("commit_latency_ns", "execute_latency_ns", "duration_ns"):
        check(dom["latency"].get(f) == grpc_t[f],
              f"{f}: page {dom['latency'].get(f)}, GetTimeline {grpc_t[f]}")
    if t.get("requests") and "latency_ns" in t["requests"][0]:
        check(dom["latency"].get("client_latency_ns") ==
              t["requests"][0]["latency_ns"], "client latency differs")
    for r in grpc_t["replicas"]:
        for f in ("pre_prepare_offset_ns", "prepared_offset_ns",
                  "committed_offset_ns", "execute_end_offset_ns",
                  "reply_sent_offset_ns"):
            key = f"{r['replica_id']}:{f}"
            check(dom["cells"].get(key) == r.get(f),
                  f"r{r['replica_id']} {f}: page {dom['cells'].get(key)}, "
                  f"GetTimeline {r.get(f)}")
    for name, field in (("prepared", "prepared_offset_ns"),
                        ("committed", "committed_offset_ns"),
                        ("executed", "execute_end_offset_ns"),
                        ("replied", "reply_sent_offset_ns")):
        n = sum(1 for r in t["replicas"] if field in r)
        check(dom["marks"][name] == n, f"{name} marks {dom['marks'][name]}, "
              f"replicas with {field}: {n}")
    want_q = sorted(
        f"quorum {ph}@{r['replica_id']}={r[ph + '_quorum']['formed_offset_ns']}"
        for r in t["replicas"] for ph in ("prepare", "commit")
        if "formed_offset_ns" in r.get(ph + "_quorum", {}))
    check(sorted(dom["quorums"]) == want_q,
          f"quorum moments {dom['quorums']} vs {want_q}")
    check(dom["quorumVotes"] > 0, "no vote is marked as forming a quorum")
    check(dom["missing"] == 0 and t["state"] == "TIMELINE_STATE_COMPLETE",
          f"seq {seq}: {dom['missing']} missing marks, state {t['state']}")
    browser.screenshot("web-timeline.png")


def check_viewchanges(browser, base):
    vc = get_json(base + "/api/v1/viewchanges")
    check(len(vc.get("episodes", [])) == 1,
          f"episodes: {vc.get('episodes')}")
    ep = vc["episodes"][0]
    browser.open(base + "/viewchanges", "viewchanges")
    dom = browser.eval("""({
        episodes: [...document.querySelectorAll('svg.episode-diagram')].map((s) => s.dataset.episodeId),
        lanes: document.querySelectorAll('svg.episode-diagram g.lane.replica:not(.ghost)').length,
        oldPrimary: [...document.querySelectorAll('svg.episode-diagram g.lane.old-primary')].map((g) => Number(g.dataset.replica)),
        installed: (document.querySelector('[data-field="installed_offset_ns"]') || {dataset: {}}).dataset.latencyNs,
        noProgress: (document.querySelector('[data-field="no_progress_ns"]') || {dataset: {}}).dataset.latencyNs,
        newView: document.querySelectorAll('g.new-view').length,
    })""")
    log(f"view changes: {dom}")
    check(dom["episodes"] == [ep["id"]], f"episodes drawn {dom['episodes']}")
    check(dom["lanes"] == len(ep["replicas"]), f"episode lanes {dom}")
    # The crashed primary reports nothing, and is drawn as such.
    check(dom["oldPrimary"] == [ep["old_primary"]] == [1],
          f"old primary lane {dom['oldPrimary']}, episode {ep.get('old_primary')}")
    check(dom["installed"] == ep.get("installed_offset_ns"),
          f"installed {dom['installed']} vs {ep.get('installed_offset_ns')}")
    check(dom["noProgress"] == ep.get("no_progress_ns"),
          f"no progress {dom['noProgress']} vs {ep.get('no_progress_ns')}")
    check(dom["newView"] == 1, "the new-view message is not drawn")
    browser.screenshot("web-viewchanges.png")


def fold(text):
    """flat / cum per function of folded stacks (as the page computes)."""
    flat, cum, total = {}, {}, 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        flat[frames[-1]] = flat.get(frames[-1], 0) + n
        for f in set(frames):
            cum[f] = cum.get(f, 0) + n
    return flat, cum, total


def check_profile(browser, base):
    browser.open(base + "/profile?last=60", "profile")
    dom = browser.eval("""({
        total: Number(document.getElementById('flame-svg').dataset.total),
        frames: document.querySelectorAll('#flame-svg g.flame-frame').length,
        rows: [...document.querySelectorAll('#fn-body tr.fn-row')].slice(0, 15).map((r) =>
          [r.dataset.name, Number(r.dataset.flat), Number(r.dataset.cum)]),
        folded: document.querySelector('#downloads a[data-format="folded"]').getAttribute('href'),
        links: [...document.querySelectorAll('#downloads a')].map((a) => a.dataset.format),
        phases: document.querySelectorAll('#phase-table tr.phase-samples').length,
    })""")
    log(f"profile: {dom['total']} samples, {dom['frames']} frames drawn, "
        f"top {dom['rows'][:3]}")
    check(dom["total"] > 20, f"profile has {dom['total']} samples")
    check(dom["frames"] > 5, f"flamegraph frames {dom['frames']}")
    check(dom["links"] == ["pprof", "folded", "svg", "md"],
          f"download links {dom['links']}")
    check(dom["phases"] > 0, "no phase breakdown")
    status, ctype, body, headers = http(base + dom["folded"])
    check(status == 200 and "attachment" in headers.get(
        "Content-Disposition", ""), f"folded download: {status}")
    flat, cum, total = fold(body.decode())
    check(total == dom["total"],
          f"the page shows {dom['total']} samples, its folded download "
          f"{total}")
    for name, f, c in dom["rows"]:
        check(flat.get(name, 0) == f and cum.get(name) == c,
              f"{name}: page flat {f} cum {c}, folded {flat.get(name, 0)} "
              f"{cum.get(name)}")
    ranked = sorted(flat.values(), reverse=True)[:len(dom["rows"])]
    check([r[1] for r in dom["rows"]] == ranked,
          f"table not ranked by flat: {[r[1] for r in dom['rows']]}")
    for fmt, magic in (("svg", b"<svg"), ("pprof", b"\x1f\x8b"),
                       ("md", b"#")):
        href = browser.eval(f"document.querySelector('#downloads "
                            f"a[data-format=\"{fmt}\"]').getAttribute('href')")
        status, _, body, _ = http(base + href)
        check(status == 200 and magic in body[:200],
              f"{fmt} download: {status} {body[:40]!r}")
    # Search highlights; a click zooms into a frame.
    top = dom["rows"][0][0]
    zoom = browser.eval(r"""(() => {
        const name = %s;
        const s = document.getElementById('flame-search');
        s.value = '^' + name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '$';
        s.dispatchEvent(new Event('input'));
        const matched = Number(document.getElementById('flame-matched').dataset.samples);
        const frames = [...document.querySelectorAll('#flame-svg g.flame-frame:not(.dim)')];
        const target = frames.filter((g) => Number(g.dataset.depth) === 1)
          .sort((a, b) => b.dataset.samples - a.dataset.samples)[0];
        target.dispatchEvent(new MouseEvent('click', {bubbles: true}));
        return {matched, name: target.dataset.name, samples: Number(target.dataset.samples),
          reset: !!document.getElementById('flame-reset'),
          root: [...document.querySelectorAll('#flame-svg g.flame-frame:not(.dim)')][0].dataset.name};
    })()""" % json.dumps(top))
    log(f"profile search/zoom: {zoom}")
    check(zoom["matched"] == cum[top],
          f"search '{top}' matched {zoom['matched']}, cum {cum[top]}")
    check(zoom["reset"] and zoom["root"] == zoom["name"],
          f"click did not zoom: {zoom}")
    browser.eval("document.getElementById('flame-reset').click()")
    browser.screenshot("web-profile.png")


# Every stage hook but commit_sent: each commit a replica receives then
# proves a send the trace lost.
HOOKS_WITHOUT_COMMIT_SENT = (
    "client_batch_sent,request_received,pre_prepare_sent,pre_prepare_received,"
    "prepare_sent,prepare_received,prepared,commit_received,committed,"
    "execute_start,execute_end,reply_sent,reply_to_client,view_change_started,"
    "view_change_received,new_view_sent,new_view_installed")


def check_missing(browser, base):
    lst = get_json(base + "/api/v1/timelines?incomplete_only=1&limit=300")
    pick = None
    for t in lst["timelines"]:
        reasons = {m["reason"] for m in t["completeness"].get("missing", [])}
        if reasons == {"MISSING_REASON_LOST", "MISSING_REASON_NOT_REACHED"}:
            pick = t
            break
    if pick is None:
        seen = {}
        for t in lst["timelines"]:
            for m in t["completeness"].get("missing", []):
                k = (m["replica_id"], m["type"], m["reason"])
                seen[k] = seen.get(k, 0) + 1
        fail("no timeline with both LOST and NOT_REACHED events among "
             f"{len(lst['timelines'])} incomplete ones: {seen}")
    seq = pick["seq"]
    browser.open(f"{base}/timeline/{seq}", "timeline")
    dom = browser.eval("""(() => {
        const q = (s) => [...document.querySelectorAll(s)];
        return {
          lanes: q('g.lane.replica').map((g) => Number(g.dataset.replica)),
          ghosts: q('g.lane.replica.ghost').map((g) => Number(g.dataset.replica)),
          missing: q('g.missing').map((g) => g.dataset.replica + ':' + g.dataset.type + ':' + g.dataset.reason),
          listed: q('ul.missing-list li').length,
          commit: q('path.arrow.commit').length,
          unmatched: q('path.arrow.commit.unmatched').length,
          state: document.querySelector('[data-field="state"]').textContent,
        };
    })()""")
    log(f"timeline {seq} (incomplete): {dom['lanes']} lanes, ghosts "
        f"{dom['ghosts']}, {len(dom['missing'])} missing marks")
    missing = pick["completeness"]["missing"]
    seen = sorted(r["replica_id"] for r in pick["replicas"])
    ghosts = sorted({m["replica_id"] for m in missing} - set(seen))
    check(dom["lanes"] == seen + ghosts and dom["ghosts"] == ghosts,
          f"lanes {dom['lanes']} ghosts {dom['ghosts']}: replicas {seen}, "
          f"only missing {ghosts}")
    check(len(dom["lanes"]) == 4, f"lanes {dom['lanes']}")
    # Up to three marks per lane, in the timeline's order.
    want, per = [], {}
    for m in missing:
        per[m["replica_id"]] = per.get(m["replica_id"], 0) + 1
        if per[m["replica_id"]] <= 3:
            want.append(f"{m['replica_id']}:"
                        f"{m['type'].replace('EVENT_TYPE_', '').lower()}:"
                        f"{m['reason']}")
    check(dom["missing"] == want, f"missing marks {dom['missing']}, want "
          f"{want}")
    check(dom["listed"] == len(missing), f"missing list {dom['listed']}")
    # No commit send is traced: every commit arrow is drawn unmatched.
    full = get_json(f"{base}/api/v1/timelines/{seq}")
    want_commit = send_recv_counts(full)["commit"]
    check(want_commit > 0 and dom["commit"] == want_commit ==
          dom["unmatched"], f"commit arrows {dom}, receipts {want_commit}")
    check(dom["state"] == "INCOMPLETE", f"state {dom['state']}")
    browser.screenshot("web-timeline-missing.png")


def main():
    tmp = tempfile.mkdtemp(prefix="web_e2e.", dir=os.environ.get("TEST_TMPDIR"))
    sock_dir = tempfile.mkdtemp(prefix="rt-web.", dir="/tmp")
    sock = f"unix://{sock_dir}/collector.sock"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    ready = os.path.join(tmp, "ready")
    coll_log = os.path.join(tmp, "collector.log")
    coll = start([collector, "--binary", f"{demo_dir}/replica",
                  "--binary", f"{demo_dir}/client", "--listen", sock,
                  "--ready-file", ready, "--timeline-idle-ms", "1000",
                  "--profile", "--http-listen", f"127.0.0.1:{port}"],
                 coll_log)
    while not os.path.exists(ready):
        if coll.poll() is not None or left() < 200:
            fail("collector did not start:\n" + tail(coll_log))
        time.sleep(0.05)
    check_http(base)
    browser = Browser(tmp)
    cluster = start(["/bin/bash", cluster_sh, "--bin_dir", demo_dir,
                     "--count", "3000", "--rate", "300", "--concurrency",
                     "4", "--fault", "1:crash_primary_after=1500", "--out",
                     os.path.join(tmp, "cluster"), "--settle_s", "1"],
                    os.path.join(tmp, "cluster.log"))
    # The live view and the profile while requests flow.
    end = time.monotonic() + 30
    while get_json(base + "/api/v1/stats").get("timelines", {}).get(
            "complete", "0") in ("0", 0):
        check(time.monotonic() < end and cluster.poll() is None,
              "no timeline completed:\n" + tail(coll_log))
        time.sleep(0.2)
    time.sleep(2)
    check_profile(browser, base)
    check_live(browser, base)
    try:
        rc = cluster.wait(timeout=max(10, left() - 60))
    except subprocess.TimeoutExpired:
        fail("cluster did not finish:\n" +
             tail(os.path.join(tmp, "cluster.log")))
    check(rc == 0, f"cluster failed:\n{tail(os.path.join(tmp, 'cluster.log'))}")
    time.sleep(2)  # the last timelines close (idle 1 s)
    # A request before the crash: every replica took part.
    check_timeline(browser, base, sock, 750)
    check_viewchanges(browser, base)

    # Losses and a stalled replica, as the diagram shows them.
    coll.send_signal(signal.SIGINT)
    coll.wait(timeout=20)
    port2 = free_port()
    base2 = f"http://127.0.0.1:{port2}"
    ready2 = os.path.join(tmp, "ready2")
    coll2_log = os.path.join(tmp, "collector2.log")
    coll2 = start([collector, "--binary", f"{demo_dir}/replica",
                   "--binary", f"{demo_dir}/client", "--listen",
                   f"unix://{sock_dir}/collector2.sock", "--ready-file",
                   ready2, "--timeline-idle-ms", "1000", "--hooks",
                   HOOKS_WITHOUT_COMMIT_SENT, "--http-listen",
                   f"127.0.0.1:{port2}"], coll2_log)
    while not os.path.exists(ready2):
        if coll2.poll() is not None or left() < 60:
            fail("second collector did not start:\n" + tail(coll2_log))
        time.sleep(0.05)
    run = subprocess.run(["/bin/bash", cluster_sh, "--bin_dir", demo_dir,
                          "--count", "300", "--rate", "300", "--concurrency",
                          "4", "--fault", "1:stall_primary_after=100",
                          "--out", os.path.join(tmp, "cluster2"),
                          # The stalled replica stays alive until every
                          # timeline closed (idle 1 s): its stages are then
                          # NOT_REACHED, not excused by its exit.
                          "--settle_s", "3"],
                         capture_output=True, text=True, timeout=max(10, left() - 20))
    check(run.returncode == 0, f"second cluster failed:\n{run.stdout[-2000:]}"
          f"\n{run.stderr[-2000:]}")
    time.sleep(2.5)
    check_missing(browser, base2)
    browser.close()
    log(f"all checks passed with {left():.0f} s to spare")


if __name__ == "__main__":
    try:
        main()
    finally:
        stop_all()
