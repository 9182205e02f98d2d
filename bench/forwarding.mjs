// End-to-end benchmark: the built worker in workerd vs. a naive forwarder in Node, same run,
// same simulator, same receiver. Not a test: it asserts nothing and prints numbers.
//
//   ./scripts/setup && ./scripts/build-worker && cargo build -p gateway-sim --release
//   source scripts/env.sh && node bench/forwarding.mjs [events]
//
// Measures: forwarding latency (dispatch sent by the simulator → request at the receiver),
// drain rate for a burst with an instant receiver (one channel: strictly serial; eight channels), workerd CPU per event, SQLite rows written
// per event, and the Wasm size.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { performance } from 'node:perf_hooks';
import { ROOT, waitFor } from '../e2e/harness/index.mjs';
import { BOT_TOKEN, deployment } from '../e2e/fixture.mjs';

const BURST = Number(process.argv[2] ?? 500);
const LATENCY_SAMPLES = 100;

/** CPU seconds (user + system) of a process and its descendants, from /proc. */
function cpuSeconds(rootPid) {
  const ticks = 100;
  let total = 0;
  const visit = (pid) => {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(fields[11]) + Number(fields[12])) / ticks;
      const children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
      for (const child of children ? children.split(' ') : []) visit(child);
    } catch {
      /* gone */
    }
  };
  visit(rootPid);
  return total;
}

function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/**
 * The baseline: what Chat SDK's own forwarder does. One WebSocket to the simulator, one POST per
 * dispatch, one request at a time per channel (like ours), no durable outbox, no retries.
 */
async function naiveForwarder(sim, webhookUrl) {
  const { url } = await (await fetch(`${sim.apiBase}/gateway/bot`, { headers: { authorization: `Bot ${BOT_TOKEN}` } })).json();
  const ws = new WebSocket(`${url}/?v=10&encoding=json`);
  let seq = null;
  let beat;
  const lanes = new Map();
  const ready = new Promise((resolve) => {
    ws.onmessage = async (message) => {
      const frame = JSON.parse(message.data);
      if (frame.s) seq = frame.s;
      if (frame.op === 10) {
        beat = setInterval(() => ws.send(JSON.stringify({ op: 1, d: seq })), frame.d.heartbeat_interval);
        ws.send(JSON.stringify({ op: 2, d: { token: BOT_TOKEN, intents: 46593, properties: { os: 'linux', browser: 'naive', device: 'naive' } } }));
      } else if (frame.op === 0 && frame.t === 'READY') {
        resolve();
      } else if (frame.op === 0 && frame.t === 'MESSAGE_CREATE') {
        const body = `{"type":"GATEWAY_${frame.t}","timestamp":${Date.now()},"data":${JSON.stringify(frame.d)}}`;
        const previous = lanes.get(frame.d.channel_id) ?? Promise.resolve();
        const next = previous.then(() =>
          fetch(webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'x-discord-gateway-token': BOT_TOKEN }, body })
            .then((res) => res.arrayBuffer()),
        );
        lanes.set(frame.d.channel_id, next.catch(() => {}));
      }
    };
  });
  await ready;
  return { close: () => { clearInterval(beat); ws.close(1000); } };
}

async function measure(d, label, receiverCount) {
  const latencies = [];
  for (let i = 0; i < LATENCY_SAMPLES; i += 1) {
    // From the simulator's answer (the frame is on the wire) to the receiver's arrival stamp.
    const { sent: [event] } = await d.dispatch({ preset: 'guild_message' });
    const sentAt = Date.now();
    const request = await d.receiver.waitFor((rs) => rs.find((r) => r.rawBody.includes(event.data.id)), 10_000);
    latencies.push(Math.max(0, request.receivedAt - sentAt));
  }
  /** Events per second for a burst spread over `channels` channels. */
  async function drain(channels) {
    const perChannel = Math.ceil(BURST / channels);
    const total = perChannel * channels;
    const before = receiverCount();
    const start = performance.now();
    for (let c = 0; c < channels; c += 1) {
      const overrides = { channel_id: String(1300000000000000800n + BigInt(c)) };
      await d.dispatch({ preset: 'guild_message', count: perChannel, overrides });
    }
    await waitFor(() => (receiverCount() >= before + total ? true : null), { timeoutMs: 120_000, intervalMs: 5 });
    return total / ((performance.now() - start) / 1000);
  }
  const rate = await drain(1);
  const rate8 = await drain(8);
  return { label, p50: quantile(latencies, 0.5), p95: quantile(latencies, 0.95), rate, rate8 };
}

const d = await deployment({ heartbeatIntervalMs: 41_250 });
try {
  // The worker.
  await d.connectReady();
  const cpuBefore = cpuSeconds(d.worker.pid);
  const ours = await measure(d, 'discord-gateway-do (workerd)', () => d.receiver.requests.length);
  const cpu = cpuSeconds(d.worker.pid) - cpuBefore;
  await waitFor(async () => ((await d.status()).delivery.pending === 0 ? true : null));
  const status = await d.status();
  const events = status.delivery.delivered;
  await d.call('POST', '/disconnect');

  // The baseline, same simulator and receiver.
  d.receiver.clear();
  const naive = await naiveForwarder(d.sim, `${d.receiver.url}/webhook`);
  const baseline = await measure(d, 'naive Node forwarder (baseline)', () => d.receiver.requests.length);
  naive.close();

  const wasm = fs.readdirSync(path.join(ROOT, 'build')).find((f) => f.endsWith('.wasm'));
  const bytes = fs.readFileSync(path.join(ROOT, 'build', wasm));
  console.log(`events per burst: ${BURST}; latency samples: ${LATENCY_SAMPLES}`);
  for (const r of [baseline, ours]) {
    console.log(
      `${r.label.padEnd(34)} latency p50 ${r.p50.toFixed(1).padStart(5)} ms  p95 ${r.p95.toFixed(1).padStart(5)} ms  drain 1 channel ${r.rate.toFixed(0).padStart(5)}/s, 8 channels ${r.rate8.toFixed(0).padStart(5)}/s`,
    );
  }
  console.log(`ratios (ours / baseline): latency p50 ${(ours.p50 / baseline.p50).toFixed(2)}x, drain 1 channel ${(ours.rate / baseline.rate).toFixed(2)}x, 8 channels ${(ours.rate8 / baseline.rate8).toFixed(2)}x`);
  console.log(`workerd CPU per forwarded event: ${((cpu / events) * 1000).toFixed(3)} ms (process CPU incl. the runtime)`);
  console.log(`SQLite rows written per delivered event: ${(status.delivery.storageRowsWritten / events).toFixed(2)} (${status.delivery.storageRowsWritten} rows, ${events} events, indexes included)`);
  console.log(`wasm: ${(bytes.length / 1024).toFixed(0)} KiB raw, ${(zlib.gzipSync(bytes, { level: 9 }).length / 1024).toFixed(0)} KiB gzipped`);
} finally {
  await d.stop();
}
