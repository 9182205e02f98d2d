// V8 CPU profiles of a Worker in workerd, through Miniflare's inspector (Chrome DevTools
// protocol over a WebSocket), and the self-time table of a profile.
import net from 'node:net';

/** Opens the DevTools session of the Worker named `worker` (target title `workerd: worker core:user:<worker>`). */
export async function inspect(inspectorPort, worker) {
  const targets = await (await fetch(`http://127.0.0.1:${inspectorPort}/json/list`)).json();
  const target = targets.find((t) => t.title.endsWith(`core:user:${worker}`));
  if (!target) throw new Error(`no inspector target core:user:${worker} (have: ${targets.map((t) => t.title).join(', ')})`);
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error(`inspector WebSocket ${target.webSocketDebuggerUrl} failed`));
  });
  let nextId = 1;
  const waiting = new Map();
  ws.onmessage = (message) => {
    const reply = JSON.parse(message.data);
    const pending = waiting.get(reply.id);
    if (!pending) return; // an event
    waiting.delete(reply.id);
    if (reply.error) pending.reject(new Error(`${pending.method}: ${reply.error.message}`));
    else pending.resolve(reply.result);
  };
  /** Sends one protocol command; resolves with its result. */
  const send = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, { resolve, reject, method });
      ws.send(JSON.stringify({ id, method, params }));
    });
  return { send, close: () => ws.close() };
}

/**
 * Samples `session` every `intervalUs` while `work()` runs; resolves with the `.cpuprofile`
 * (Profiler.Profile: nodes, samples, timeDeltas).
 */
export async function profileWhile(session, work, { intervalUs = 100 } = {}) {
  await session.send('Profiler.enable');
  await session.send('Profiler.setSamplingInterval', { interval: intervalUs });
  await session.send('Profiler.start');
  let failure = null;
  try {
    await work();
  } catch (err) {
    failure = err;
  }
  const { profile } = await session.send('Profiler.stop');
  if (failure) throw failure;
  return profile;
}

/** A node's name in the table: function name (or what V8 calls it) and where it comes from. */
function frameName({ functionName, url, lineNumber }) {
  const name = functionName || '(anonymous)';
  if (!url) return name;
  const file = url.split('/').at(-1);
  return `${name} ${file}${file.endsWith('.wasm') || lineNumber < 0 ? '' : `:${lineNumber + 1}`}`;
}

/**
 * The `n` functions with the most self time in `profile`, by name: [{name, ms, share}], with the
 * total sampled milliseconds. `(idle)` is left out of the shares (it is time spent waiting).
 * `capUs`: the most one sample counts for. workerd does not always report its waits as
 * `(idle)`, so in a mostly idle workload (the steady one) the first sample after a wait would
 * carry the whole wait; bench/profile.mjs caps it at twice the sampling interval there.
 */
export function topSelfTime(profile, n = 20, { capUs = Infinity } = {}) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const name = frameName(node.callFrame);
    if (name === '(idle)') return;
    const us = Math.min(profile.timeDeltas[i] ?? 0, capUs);
    total += us;
    self.set(name, (self.get(name) ?? 0) + us);
  });
  const rows = [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, us]) => ({ name, ms: us / 1000, share: us / total }));
  return { rows, totalMs: total / 1000 };
}

/** The table as text: rank, self ms, share, name. */
export function formatTop({ rows, totalMs }) {
  const lines = [`self time of ${totalMs.toFixed(0)} ms sampled (idle excluded)`, ' #   self ms   share  function'];
  rows.forEach((r, i) => {
    lines.push(`${String(i + 1).padStart(2)}  ${r.ms.toFixed(1).padStart(8)}  ${(r.share * 100).toFixed(1).padStart(5)}%  ${r.name}`);
  });
  return lines.join('\n');
}

/** A TCP port nobody listens on right now (for Miniflare's inspector). */
export async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}
