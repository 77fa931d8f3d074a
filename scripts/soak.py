"""Soak driver (scripts/soak.sh runs it): the traced demo PBFT cluster plus a
rate_target process drive the collector at a steady event rate while two gRPC
subscribers read everything, for --seconds. Checks, each counted:

  exact:  for every subscriber, hook events delivered + its queue drops +
          ring-buffer drops + malformed = records the kernel produced
          (records read + ring-buffer drops, the BPF program's own count),
          lifecycle events included on both sides;
  rss:    the collector's peak RSS over the second half of the run is
          within 10 % + 32 MiB of its peak over the first half (after
          warm-up): the bounded queues fill early, a leak keeps growing;
  heap:   the same for the collector's live heap (Stats.process, sampled
          every 10 s), which allocator retention does not inflate;
  fds:    the collector's open fds at the end equal those after warm-up (+2);
  rate:   the offered load reached at least half of --rate.

Prints start/end RSS, live heap and fds, the achieved rate, and one line
`N passed, N failed`.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

TRACED = 5  # 4 replicas + rate_target: each one ProcessStarted + ProcessExited


def heap_kib(st):
    """Stats.process.heap_in_use_bytes from `resdb-trace stats --json`."""
    return int(st.get("process", {}).get("heap_in_use_bytes", 0)) // 1024


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_file(path, timeout, proc):
    end = time.time() + timeout
    while time.time() < end:
        if os.path.exists(path):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def stats(cli, listen):
    out = subprocess.run([cli, "stats", "--json", "--listen", listen],
                         capture_output=True, text=True, timeout=30)
    return json.loads(out.stdout) if out.returncode == 0 else {}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--seconds", type=int, default=600)
    ap.add_argument("--rate", type=int, default=100_000, help="events/s in all")
    ap.add_argument("--demo-rate", type=int, default=300, help="demo requests/s")
    ap.add_argument("--events-per-request", type=int, default=112,
                    help="hook events per demo request, all replicas (measured)")
    ap.add_argument("--subscribers", type=int, default=2)
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    b = a.bin_dir
    d = a.out or tempfile.mkdtemp(prefix="resdb-trace-soak.")
    os.makedirs(d, exist_ok=True)
    listen = f"unix://{d}/collector.sock"
    procs = []

    def spawn(args, name):
        p = subprocess.Popen(args, stdout=open(f"{d}/{name}.out", "w"),
                             stderr=open(f"{d}/{name}.err", "w"),
                             start_new_session=True)
        procs.append(p)
        return p

    try:
        collector = spawn([f"{b}/collector/resdb-trace-collector",
                           "--binary", f"{b}/demo/replica",
                           "--binary", f"{b}/bench/rate_target",
                           "--timeline-queue", "65536",
                           "--listen", listen, "--ready-file", f"{d}/ready"],
                          "collector")
        if not wait_file(f"{d}/ready", 60, collector):
            print("soak: collector did not start:", open(f"{d}/collector.err").read())
            return 2
        subs = []
        for i in range(a.subscribers):
            s = spawn([f"{b}/bench/subscriber", "--listen", listen,
                       "--queue-capacity", "65536", "--name", f"soak{i}",
                       "--ready-file", f"{d}/sub{i}.ready"], f"sub{i}")
            if not wait_file(f"{d}/sub{i}.ready", 60, s):
                print("soak: subscriber did not start:", open(f"{d}/sub{i}.err").read())
                return 2
            subs.append(s)

        target_rate = max(a.rate - a.demo_rate * a.events_per_request, 1000)
        count = a.demo_rate * (a.seconds + 5)
        here = os.path.dirname(os.path.abspath(__file__))
        cluster = spawn([f"{here}/../demo/cluster.sh", "--bin_dir", f"{b}/demo",
                         "--count", str(count), "--rate", str(a.demo_rate),
                         "--concurrency", "32", "--deadline_s", str(a.seconds + 60),
                         "--out", f"{d}/cluster"], "cluster")
        open(f"{d}/go", "w").close()
        target = spawn([f"{b}/bench/rate_target", "--hook", "nop5", "--threads", "1",
                        "--rate", str(target_rate), "--seconds", str(a.seconds),
                        "--go-file", f"{d}/go"], "rate_target")
        t0 = time.time()
        warm = min(15, max(5, a.seconds // 6))
        time.sleep(warm)
        s0 = stats(f"{b}/clients/cli/resdb-trace", listen)
        rss0, fd0, tw = rss_kib(collector.pid), fds(collector.pid), time.time()
        rss_max = rss0
        half = warm + (a.seconds - warm) / 2
        peak1 = peak2 = rss0
        heap0 = heap_kib(s0)
        hpeak1 = hpeak2 = heap0
        last_heap_t = time.time()
        print(f"soak: warm-up {warm} s: collector RSS {rss0} KiB, heap in use {heap0} KiB, "
              f"{fd0} fds")
        while time.time() - t0 < a.seconds - 1:
            time.sleep(min(1, max(0.1, a.seconds - 1 - (time.time() - t0))))
            r = rss_kib(collector.pid)
            rss_max = max(rss_max, r)
            h = None
            if time.time() - last_heap_t >= 10:  # GetStats: a CLI process each time
                last_heap_t = time.time()
                h = heap_kib(stats(f"{b}/clients/cli/resdb-trace", listen))
            if time.time() - t0 < half:
                peak1 = max(peak1, r)
                hpeak1 = max(hpeak1, h or 0)
            else:
                peak2 = max(peak2, r)
                hpeak2 = max(hpeak2, h or 0)
            if collector.poll() is not None:
                print("soak: collector died:", open(f"{d}/collector.err").read()[-2000:])
                return 2
        s1 = stats(f"{b}/clients/cli/resdb-trace", listen)
        rss1, fd1, te = rss_kib(collector.pid), fds(collector.pid), time.time()
        heap1 = heap_kib(s1)
        print(f"soak: end: collector RSS {rss1} KiB, heap in use {heap1} KiB, {fd1} fds; "
              f"peak RSS {peak1} KiB in the first half, {peak2} KiB in the second; "
              f"peak heap in use {hpeak1} / {hpeak2} KiB")
        produced_window = (int(s1.get("records_read", 0)) + int(s1.get("ringbuf_drops_total", 0))
                           - int(s0.get("records_read", 0)) - int(s0.get("ringbuf_drops_total", 0)))
        # From GetStats during the run; can lag under sustained overload
        # (the reader's counters refresh between ring-buffer drains).
        stats_rate = produced_window / max(te - tw, 1e-9)

        target.wait(timeout=120)
        # The demo client finishes its count (or deadline); stop it if the
        # load ran longer than the soak.
        try:
            cluster.wait(timeout=max(5, a.seconds))
        except subprocess.TimeoutExpired:
            os.killpg(cluster.pid, signal.SIGTERM)
            cluster.wait(timeout=60)
        time.sleep(1.5)  # the collector notices the exits (every 250 ms)
        collector.send_signal(signal.SIGINT)
        collector.wait(timeout=120)
        err = open(f"{d}/collector.err").read()
        m = re.search(r"read (\d+) records, (\d+) ring-buffer drops, (\d+) malformed", err)
        if not m:
            print("soak: no final counters from the collector:", err[-2000:])
            return 2
        read, drops, malformed = map(int, m.groups())
        produced = read + drops
        achieved = produced / a.seconds
        tp = json.loads(open(f"{d}/rate_target.out").read().strip().splitlines()[-1])
        print(f"soak: {a.seconds} s, offered {achieved:,.0f} events/s "
              f"(GetStats during the run: {stats_rate:,.0f}/s) "
              f"(rate_target {tp['produced']:,} events, demo {produced - tp['produced']:,}); "
              f"kernel produced {produced:,} = read {read:,} + ring-buffer drops {drops:,}; "
              f"malformed {malformed}")

        checks = []
        for i, s in enumerate(subs):
            s.wait(timeout=120)
            lines = open(f"{d}/sub{i}.out").read().strip().splitlines()
            r = json.loads(lines[-1]) if lines else {}
            got = (r.get("events", 0) + r.get("lifecycle", 0) + r.get("subscriber_dropped", 0)
                   + r.get("ringbuf_dropped", 0) + r.get("malformed", 0))
            want = produced + 2 * TRACED
            print(f"soak: subscriber {i}: delivered {r.get('events', 0):,} + lifecycle "
                  f"{r.get('lifecycle', 0)} + queue drops {r.get('subscriber_dropped', 0):,} + "
                  f"ring-buffer drops {r.get('ringbuf_dropped', 0):,} + malformed "
                  f"{r.get('malformed', 0)} = {got:,}; produced + lifecycle = {want:,}")
            checks.append((f"exact (subscriber {i})", got == want and r.get("status") == "OK"))
        checks.append(("rss flat", peak2 <= peak1 * 1.10 + 32 * 1024))
        # Live heap: the timeline builder's bounded windows (30 s request
        # links, 65 536 seqs of safety checks) fill over the first minutes,
        # so a short soak allows the same slack as RSS.
        checks.append(("heap flat", hpeak2 <= hpeak1 * 1.10 + 32 * 1024))
        checks.append(("fds flat", fd1 <= fd0 + 2))
        checks.append(("rate reached", achieved >= a.rate / 2))
        for name, ok in checks:
            print(f"soak: {'ok  ' if ok else 'FAIL'} {name}")
        print(json.dumps({"seconds": a.seconds, "rate_offered": round(achieved), "rate_in_stats": round(stats_rate),
                          "produced": produced, "ringbuf_drops": drops,
                          "rss_start_kib": rss0, "rss_end_kib": rss1, "rss_max_kib": rss_max,
                          "rss_peak_first_half_kib": peak1, "rss_peak_second_half_kib": peak2,
                          "heap_start_kib": heap0, "heap_end_kib": heap1,
                          "heap_peak_first_half_kib": hpeak1, "heap_peak_second_half_kib": hpeak2,
                          "fds_start": fd0, "fds_end": fd1}))
        passed = sum(ok for _, ok in checks)
        print(f"{passed} passed, {len(checks) - passed} failed")
        return 0 if passed == len(checks) else 1
    finally:
        for p in procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()


if __name__ == "__main__":
    sys.exit(main())
