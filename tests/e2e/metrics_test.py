#!/usr/bin/env python3
"""The collector's /metrics, scraped by a real Prometheus, while it traces the
demo PBFT cluster: the series Prometheus stores equal the collector's own
counters (GetStats via the CLI) and the timelines it built.

  metrics_test.py COLLECTOR CLI DEMO_DIR CLUSTER_SH PROMETHEUS_TEST_PY VERSION
"""
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time

collector, cli, demo_dir, cluster_sh, prom_py, version_file = map(
    os.path.abspath, sys.argv[1:7])
spec = importlib.util.spec_from_file_location("prom", prom_py)
prom = importlib.util.module_from_spec(spec)
spec.loader.exec_module(prom)
prom.DEADLINE = time.monotonic() + 150


def main():
    prometheus = prom.find_prometheus()
    tmp = tempfile.mkdtemp(prefix="metrics_e2e.",
                           dir=os.environ.get("TEST_TMPDIR"))
    # Unix socket paths are limited to 107 bytes; TEST_TMPDIR is deeper.
    sock_dir = tempfile.mkdtemp(prefix="rt-metrics.", dir="/tmp")
    sock = f"unix://{sock_dir}/collector.sock"
    port = prom.free_port()
    ready = os.path.join(tmp, "ready")
    coll = prom.start([collector, "--binary", f"{demo_dir}/replica",
                       "--binary", f"{demo_dir}/client", "--listen", sock,
                       "--ready-file", ready, "--timeline-idle-ms", "1000",
                       "--metrics-listen", f"127.0.0.1:{port}"],
                      os.path.join(tmp, "collector.log"))
    while not os.path.exists(ready):
        if coll.poll() is not None or prom.left() < 100:
            prom.fail("collector did not start:\n" +
                      prom.tail(os.path.join(tmp, "collector.log")))
        time.sleep(0.05)
    base = prom.start_prometheus(prometheus, tmp, f"127.0.0.1:{port}",
                                 "resdb")
    run = subprocess.run(["/bin/bash", cluster_sh, "--bin_dir", demo_dir,
                          "--count", "400", "--concurrency", "4", "--fault",
                          "1:crash_primary_after=150", "--out",
                          os.path.join(tmp, "cluster"), "--settle_s", "1"],
                         capture_output=True, text=True, timeout=100)
    if run.returncode != 0:
        prom.fail(f"cluster failed:\n{run.stdout}\n{run.stderr}")
    # Let the last timelines close, then read the collector's own view.
    time.sleep(2)
    stats = json.loads(subprocess.run([cli, "--listen", sock, "stats",
                                       "--json"], capture_output=True,
                                      text=True, check=True).stdout)
    tl = stats["timelines"]
    complete = int(tl.get("complete", 0))
    if complete < 400:
        prom.fail(f"only {complete} complete timelines: {tl}")
    prom.log(f"collector: {tl}")

    def wait_value(promql, want):
        got = None
        while prom.left() > 5:
            result = prom.query(base, promql)
            if len(result) == 1:
                got = float(result[0]["value"][1])
                if got == want:
                    prom.log(f"ok {promql} = {got}")
                    return
            time.sleep(0.3)
        prom.fail(f"{promql}: prometheus has {got}, the collector {want}")

    wait_value('resdb_trace_timelines_total{job="resdb",state="complete"}',
               complete)
    wait_value('resdb_trace_view_changes_total{job="resdb"}',
               int(tl.get("view_changes", 0)))
    wait_value('sum(resdb_trace_ringbuf_drops_total{job="resdb"})',
               int(stats.get("ringbuf_drops_total", 0)))
    # Per-replica phase histograms: every live replica has prepare samples,
    # and their count equals the timelines in which it prepared.
    for r in ("2", "3", "4"):
        result = prom.query(
            base, f'resdb_trace_phase_duration_seconds_count{{job="resdb",'
                  f'replica="{r}",phase="prepare"}}')
        if len(result) != 1 or float(result[0]["value"][1]) < 390:
            prom.fail(f"replica {r} prepare histogram: {result}")
    # The build: the same version and commit as GetStats, the version VERSION's.
    build = stats.get("build", {})
    with open(version_file) as f:
        if build.get("version") != f.read().strip():
            prom.fail(f"GetStats build {build} is not VERSION's")
    wait_value(f'resdb_trace_build_info{{job="resdb",version="{build["version"]}",'
               f'commit="{build["commit"]}"}}', 1)
    attached = prom.query(base, 'sum(resdb_trace_hook_attached{job="resdb"})')
    if not attached or float(attached[0]["value"][1]) < 40:
        prom.fail(f"attach state: {attached}")
    prom.log(f"all checks passed with {prom.left():.0f} s to spare")


if __name__ == "__main__":
    try:
        main()
    finally:
        prom.stop_all()
