#!/usr/bin/env python3
"""End-to-end test on real Apache ResilientDB under real eBPF (issue 15).

Builds rc3 + resdb_trace.patch (integrations/resilientdb/ci_build.sh), the
collector and the CLI (Bazel), copies the ResilientDB binaries into a private
folder (a distinct inode: the collector traces only this test's cluster, not
another one running the shared binary), starts resdb-trace-collector with
--binary on that kv_service, --profile and a private unix socket, starts a
4-replica + proxy cluster (integrations/resilientdb/cluster.sh) on a free port
base, drives load with ResilientDB's own KV client, kills the primary, drives
more load, and checks what the traces say. Each check counts once; the last
line is `N passed, N failed` (scripts/test.sh adds it in). Needs root.

Usage: real_cluster_test.py [--keep-dir] [--load N] [--no-ci-build]
  --keep-dir     keep the work folder (collector log, cluster logs, profile)
  --load N       N sets + N gets before the fault (default 30)
  --no-ci-build  use the binaries ci_build.sh left in its OUT (iterating on
                 the test; scripts/test.sh always builds)
"""
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLUSTER = os.path.join(ROOT, "integrations/resilientdb/cluster.sh")
CI_BUILD = os.path.join(ROOT, "integrations/resilientdb/ci_build.sh")
SHARED_OUT = os.path.expanduser("~/.cache/resdb_trace/resilientdb-out/rc3")
REPLICAS = {1, 2, 3, 4}
F = 1
QUORUM = 2 * F + 1

passed = 0
failed = 0
procs = []  # background processes we started (Popen)
work = tempfile.mkdtemp(prefix="resdb-trace-real.")
cluster_dir = os.path.join(work, "cluster")
out_dir = os.path.join(work, "bin")
t0 = time.time()


def log(msg):
    print(f"[{time.time() - t0:6.1f}s] {msg}", flush=True)


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"PASS {name}" + (f": {detail}" if detail else ""), flush=True)
    else:
        failed += 1
        print(f"FAIL {name}" + (f": {detail}" if detail else ""), flush=True)
    return ok


def info(msg):
    print(f"INFO {msg}", flush=True)


def cluster_pids():
    try:
        with open(os.path.join(cluster_dir, "pids")) as f:
            return [int(line.split()[1]) for line in f if len(line.split()) == 2]
    except OSError:
        return []


def cleanup():
    # kv_service ignores SIGTERM: SIGKILL every replica and the proxy we started.
    for pid in cluster_pids():
        try:
            if os.readlink(f"/proc/{pid}/exe").startswith(out_dir):
                os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    for p in reversed(procs):
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGINT)
                p.wait(timeout=10)
            except Exception:
                p.kill()
                p.wait()
    if "--keep-dir" not in sys.argv:
        subprocess.run(["rm", "-rf", work])


def on_signal(signum, _frame):
    cleanup()
    print(f"{passed} passed, {failed + 1} failed")
    os._exit(1)


def run(cmd, timeout=None, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def port_free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port_base():
    for _ in range(50):
        base = random.randrange(30000, 39000, 10)
        ports = [base + i for i in range(1, 6)] + [base + 10000 + i for i in range(1, 6)]
        if all(port_free(p) for p in ports):
            return base
    raise RuntimeError("no free port base")


def cluster(*args, timeout=200):
    return run([CLUSTER, "--out", out_dir, "--dir", cluster_dir, "--port-base", str(port_base)]
               + list(args), timeout=timeout)


def cli_json(*args):
    r = run(cli + list(args) + ["--json"], timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"resdb-trace {' '.join(args)}: {r.stderr.strip()}")
    return json.loads(r.stdout)


def ns(v):
    return int(v) if v is not None else 0


def first_offsets(replica):
    """type -> offset (ns from the timeline start) of its first mark."""
    firsts = {}
    for m in replica.get("marks", []):
        t = m["type"].replace("EVENT_TYPE_", "")
        firsts.setdefault(t, ns(m.get("offset_ns")))
    return firsts


zero_digest = {}  # mark type -> marks whose digest prefix is 0


def timeline_checks(tls, label):
    """Stage order, quorums, digests over closed timelines; returns problems."""
    order_bad, quorum_bad, digest_bad, exec_first = [], [], [], []
    for tl in tls:
        seq = int(tl["seq"])
        digests = set()
        if tl.get("digest_prefix") not in (None, "0"):
            digests.add(tl["digest_prefix"])
        for r in tl.get("replicas", []):
            rid = r["replica_id"]
            if rid not in REPLICAS:
                continue
            fo = first_offsets(r)
            pp = min([fo[t] for t in ("PRE_PREPARE_SENT", "PRE_PREPARE_RECEIVED") if t in fo], default=None)
            # (earlier stage, later stage) pairs PBFT orders on one replica.
            seqn = [("pre_prepare", pp), ("prepare_sent", fo.get("PREPARE_SENT")),
                    ("prepared", fo.get("PREPARED")), ("commit_sent", fo.get("COMMIT_SENT")),
                    ("committed", fo.get("COMMITTED"))]
            present = [(n, o) for n, o in seqn if o is not None]
            for (n1, o1), (n2, o2) in zip(present, present[1:]):
                if o1 > o2:
                    order_bad.append(f"seq {seq} r{rid}: {n2} {o2 - o1} ns before {n1}")
            if "EXECUTE_START" in fo and "COMMITTED" in fo and fo["EXECUTE_START"] < fo["COMMITTED"]:
                exec_first.append((seq, rid))
            for key in ("prepare_quorum", "commit_quorum"):
                q = r.get(key)
                if q is None:
                    if tl["state"] == "TIMELINE_STATE_COMPLETE":
                        quorum_bad.append(f"seq {seq} r{rid}: no {key}")
                    continue
                members = set(q.get("members", []))
                if len(members) < QUORUM or not members <= REPLICAS or q.get("required") != QUORUM:
                    quorum_bad.append(f"seq {seq} r{rid} {key}: members {sorted(members)} required {q.get('required')}")
            for m in r.get("marks", []):
                # 0: no digest (ResilientDB's second reply carries no hash).
                if m.get("digest_prefix") not in (None, "0"):
                    digests.add(m["digest_prefix"])
                elif m.get("digest_prefix") == "0":
                    zero_digest[m["type"]] = zero_digest.get(m["type"], 0) + 1
        if len(digests) > 1:
            digest_bad.append(f"seq {seq}: {sorted(digests)}")
    return order_bad, quorum_bad, digest_bad, exec_first


def main():
    global cli, port_base
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    load_n = int(sys.argv[sys.argv.index("--load") + 1]) if "--load" in sys.argv else 30

    if os.geteuid() != 0:
        check("root", False, "run as root (the collector loads BPF programs)")
        return
    # --- builds ---------------------------------------------------------------
    if "--no-ci-build" in sys.argv:
        info(f"--no-ci-build: using {SHARED_OUT} as it is")
    else:
        r = run(["bash", CI_BUILD], timeout=3600)
        print(r.stdout.strip() or r.stderr.strip()[-2000:], flush=True)
        if not check("ResilientDB rc3 + patch builds (ci_build.sh)", r.returncode == 0):
            return
    flags = run(["bash", "-c", f"source {ROOT}/scripts/bazel_flags.sh; echo \"${{RESDB_TRACE_BAZEL_FLAGS[@]}}\""]).stdout.split()
    r = run(["bazel", "build"] + flags + ["--jobs=2", "//collector:resdb-trace-collector",
                                           "//clients/cli:resdb-trace"], cwd=ROOT, timeout=3600)
    if not check("collector and CLI build (Bazel)", r.returncode == 0, r.stderr.strip()[-1500:] if r.returncode else ""):
        return
    bin_dir = run(["bazel", "info"] + flags + ["bazel-bin"], cwd=ROOT).stdout.strip()
    log("built")

    os.makedirs(out_dir)
    for b in ("kv_service", "kv_service_tools", "key_generator_tools", "certificate_tools"):
        subprocess.run(["cp", "-p", os.path.join(SHARED_OUT, b), out_dir], check=True)
    kv = os.path.join(out_dir, "kv_service")
    sock = f"unix://{work}/collector.sock"
    cli = [os.path.join(bin_dir, "clients/cli/resdb-trace"), "--listen", sock]

    # --- collector --------------------------------------------------------------
    ready = os.path.join(work, "ready")
    coll_err = open(os.path.join(work, "collector.err"), "w")
    procs.append(subprocess.Popen(
        [os.path.join(bin_dir, "collector/resdb-trace-collector"), "--binary", kv, "--listen", sock,
         "--ready-file", ready, "--timeline-idle-ms", "2000", "--profile"],
        stdout=coll_err, stderr=coll_err))
    for _ in range(300):
        if os.path.exists(ready):
            break
        time.sleep(0.1)
    if not check("collector starts", os.path.exists(ready), open(coll_err.name).read()[-1500:]):
        return
    watch_out = open(os.path.join(work, "execute.jsonl"), "w")
    procs.append(subprocess.Popen(cli + ["watch", "--json", "--types", "execute_start,execute_end"],
                                  stdout=watch_out, stderr=subprocess.DEVNULL))

    # --- cluster + load ---------------------------------------------------------
    port_base = free_port_base()
    r = cluster("start")
    print(r.stdout.strip(), flush=True)
    if not check("cluster starts (4 replicas + proxy)", r.returncode == 0, r.stderr.strip()):
        return
    log(f"cluster up on port base {port_base}")
    stats = cli_json("stats")
    att = stats.get("attachments", [])
    bad = [a["hook_name"] for a in att if a.get("status") != "ATTACH_STATUS_ATTACHED"]
    check("hooks attached", len(att) >= 31 and not bad, f"{len(att) - len(bad)} of {len(att)} attached" +
          (f"; not attached: {bad}" if bad else ""))

    load_start = time.time()
    r = cluster("load", str(load_n), "pre")
    print(r.stdout.strip(), flush=True)
    check("load before the fault (ResilientDB's kv_service_tools)", r.returncode == 0, r.stderr.strip())
    # Replica 2's CPU over the whole load, from the collector's sample history
    # (a 5 s window holds ~15 samples at 99 Hz: too few to be sure of any).
    last = max(5, min(120, int(time.time() - load_start) + 2))
    pr = run(cli + ["profile", "--replica", "2", "--last", str(last), "-o",
                    os.path.join(work, "r2.folded"), "-o", os.path.join(work, "r2.md")], timeout=120)
    prof_out = pr.stdout + pr.stderr
    time.sleep(3)  # timelines close after 2 s idle
    log("load done")

    stats = cli_json("stats")
    tls_pre = [t for t in cli_json("timelines", "--limit", "4096").get("timelines", [])]
    drops = sum(ns(d) for d in stats.get("ringbuf_drops_per_cpu", []))
    tstats = stats.get("timelines", {})
    builder_drops = ns(tstats.get("builder_drops"))
    closed_pre = [t for t in tls_pre if t["state"] != "TIMELINE_STATE_OPEN"]
    incomplete = [t for t in closed_pre
                  if t["state"] != "TIMELINE_STATE_COMPLETE"
                  or {r["replica_id"] for r in t.get("replicas", [])} & REPLICAS != REPLICAS]
    if drops or builder_drops:
        info(f"drops reported (ring buffer {drops}, builder {builder_drops}): completeness not required")
    else:
        detail = f"{len(closed_pre) - len(incomplete)} of {len(closed_pre)} closed timelines COMPLETE on r1-r4, 0 drops"
        if incomplete:
            t = incomplete[0]
            detail += f"; e.g. seq {t['seq']} {t['state']} replicas {[r['replica_id'] for r in t.get('replicas', [])]} missing {t.get('completeness', {}).get('missing')}"
        check("closed timelines COMPLETE across the 4 replicas (no drop reported)",
              closed_pre and not incomplete, detail)

    order_bad, quorum_bad, digest_bad, exec_first = timeline_checks(closed_pre, "pre")
    check("stage order per replica (pre-prepare < prepare sent < prepared < commit sent < committed)",
          closed_pre and not order_bad, f"{len(order_bad)} violations " + "; ".join(order_bad[:5]))
    check(f"prepare and commit quorums: {QUORUM} distinct replicas of 1-4",
          closed_pre and not quorum_bad, f"{len(quorum_bad)} bad " + "; ".join(quorum_bad[:5]))
    check("digest prefix agrees across replicas per seq", closed_pre and not digest_bad,
          f"{len(closed_pre)} seqs; " + "; ".join(digest_bad[:5]))
    info(f"marks with digest prefix 0 (not compared): {zero_digest}")
    reps = sum(len(t.get("replicas", [])) for t in closed_pre)
    info(f"execute_start before the first committed on the same replica: {len(exec_first)} of {reps} "
         f"replica-seqs (ResilientDB's executor thread; the builder orders by time) e.g. {exec_first[:5]}")

    # Profile: ResilientDB's own demangled functions in replica 2's stacks.
    total = resdb = 0
    try:
        for line in open(os.path.join(work, "r2.folded")):
            stack, _, count = line.rstrip("\n").rpartition(" ")
            total += int(count)
            if "resdb::" in stack:
                resdb += int(count)
    except OSError:
        pass
    frac = resdb / total if total else 0.0
    check("profile of replica 2 symbolizes ResilientDB functions (resdb::)", resdb > 0,
          f"{resdb} of {total} samples ({frac:.0%}) in the last {last} s have a resdb:: frame" + ("" if total else f"; {prof_out.strip()}"))

    # --- kill the primary -------------------------------------------------------
    pids = {}
    for line in open(os.path.join(cluster_dir, "pids")):
        n, p = line.split()
        pids[n] = int(p)
    os.kill(pids["node1"], signal.SIGKILL)
    log("primary (node1) killed")
    post = subprocess.Popen([CLUSTER, "--out", out_dir, "--dir", cluster_dir, "--port-base",
                             str(port_base), "load", "5", "post"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    procs.append(post)
    deadline = time.time() + 120
    eps, new_view_tls = [], []
    while time.time() < deadline:
        time.sleep(2)
        eps = cli_json("viewchanges").get("episodes", [])
        if eps and eps[0].get("finished"):
            nv = eps[0].get("new_view")
            done = [t for t in cli_json("timelines", "--limit", "4096").get("timelines", [])
                    if t.get("view") == nv and t["state"] != "TIMELINE_STATE_OPEN"]
            if post.poll() is not None or len(done) >= 3:
                break
    if post.poll() is None:  # requests still waiting out their 30 s timeout
        os.killpg(post.pid, signal.SIGKILL)
    post_out = post.communicate()[0]
    print(post_out.strip(), flush=True)
    log("load after the fault done")
    # one more request: the views after the episode have settled
    r = cluster("load", "3", "after")
    print(r.stdout.strip(), flush=True)
    time.sleep(3)
    eps = cli_json("viewchanges").get("episodes", [])
    tls = cli_json("timelines", "--limit", "4096").get("timelines", [])
    stats = cli_json("stats")

    ep = eps[0] if eps else {}
    check("exactly one view-change episode, new view installed, new primary",
          len(eps) == 1 and ep.get("finished") and ns(ep.get("new_view")) > ns(ep.get("old_view"))
          and ep.get("old_primary") == 1 and ep.get("new_primary") in (2, 3, 4)
          and ns(ep.get("installed_offset_ns")) > 0,
          f"{len(eps)} episode(s); " + (f"view {ep.get('old_view')} -> {ep.get('new_view')}, primary r{ep.get('old_primary')} -> "
                                      f"r{ep.get('new_primary')}, installed after {ns(ep.get('installed_offset_ns')) / 1e9:.2f} s, "
                                      f"finished {ep.get('finished')}" if ep else ""))
    new_view = ep.get("new_view")
    new_view_tls = [t for t in tls if t.get("view") == new_view and t["state"] != "TIMELINE_STATE_OPEN"]
    max_pre = max([int(t["seq"]) for t in closed_pre], default=0)
    check("progress after the view change (timelines in the new view, higher seqs)",
          new_view is not None and new_view_tls and min(int(t["seq"]) for t in new_view_tls) > max_pre
          and r.returncode == 0,
          f"{len(new_view_tls)} closed timelines in view {new_view}, seqs "
          f"{min([int(t['seq']) for t in new_view_tls], default=0)}-{max([int(t['seq']) for t in new_view_tls], default=0)}"
          f" (last before the fault {max_pre}); {r.stdout.strip()}")
    ob, qb, db, _ = timeline_checks(new_view_tls, "post")
    check("after the view change: stage order, 2f+1 quorums from 2-4, digests agree",
          not ob and not qb and not db and all(
              set(r_.get(k, {}).get("members", [])) <= {2, 3, 4}
              for t in new_view_tls for r_ in t.get("replicas", []) for k in ("prepare_quorum", "commit_quorum")),
          f"{len(ob)} order, {len(qb)} quorum, {len(db)} digest problems " + "; ".join((ob + qb + db)[:3]))
    nv_inc = [t for t in new_view_tls if t["state"] != "TIMELINE_STATE_COMPLETE"]
    missing = {}
    for t in nv_inc:
        for m in t.get("completeness", {}).get("missing", []):
            k = f"r{m.get('replica_id')} {m.get('type', '').replace('EVENT_TYPE_', '').lower()} {m.get('reason', '').replace('MISSING_REASON_', '').lower()}"
            missing[k] = missing.get(k, 0) + 1
    info(f"timelines in view {new_view}: {len(new_view_tls) - len(nv_inc)} COMPLETE, {len(nv_inc)} not; missing: {missing}")

    # Every executed seq (execute events, from a live `watch`) has a timeline.
    executed = set()
    for line in open(watch_out.name):
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        body = ev.get("execute_start") or ev.get("execute_end") or {}
        if "seq" in body:
            executed.add(int(body["seq"]))
    have = {int(t["seq"]) for t in tls}
    lacking = sorted(executed - have)
    check("every executed seq has a timeline", executed and not lacking,
          f"{len(executed)} executed seqs (execute events), {len(lacking)} without a timeline {lacking[:10]}")
    drops = sum(ns(d) for d in stats.get("ringbuf_drops_per_cpu", []))
    info(f"collector: {stats.get('events_decoded')} events, ring-buffer drops {drops}, timelines {stats.get('timelines')}")


if __name__ == "__main__":
    cli = None
    port_base = 0
    try:
        main()
    except Exception as e:  # a crash in the test is one failed check
        check("test ran to the end", False, repr(e))
    finally:
        leftover_before = cluster_pids()
        cleanup()
        alive = [p for p in leftover_before if os.path.exists(f"/proc/{p}")
                 and open(f"/proc/{p}/stat").read().split()[2] != "Z"]
        check("cleanup: every replica and the proxy are gone", not alive, f"alive: {alive}" if alive else "")
        print(f"took {time.time() - t0:.0f} s")
        print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
