// Drives `resdb-trace mcp` with the official MCP TypeScript SDK client
// (@modelcontextprotocol/sdk, pinned in package-lock.json): the seed's
// workflow (write a key, read the returned seq, trace that request, read the
// key back, profile) plus the other tools and error cases. Throws (exit 1)
// on the first failed check; prints a JSON report as its last stdout line
// for mcp_test.py, which compares it with the collector.
//
//   node client.mjs stdio KEY VALUE -- COMMAND ARGS...
//   node client.mjs http  KEY VALUE URL        (Streamable HTTP, URL = .../mcp)
//   node client.mjs sse   KEY VALUE URL        (HTTP+SSE, URL = .../sse)
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { EmptyResultSchema, ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';

const [mode, key, value, ...rest] = process.argv.slice(2);
const log = (...a) => console.error(`[client ${mode}]`, ...a);

function check(cond, what, detail) {
  if (!cond) {
    throw new Error(`check failed: ${what}${detail === undefined ? '' : `\n${typeof detail === 'string' ? detail : JSON.stringify(detail, null, 1)}`}`);
  }
}

const text = (r) => r.content.filter((c) => c.type === 'text').map((c) => c.text).join('\n');

async function call(client, name, args, { expectError = false } = {}) {
  const t0 = Date.now();
  const r = await client.callTool({ name, arguments: args });
  log(`${name} ${JSON.stringify(args)} -> isError=${r.isError} in ${Date.now() - t0} ms`);
  check(Array.isArray(r.content) && r.content.length > 0, `${name}: content`, r);
  check(!!r.isError === expectError, `${name}: isError should be ${expectError}`, text(r));
  return r;
}

async function expectMcpError(promise, code, what) {
  try {
    await promise;
  } catch (e) {
    check(e instanceof McpError, `${what}: McpError`, String(e));
    check(e.code === code, `${what}: code ${code}, got ${e.code}`, e.message);
    log(`${what} -> JSON-RPC error ${e.code}: ${e.message}`);
    return e;
  }
  throw new Error(`check failed: ${what} should have failed with ${code}`);
}

async function main() {
  let transport;
  let base;
  if (mode === 'stdio') {
    check(rest[0] === '--' && rest.length >= 2, 'usage: stdio KEY VALUE -- COMMAND ARGS...');
    transport = new StdioClientTransport({ command: rest[1], args: rest.slice(2), stderr: 'inherit' });
  } else if (mode === 'http') {
    base = new URL(rest[0]);
    transport = new StreamableHTTPClientTransport(base);
  } else if (mode === 'sse') {
    base = new URL(rest[0]);
    transport = new SSEClientTransport(base);
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  const client = new Client({ name: 'resdb-trace-mcp-test', version: '1.0.0' });
  await client.connect(transport);
  const report = { mode };

  // initialize: who answered, which protocol revision.
  const info = client.getServerVersion();
  check(info && info.name === 'resdb-trace', 'serverInfo.name', info);
  check(info.version === process.env.RESDB_TRACE_VERSION, 'serverInfo.version is VERSION', info);
  check(client.getServerCapabilities()?.tools, 'tools capability', client.getServerCapabilities());
  check((client.getInstructions() || '').includes('trace_request'), 'instructions mention the workflow');
  if (mode === 'http') {
    // The SDK sends its newest revision; the server supports it and echoes it.
    report.protocol_version = transport.protocolVersion;
    check(transport.sessionId && /^[0-9a-f]{32}$/.test(transport.sessionId), 'Mcp-Session-Id', transport.sessionId);
  }
  await client.ping();

  // tools/list: every tool, each with an object input schema.
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name).sort();
  report.tools = names;
  for (const want of ['collector_stats', 'commit_key_value', 'get_key_value', 'list_slow_requests',
    'trace_profile', 'trace_request', 'view_changes']) {
    check(names.includes(want), `tools/list has ${want}`, names);
  }
  for (const t of tools) {
    check(t.inputSchema && t.inputSchema.type === 'object', `${t.name}: inputSchema is an object schema`, t);
    check(typeof t.description === 'string' && t.description.length > 40, `${t.name}: description`);
  }
  const commitTool = tools.find((t) => t.name === 'commit_key_value');
  check(JSON.stringify(commitTool.inputSchema.required) === '["key","value"]', 'commit_key_value requires key and value',
    commitTool.inputSchema);
  check(commitTool.inputSchema.properties.key.type === 'string', 'key is a string');
  const traceTool = tools.find((t) => t.name === 'trace_request');
  check(traceTool.inputSchema.properties.seq.type === 'integer', 'trace_request.seq is an integer');

  // The seed's workflow: write, read the seq, trace it, read back, profile.
  const commit = await call(client, 'commit_key_value', { key, value });
  const commitText = text(commit);
  const m = commitText.match(/sequence number (\d+)/);
  check(m, 'commit_key_value text names the seq', commitText);
  const seq = Number(m[1]);
  check(seq > 0, 'seq > 0');
  // structuredContent: the SDK negotiates a revision >= 2025-06-18.
  check(commit.structuredContent && commit.structuredContent.seq === seq, 'structuredContent.seq', commit.structuredContent);
  report.seq = seq;
  report.commit_text = commitText;
  report.request = commit.structuredContent?.request;

  const traced = await call(client, 'trace_request', { seq, wait_seconds: 10 });
  report.trace_text = text(traced);
  check(report.trace_text.startsWith(`seq ${seq} `), 'trace_request starts with the seq', report.trace_text);
  check(report.trace_text.includes(`/timeline/${seq}`), 'trace_request has the web link', report.trace_text);

  const byKey = await call(client, 'trace_request', { key, wait_seconds: 10 });
  check(text(byKey).startsWith(`seq ${seq} `), 'trace_request by key finds the same seq', text(byKey));

  if (report.request) {
    const byRequest = await call(client, 'trace_request', { request: report.request, wait_seconds: 10 });
    check(text(byRequest).startsWith(`seq ${seq} `), 'trace_request by PROXY:LOCAL_ID finds the same seq', text(byRequest));
  }

  const got = await call(client, 'get_key_value', { key });
  const gotText = text(got);
  check(gotText.startsWith(`${key} = ${value} `), 'get_key_value returns the value', gotText);
  report.get_text = gotText;
  if (got.structuredContent) {
    check(got.structuredContent.value === value && got.structuredContent.found === true, 'get structuredContent',
      got.structuredContent);
    check(got.structuredContent.seq > seq, 'the read is ordered after the write', got.structuredContent);
  }
  const missing = await call(client, 'get_key_value', { key: `${key}-never-set` });
  check(text(missing).includes('is not set'), 'get_key_value of a missing key', text(missing));

  const profile = await call(client, 'trace_profile', { seconds: 2 });
  report.profile_text = text(profile);
  check(report.profile_text.includes('# CPU profile'), 'trace_profile returns markdown', report.profile_text);
  check(report.profile_text.includes('## Top functions by self time'), 'trace_profile lists functions', report.profile_text);
  const byPhase = await call(client, 'trace_profile', { last_seconds: 30, replica: 2, phase: 'prepare,commit' });
  check(text(byPhase).includes('replica 2, phase prepare,commit'), 'trace_profile by replica and phase', text(byPhase));

  const slow = await call(client, 'list_slow_requests', { limit: 5 });
  report.slow_text = text(slow);
  const rows = report.slow_text.split('\n').filter((l) => l.startsWith('seq '));
  check(rows.length >= 1 && rows.length <= 5, 'list_slow_requests returns 1..5 rows', report.slow_text);

  const vc = await call(client, 'view_changes', {});
  report.view_changes_text = text(vc);
  const stats = await call(client, 'collector_stats', {});
  report.stats_text = text(stats);
  check(/hooks attached [1-9]\d* of \d+/.test(report.stats_text), 'collector_stats: hooks attached', report.stats_text);

  // Errors: a protocol error for an unknown tool or method, a tool error
  // (isError with a useful text) for bad arguments.
  await expectMcpError(client.callTool({ name: 'no_such_tool', arguments: {} }), ErrorCode.InvalidParams, 'unknown tool');
  await expectMcpError(client.request({ method: 'no/such/method', params: {} }, EmptyResultSchema),
    ErrorCode.MethodNotFound, 'unknown method');
  const badType = await call(client, 'commit_key_value', { key: 5, value: 'x' }, { expectError: true });
  check(text(badType).includes("'key' must be a string"), 'bad type explained', text(badType));
  const missingArg = await call(client, 'commit_key_value', { key: 'k' }, { expectError: true });
  check(text(missingArg).includes("missing required argument 'value'"), 'missing argument explained', text(missingArg));
  const extra = await call(client, 'view_changes', { bogus: 1 }, { expectError: true });
  check(text(extra).includes("unknown argument 'bogus'"), 'unknown argument explained', text(extra));
  const none = await call(client, 'trace_request', {}, { expectError: true });
  check(text(none).includes('exactly one of'), 'trace_request without a key explained', text(none));
  const space = await call(client, 'get_key_value', { key: 'two words' }, { expectError: true });
  check(text(space).includes('whitespace'), 'key with a space explained', text(space));
  const unknownKey = await call(client, 'trace_request', { key: 'never-written-here' }, { expectError: true });
  check(text(unknownKey).includes('was not written through this MCP server'), 'unknown key explained', text(unknownKey));
  const badPhase = await call(client, 'trace_profile', { phase: 'lunch' }, { expectError: true });
  check(text(badPhase).includes("'lunch' is not a PBFT phase"), 'bad phase explained', text(badPhase));
  const noSeq = await call(client, 'trace_request', { seq: 999999999, wait_seconds: 0 }, { expectError: true });
  check(text(noSeq).includes('no timeline for seq 999999999'), 'unknown seq explained', text(noSeq));

  if (mode === 'http') {
    await httpChecks(base, transport);
  }
  await client.close();
  console.log(JSON.stringify(report));
}

// Transport-level behaviour of Streamable HTTP, with plain fetch.
async function httpChecks(url, transport) {
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  let r = await fetch(url, { method: 'POST', headers, body });
  check(r.status === 400, `POST without Mcp-Session-Id -> 400, got ${r.status}`, await r.text());
  r = await fetch(url, { method: 'POST', headers: { ...headers, 'mcp-session-id': 'nope' }, body });
  check(r.status === 404, `unknown session -> 404, got ${r.status}`);
  r = await fetch(url, { method: 'GET', headers: { accept: 'text/event-stream' } });
  check(r.status === 405, `GET /mcp -> 405 (no server-initiated stream), got ${r.status}`);
  await r.body?.cancel();
  const session = { ...headers, 'mcp-session-id': transport.sessionId };
  r = await fetch(url, { method: 'POST', headers: { ...session, origin: 'http://evil.example' }, body });
  check(r.status === 403, `foreign Origin -> 403, got ${r.status}`);
  r = await fetch(url, { method: 'POST', headers: { ...session, 'mcp-protocol-version': '1999-01-01' }, body });
  check(r.status === 400, `unsupported MCP-Protocol-Version -> 400, got ${r.status}`);
  r = await fetch(url, { method: 'POST', headers: session, body: '{"jsonrpc": "2.0", "id": 1, "method": ' });
  const parse = await r.json();
  check(r.status === 400 && parse.error?.code === -32700, 'bad JSON -> 400 with a parse error', parse);
  r = await fetch(url, { method: 'POST', headers: session, body: '{"jsonrpc":"2.0","method":"notifications/whatever"}' });
  check(r.status === 202, `a notification -> 202, got ${r.status}`);
  r = await fetch(url, { method: 'POST', headers: session, body });
  const pong = await r.json();
  check(r.status === 200 && pong.id === 1 && pong.result, 'ping in the session', pong);
  // Ending the session: later requests with its id are 404.
  await transport.terminateSession();
  r = await fetch(url, { method: 'POST', headers: session, body });
  check(r.status === 404, `ended session -> 404, got ${r.status}`);
  log('HTTP transport checks passed');
}

main().catch((e) => {
  console.error(`[client ${mode}] FAILED: ${e.stack || e}`);
  process.exit(1);
});
