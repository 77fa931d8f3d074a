#!/usr/bin/env python3
"""A real Prometheus scrapes metrics_demo_server; its query API must answer
exactly the values the demo server's own /metrics reports.

  prometheus_test.py PATH/TO/metrics_demo_server

Needs the Debian package `prometheus` (scripts/setup.sh installs it); fails,
never skips, without it. Picks free loopback ports, keeps everything in a
temporary directory, stops both processes, and finishes well within 60 s.
"""
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

DEADLINE = time.monotonic() + 50
EVENTS = 1234
PROCS = []


def fail(msg):
    print(f"FAIL: {msg}", flush=True)
    sys.exit(1)


def log(msg):
    print(f"prometheus_test: {msg}", flush=True)


def left():
    return DEADLINE - time.monotonic()


def http_get(url, timeout=2.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read().decode()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(argv, logfile):
    out = open(logfile, "wb")
    p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL)
    PROCS.append(p)
    return p


def stop_all():
    for p in PROCS:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in PROCS:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def tail(path, n=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return "(no log)"


SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def unescape(v):
    out, i = [], 0
    while i < len(v):
        if v[i] == "\\" and i + 1 < len(v):
            out.append({"n": "\n", "\\": "\\", '"': '"'}[v[i + 1]])
            i += 2
        else:
            out.append(v[i])
            i += 1
    return "".join(out)


def parse_exposition(text):
    """{(name, frozenset(labels)): value} from the text format."""
    series = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        if not m:
            fail(f"demo server wrote an unparsable line: {line!r}")
        labels = frozenset((k, unescape(v))
                           for k, v in LABEL_RE.findall(m.group(2) or ""))
        series[(m.group(1), labels)] = float(m.group(3))
    return series


def query(base, promql):
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    status, _, body = http_get(url)
    doc = json.loads(body)
    if status != 200 or doc.get("status") != "success":
        fail(f"query {promql!r}: HTTP {status}: {body[:300]}")
    return doc["data"]["result"]


def start_prometheus(prometheus, tmp, target, job):
    """Starts Prometheus scraping `target` every second as `job`; returns
    its base URL. A free port can be taken between our probe and
    Prometheus' bind; then it tries another."""
    base = None
    for attempt in range(3):
        prom_port = free_port()
        config = os.path.join(tmp, f"prometheus{attempt}.yml")
        with open(config, "w") as f:
            f.write(
                "global:\n"
                "  scrape_interval: 1s\n"
                "  evaluation_interval: 1s\n"
                "scrape_configs:\n"
                f"  - job_name: {job}\n"
                "    scrape_interval: 1s\n"
                "    scrape_timeout: 1s\n"
                "    static_configs:\n"
                f"      - targets: ['{target}']\n")
        prom_log = os.path.join(tmp, f"prometheus{attempt}.log")
        prom = start([prometheus, f"--config.file={config}",
                      f"--storage.tsdb.path={os.path.join(tmp, f'data{attempt}')}",
                      f"--web.listen-address=127.0.0.1:{prom_port}",
                      "--log.level=warn"], prom_log)
        url = f"http://127.0.0.1:{prom_port}"
        while left() > 15 and prom.poll() is None:
            try:
                if http_get(url + "/-/ready")[0] == 200:
                    base = url
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.1)
        if base:
            break
        if prom.poll() is None:
            fail("prometheus did not become ready:\n" + tail(prom_log))
        log(f"prometheus exited (port {prom_port} taken?):\n{tail(prom_log)}")
    if base is None:
        fail("prometheus could not start")
    return base


def find_prometheus():
    prometheus = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if os.access("/usr/bin/prometheus", os.X_OK)
        else None)
    if prometheus is None:
        fail("the 'prometheus' binary is not installed: this test needs a real "
             "Prometheus server. Install the Debian package: "
             "apt-get install -y --no-install-recommends prometheus "
             "(scripts/setup.sh does it).")
    return prometheus


def main():
    if len(sys.argv) != 2:
        fail("usage: prometheus_test.py PATH/TO/metrics_demo_server")
    demo_bin = os.path.abspath(sys.argv[1])
    prometheus = find_prometheus()
    tmp = tempfile.mkdtemp(prefix="prom_test.",
                           dir=os.environ.get("TEST_TMPDIR"))

    # 1. The demo server, and what it reports itself.
    port_file = os.path.join(tmp, "demo.port")
    demo = start([demo_bin, "--port-file", port_file, "--events", str(EVENTS)],
                 os.path.join(tmp, "demo.log"))
    while not os.path.exists(port_file):
        if demo.poll() is not None or left() < 40:
            fail("metrics_demo_server did not start:\n" +
                 tail(os.path.join(tmp, "demo.log")))
        time.sleep(0.02)
    with open(port_file) as f:
        demo_port = int(f.read())
    status, ctype, text = http_get(f"http://127.0.0.1:{demo_port}/metrics")
    if status != 200 or ctype != "text/plain; version=0.0.4; charset=utf-8":
        fail(f"demo /metrics answered {status} {ctype!r}")
    reported = parse_exposition(text)
    n_samples = len(reported)
    log(f"demo server on port {demo_port}: {n_samples} samples")

    def demo_value(name, **labels):
        key = (name, frozenset(labels.items()))
        if key not in reported:
            fail(f"demo server does not report {name}{labels}")
        return reported[key]

    # The demo's own numbers are the documented ones.
    if demo_value("demo_events_total") != EVENTS:
        fail(f"demo_events_total is {demo_value('demo_events_total')}")

    # 2. Prometheus scraping it every second.
    base = start_prometheus(prometheus, tmp, f"127.0.0.1:{demo_port}", "demo")
    log(f"prometheus ready on {base}")

    # 3. Wait for a successful scrape.
    while True:
        up = query(base, 'up{job="demo"}')
        if up and up[0]["value"][1] == "1":
            break
        if left() < 5:
            targets = http_get(base + "/api/v1/targets")[2]
            fail(f"no successful scrape of the demo server; targets: "
                 f"{targets[:1000]}")
        time.sleep(0.2)
    log("scraped")

    # 4. Every series as Prometheus stored it.
    def prom_value(promql):
        result = query(base, promql)
        if len(result) != 1:
            fail(f"{promql}: expected one series, got {result}")
        return float(result[0]["value"][1]), result[0]["metric"]

    checks = [
        ('demo_events_total{job="demo"}', demo_value("demo_events_total")),
        ('demo_latency_seconds_count{job="demo"}',
         demo_value("demo_latency_seconds_count")),
        ('demo_latency_seconds_sum{job="demo"}',
         demo_value("demo_latency_seconds_sum")),
        ('demo_latency_seconds_bucket{job="demo",le="0.005"}',
         demo_value("demo_latency_seconds_bucket", le="0.005")),
        ('demo_latency_seconds_bucket{job="demo",le="+Inf"}',
         demo_value("demo_latency_seconds_bucket", le="+Inf")),
        ('demo_callback_value{job="demo"}', demo_value("demo_callback_value")),
        ('demo_requests_total{job="demo",code="200"}',
         demo_value("demo_requests_total", code="200",
                    path='/a "quoted" \\ path')),
    ]
    for promql, expected in checks:
        got, _ = prom_value(promql)
        if not math.isclose(got, expected, rel_tol=1e-12, abs_tol=0):
            fail(f"{promql}: prometheus has {got}, the demo server reported "
                 f"{expected}")
        log(f"ok {promql} = {got}")
    # Label values survive escaping in both directions.
    _, metric = prom_value('demo_requests_total{job="demo",code="200"}')
    if metric.get("path") != '/a "quoted" \\ path':
        fail(f"path label came back as {metric.get('path')!r}")
    _, metric = prom_value('demo_requests_total{job="demo",code="404"}')
    if metric.get("path") != "/missing\nline":
        fail(f"path label came back as {metric.get('path')!r}")
    # Histogram semantics as Prometheus computes them: bounds are inclusive,
    # so 6 of every 10 observations (0..5 ms) are <= 5 ms.
    got, _ = prom_value('demo_latency_seconds_bucket{job="demo",le="0.005"}')
    expected = sum(1 for i in range(EVENTS) if (i % 10) / 1000.0 <= 0.005)
    if got != expected:
        fail(f"bucket le=0.005: {got}, want {expected}")
    # Prometheus took every sample we offered.
    got, _ = prom_value('scrape_samples_scraped{job="demo"}')
    if got != n_samples:
        fail(f"prometheus scraped {got} samples, the exposition has "
             f"{n_samples}")
    targets = json.loads(http_get(base + "/api/v1/targets")[2])
    for t in targets["data"]["activeTargets"]:
        if t.get("lastError"):
            fail(f"scrape error: {t['lastError']}")
    log(f"all checks passed with {left():.0f} s to spare")


if __name__ == "__main__":
    try:
        main()
    finally:
        stop_all()
    # The demo server stops cleanly on SIGTERM (HttpServer::Stop).
    if PROCS and PROCS[0].returncode != 0:
        fail(f"metrics_demo_server exited with {PROCS[0].returncode} on "
             "SIGTERM")
