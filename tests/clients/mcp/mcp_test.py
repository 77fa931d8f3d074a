#!/usr/bin/env python3
"""resdb-trace mcp, driven by the official MCP TypeScript SDK client, against
a traced demo PBFT cluster: over stdio (the SDK spawns the server), over
Streamable HTTP and over the legacy HTTP+SSE transport. The SDK client
(client.mjs) runs the seed's workflow and the error cases; this script starts
everything and checks what the tools said against the collector itself
(`resdb-trace timeline SEQ`, GetTimeline) and the replicas' logs.

  mcp_test.py COLLECTOR CLI DEMO_DIR CLIENT_MJS PACKAGE_LOCK

The SDK comes from `npm ci` in scripts/setup.sh, into
~/.cache/resdb_trace/npm/mcp (RESDB_TRACE_NPM_DIR overrides), so the test
needs no network.
"""
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

collector, cli, demo_dir, client_mjs, package_lock, version_file = map(
    os.path.abspath, sys.argv[1:7])
# client.mjs checks serverInfo.version against the repository's VERSION.
with open(version_file) as f:
    os.environ["RESDB_TRACE_VERSION"] = f.read().strip()
DEADLINE = time.monotonic() + 240
PROCS = []
CLEANUP = []


def log(msg):
    print(f"[mcp_test {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def fail(msg):
    print(f"FAIL: {msg}", flush=True)
    stop_all()
    sys.exit(1)


def left():
    return DEADLINE - time.monotonic()


def start(args, out_path, **kw):
    out = open(out_path, "w")
    p = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, **kw)
    PROCS.append(p)
    return p


def stop_all():
    for p in reversed(PROCS):
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    for p in reversed(PROCS):
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    PROCS.clear()


def tail(path, n=40):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError as e:
        return str(e)


def free_base_port(n):
    """A base port with base+1..base+n all free on 127.0.0.1."""
    for _ in range(200):
        base = 21000 + int.from_bytes(os.urandom(2), "little") % 30000
        ok = True
        for i in range(1, n + 1):
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", base + i))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            return base
    fail("no free port range for the replicas")


def npm_dir():
    candidates = [os.environ.get("RESDB_TRACE_NPM_DIR"),
                  os.path.join(pwd.getpwuid(os.getuid()).pw_dir,
                               ".cache/resdb_trace/npm/mcp"),
                  os.path.join(os.environ.get("HOME", "/nonexistent"),
                               ".cache/resdb_trace/npm/mcp")]
    d = next((c for c in candidates if c and os.path.isdir(
        os.path.join(c, "node_modules"))), candidates[1])
    want = json.load(open(package_lock))["packages"][
        "node_modules/@modelcontextprotocol/sdk"]["version"]
    pkg = os.path.join(d, "node_modules/@modelcontextprotocol/sdk/package.json")
    try:
        have = json.load(open(pkg))["version"]
    except OSError:
        fail(f"the MCP TypeScript SDK is not installed in {d}: run "
             "`bash scripts/setup.sh` (it runs npm ci for tests/clients/mcp)")
    if have != want:
        fail(f"{pkg} is version {have}, tests/clients/mcp/package-lock.json pins "
             f"{want}: run `bash scripts/setup.sh`")
    return d, want


def cli_json(sock, *args):
    r = subprocess.run([cli, "--listen", sock, *args, "--json"],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        fail(f"resdb-trace {' '.join(args)}: {r.stderr}")
    return json.loads(r.stdout)


def run_client(node, workdir, mode, key, value, target, log_path):
    args = [node, os.path.join(workdir, "client.mjs"), mode, key, value]
    args += target
    t0 = time.monotonic()
    with open(log_path, "w") as err:
        r = subprocess.run(args, cwd=workdir, stdout=subprocess.PIPE,
                           stderr=err, text=True, timeout=max(10, left()))
    if r.returncode != 0:
        fail(f"SDK client ({mode}) failed:\n{tail(log_path, 60)}")
    log(f"SDK client over {mode}: all checks passed in "
        f"{time.monotonic() - t0:.1f} s")
    return json.loads(r.stdout.strip().splitlines()[-1])


def check_report(report, sock, key, value, replica_logs):
    seq = report["seq"]
    text = report["trace_text"]
    # The tool's diagram is exactly what the collector renders for that seq.
    r = subprocess.run([cli, "--listen", sock, "timeline", str(seq)],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        fail(f"resdb-trace timeline {seq}: {r.stderr}")
    if r.stdout.rstrip("\n") not in text:
        fail(f"trace_request({seq}) differs from `resdb-trace timeline "
             f"{seq}`:\n--- tool\n{text}\n--- cli\n{r.stdout}")
    t = cli_json(sock, "timeline", str(seq))
    if t.get("state") != "TIMELINE_STATE_COMPLETE":
        fail(f"timeline {seq} is {t.get('state')}:\n{text}")
    # Every replica in the diagram and the stage table, every phase marked.
    replicas = sorted(x["replica_id"] for x in t["replicas"]
                      if x["replica_id"] <= 4)
    if replicas != [1, 2, 3, 4]:
        fail(f"timeline {seq} replicas {replicas}")
    for rid in range(1, 5):
        if not re.search(rf"^r{rid}\s", text, re.M):
            fail(f"trace_request text has no lane/row for r{rid}:\n{text}")
        marks = {m["type"] for x in t["replicas"] if x["replica_id"] == rid
                 for m in x.get("marks", [])}
        for want in ("EVENT_TYPE_PRE_PREPARE_RECEIVED", "EVENT_TYPE_PREPARED",
                     "EVENT_TYPE_COMMITTED", "EVENT_TYPE_EXECUTE_END",
                     "EVENT_TYPE_REPLY_SENT"):
            if want not in marks:
                fail(f"r{rid} has no {want} in timeline {seq}")
    for phase in ("pre-prep", "prepared", "committed", "executed", "replied",
                  "prepare quorum", "commit quorum"):
        if phase not in text:
            fail(f"trace_request text lacks '{phase}':\n{text}")
    # The MCP server's own client hooks are traced: the request is joined.
    client_id, local_id = report["request"].split(":")
    if f"request proxy {client_id} local_id {local_id}" not in text:
        fail(f"timeline {seq} does not show the MCP client's request "
             f"{report['request']}:\n{text}")
    if f"http://127.0.0.1:8088/timeline/{seq}" not in text:
        fail("no web link in trace_request")
    # The replicas executed that seq (their logs: "seq digest txns view").
    for path in replica_logs:
        with open(path) as f:
            if not any(line.split()[0] == str(seq) for line in f if line):
                fail(f"{path} has no seq {seq}")
    if not report["get_text"].startswith(f"{key} = {value} "):
        fail(f"get_key_value: {report['get_text']}")
    if "Top functions" not in report["profile_text"]:
        fail("trace_profile has no function table")
    samples = re.search(r": (\d+) samples at", report["profile_text"])
    if not samples or int(samples.group(1)) == 0:
        fail(f"trace_profile sampled nothing:\n{report['profile_text'][:500]}")
    log(f"{report['mode']}: seq {seq} matches GetTimeline (4 replicas, all "
        f"phases, request {report['request']}); profile "
        f"{samples.group(1)} samples")


def raw_stdio_checks(sock, base):
    """JSON-RPC errors and version negotiation, byte for byte over stdio."""
    lines = [
        "not json",
        '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
        '{"jsonrpc":"2.0","id":2,"method":"initialize","params":'
        '{"protocolVersion":"1999-01-01","capabilities":{},'
        '"clientInfo":{"name":"raw","version":"0"}}}',
        '{"jsonrpc":"2.0","id":3,"method":"initialize","params":'
        '{"protocolVersion":"2024-11-05","capabilities":{},'
        '"clientInfo":{"name":"raw","version":"0"}}}',
        '{"jsonrpc":"2.0","method":"notifications/initialized"}',
        '{"jsonrpc":"1.0","id":4,"method":"ping"}',
        '{"jsonrpc":"2.0","id":5,"method":"resources/list"}',
        '{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{}}',
        '[{"jsonrpc":"2.0","id":7,"method":"ping"},'
        '{"jsonrpc":"2.0","method":"notifications/x"}]',
        '{"jsonrpc":"2.0","id":8,"method":"tools/call","params":'
        '{"name":"commit_key_value","arguments":{"key":"k","value":"v"}}}',
    ]
    r = subprocess.run([cli, "mcp", "--stdio", "--collector", sock,
                        "--cluster", str(base)],
                       input="\n".join(lines) + "\n", capture_output=True,
                       text=True, timeout=60)
    if r.returncode != 0:
        fail(f"mcp --stdio exited {r.returncode}: {r.stderr}")
    out = [json.loads(x) for x in r.stdout.splitlines()]
    by_id = {json.dumps(m.get("id")) if isinstance(m, dict) else "batch": m
             for m in out}
    expect_errors = {"null": -32700, "1": -32600, "4": -32600, "5": -32601,
                     "6": -32602}
    for mid, code in expect_errors.items():
        got = by_id.get(mid, {}).get("error", {}).get("code")
        if got != code:
            fail(f"raw stdio id {mid}: want error {code}, got "
                 f"{by_id.get(mid)}")
    if by_id["2"]["result"]["protocolVersion"] != "2025-11-25":
        fail(f"unknown version not answered with the newest: {by_id['2']}")
    if by_id["3"]["result"]["protocolVersion"] != "2024-11-05":
        fail(f"2024-11-05 not negotiated: {by_id['3']}")
    if by_id["batch"] != [{"jsonrpc": "2.0", "id": 7, "result": {}}]:
        fail(f"batch: {by_id['batch']}")
    res8 = by_id["8"]["result"]
    if res8["isError"] or "structuredContent" in res8:
        fail(f"2024-11-05 session: a plain text result expected: {res8}")
    if len(out) != 9:
        fail(f"raw stdio: {len(out)} replies for 9 answerable messages")
    log("raw stdio: parse error, invalid request, method not found, invalid "
        "params, batch, version negotiation (2024-11-05 and unknown) ok")


def main():
    node = shutil.which("node")
    if node is None:
        fail("node is not installed: run `bash scripts/setup.sh`")
    npm, sdk_version = npm_dir()
    tmp = tempfile.mkdtemp(prefix="mcp_e2e.",
                           dir=os.environ.get("TEST_TMPDIR"))
    # The client script runs next to a node_modules link, so Node resolves
    # the SDK from the npm cache.
    work = os.path.join(tmp, "client")
    os.makedirs(work)
    shutil.copy(client_mjs, os.path.join(work, "client.mjs"))
    with open(os.path.join(work, "package.json"), "w") as f:
        f.write('{"type": "module", "private": true}\n')
    os.symlink(os.path.join(npm, "node_modules"),
               os.path.join(work, "node_modules"))
    log(f"MCP TypeScript SDK {sdk_version} from {npm}")

    sock_dir = tempfile.mkdtemp(prefix="rt-mcp.", dir="/tmp")
    CLEANUP.append(sock_dir)
    sock = f"unix://{sock_dir}/collector.sock"
    ready = os.path.join(tmp, "ready")
    coll = start([collector, "--binary", f"{demo_dir}/replica", "--binary",
                  f"{demo_dir}/client", "--binary", cli, "--listen", sock,
                  "--ready-file", ready, "--profile", "--timeline-idle-ms",
                  "1000"], os.path.join(tmp, "collector.log"))
    while not os.path.exists(ready):
        if coll.poll() is not None or left() < 200:
            fail("collector did not start:\n" +
                 tail(os.path.join(tmp, "collector.log")))
        time.sleep(0.05)
    base = free_base_port(4)
    replica_logs = []
    for i in range(1, 5):
        replica_logs.append(os.path.join(tmp, f"replica_{i}.log"))
        start([f"{demo_dir}/replica", f"--id={i}", f"--base_port={base}",
               f"--log_file={replica_logs[-1]}"],
              os.path.join(tmp, f"replica_{i}.err"))
    log(f"collector at {sock}, replicas on 127.0.0.1:{base + 1}..{base + 4}")
    # Background load from the demo client: something to profile and to
    # rank in list_slow_requests.
    load = start([f"{demo_dir}/client", f"--base_port={base}", "--rate=100",
                  "--count=100000", "--concurrency=4", "--deadline_s=200"],
                 os.path.join(tmp, "load.log"))
    while True:
        st = cli_json(sock, "stats")
        if int(st.get("timelines", {}).get("complete", 0)) >= 50:
            break
        if load.poll() is not None or left() < 180:
            fail(f"no timelines from the load: {st.get('timelines')}\n" +
                 tail(os.path.join(tmp, "load.log")))
        time.sleep(0.2)

    raw_stdio_checks(sock, base)

    mcp_args = ["--collector", sock, "--cluster", f"127.0.0.1:{base},n=4"]
    reports = []
    reports.append(run_client(
        node, work, "stdio", "mcp-stdio-key", "written over stdio",
        ["--", cli, "mcp", "--stdio", *mcp_args],
        os.path.join(tmp, "client_stdio.log")))

    http_log = os.path.join(tmp, "mcp_http.log")
    server = start([cli, "mcp", "--http", "127.0.0.1:0", *mcp_args], http_log)
    url = None
    while url is None:
        m = re.search(r"listening on (http://127\.0\.0\.1:\d+)/mcp",
                      tail(http_log))
        if m:
            url = m.group(1)
        elif server.poll() is not None or left() < 60:
            fail("mcp --http did not start:\n" + tail(http_log))
        else:
            time.sleep(0.05)
    log(f"MCP HTTP server at {url}")
    reports.append(run_client(node, work, "http", "mcp-http-key",
                              "written over streamable http",
                              [f"{url}/mcp"],
                              os.path.join(tmp, "client_http.log")))
    reports.append(run_client(node, work, "sse", "mcp-sse-key",
                              "written over sse", [f"{url}/sse"],
                              os.path.join(tmp, "client_sse.log")))
    if reports[1].get("protocol_version") != "2025-11-25":
        fail(f"HTTP negotiated {reports[1].get('protocol_version')}")

    # What the tools said, for people reading the test's outputs.
    out_dir = os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR", tmp)
    with open(os.path.join(out_dir, "mcp_reports.json"), "w") as f:
        json.dump(reports, f, indent=1)
    for report, (key, value) in zip(reports, [
            ("mcp-stdio-key", "written over stdio"),
            ("mcp-http-key", "written over streamable http"),
            ("mcp-sse-key", "written over sse")]):
        check_report(report, sock, key, value, replica_logs)
    if len({r["seq"] for r in reports}) != 3:
        fail(f"three writes, seqs {[r['seq'] for r in reports]}")

    server.send_signal(signal.SIGINT)
    if server.wait(timeout=20) != 0:
        fail("mcp --http did not exit 0 on SIGINT:\n" + tail(http_log))
    log(f"all checks passed with {left():.0f} s to spare")


if __name__ == "__main__":
    try:
        main()
    finally:
        stop_all()
        for d in CLEANUP:
            shutil.rmtree(d, ignore_errors=True)
