// End-to-end benchmark: the built worker in workerd vs. a naive forwarder in Node, same run,
// same simulator, same receiver. Not a test: it asserts nothing and prints numbers.
//
//   ./scripts/setup && ./scripts/build-worker && cargo build -p gateway-sim --release
//   source scripts/env.sh && node bench/forwarding.mjs [events] [rounds] [latency samples]
//
// Measures: forwarding latency (from just before the simulator is asked to dispatch to the
// request's arrival at the receiver, both on this process's performance.now() clock), drain rate
// for a burst with an instant receiver (one channel: strictly serial; eight channels), workerd
// CPU per event, SQLite rows written per event, and the Wasm size. The two forwarders run in
// interleaved rounds (ours first in odd rounds, the baseline first in even ones); each figure is
// the median of the rounds with its range.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { performance } from 'node:perf_hooks';
import { ROOT, waitFor } from '../e2e/harness/index.mjs';
import { BOT_TOKEN, deployment } from '../e2e/fixture.mjs';

const BURST = Number(process.argv[2] ?? 500);
const ROUNDS = Number(process.argv[3] ?? 3);
const LATENCY_SAMPLES = Number(process.argv[4] ?? 100);
/** The same per-channel order and the same cap on channels delivered at once as ours (default 4). */
const CONCURRENCY = 4;

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
 * dispatch, one request at a time per channel and at most CONCURRENCY channels at once (like
 * ours), no durable outbox, no retries.
 */
async function naiveForwarder(sim, webhookUrl) {
  const { url } = await (await fetch(`${sim.apiBase}/gateway/bot`, { headers: { authorization: `Bot ${BOT_TOKEN}` } })).json();
  const ws = new WebSocket(`${url}/?v=10&encoding=json`);
  let seq = null;
  let beat;
  const lanes = new Map();
  let active = 0;
  const waiting = [];
  const slot = () => (active < CONCURRENCY ? (active += 1, Promise.resolve()) : new Promise((resolve) => waiting.push(resolve)));
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else active -= 1;
  };
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
        const next = previous.then(slot).then(() =>
          fetch(webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'x-discord-gateway-token': BOT_TOKEN }, body })
            .then((res) => res.arrayBuffer())
            .finally(release),
        );
        lanes.set(frame.d.channel_id, next.catch(() => {}));
      }
    };
  });
  await ready;
  return { close: () => { clearInterval(beat); ws.close(1000); } };
}

async function measure(d, receiverCount) {
  const latencies = [];
  for (let i = 0; i < LATENCY_SAMPLES; i += 1) {
    // Stamped before the simulator is asked, on the clock the receiver stamps arrivals with.
    const sentAt = performance.now();
    const { sent: [event] } = await d.dispatch({ preset: 'guild_message' });
    const request = await d.receiver.waitFor((rs) => rs.find((r) => r.rawBody.includes(event.data.id)), 10_000);
    latencies.push(request.receivedAtHr - sentAt);
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
  return { p50: quantile(latencies, 0.5), p95: quantile(latencies, 0.95), rate, rate8 };
}

/** Median and range of a list of numbers. */
function spread(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)], min: sorted[0], max: sorted.at(-1) };
}

const show = (values, digits = 1) => {
  const { median, min, max } = spread(values);
  return `${median.toFixed(digits)} (${min.toFixed(digits)}-${max.toFixed(digits)})`;
};

const d = await deployment({ heartbeatIntervalMs: 41_250 });
try {
  const ours = [];
  const baseline = [];
  let cpu = 0;
  let events = 0;
  let rows = 0;
  const runOurs = async () => {
    await d.connectReady();
    const before = await d.status();
    const cpuBefore = cpuSeconds(d.worker.pid);
    ours.push(await measure(d, () => d.receiver.requests.length));
    await waitFor(async () => ((await d.status()).delivery.pending === 0 ? true : null));
    cpu += cpuSeconds(d.worker.pid) - cpuBefore;
    const after = await d.status();
    events += after.delivery.delivered - before.delivery.delivered;
    rows += after.delivery.storageRowsWritten - before.delivery.storageRowsWritten;
    await d.call('POST', '/disconnect');
  };
  const runBaseline = async () => {
    const naive = await naiveForwarder(d.sim, `${d.receiver.url}/webhook`);
    baseline.push(await measure(d, () => d.receiver.requests.length));
    naive.close();
  };
  for (let round = 0; round < ROUNDS; round += 1) {
    d.receiver.clear();
    const order = round % 2 === 0 ? [runOurs, runBaseline] : [runBaseline, runOurs];
    for (const run of order) {
      await run();
      d.receiver.clear();
    }
  }

  const wasm = fs.readdirSync(path.join(ROOT, 'build')).find((f) => f.endsWith('.wasm'));
  const bytes = fs.readFileSync(path.join(ROOT, 'build', wasm));
  console.log(`events per burst: ${BURST}; latency samples per round: ${LATENCY_SAMPLES}; rounds: ${ROUNDS} (interleaved); medians (min-max)`);
  for (const [label, rs] of [['naive Node forwarder (baseline)', baseline], ['discord-gateway-do (workerd)', ours]]) {
    console.log(
      `${label.padEnd(34)} latency p50 ${show(rs.map((r) => r.p50), 2)} ms  p95 ${show(rs.map((r) => r.p95), 2)} ms  ` +
        `drain 1 channel ${show(rs.map((r) => r.rate), 0)}/s, 8 channels ${show(rs.map((r) => r.rate8), 0)}/s`,
    );
  }
  const ratio = (key) => show(ours.map((r, i) => r[key] / baseline[i][key]), 2);
  console.log(`ratios (ours / baseline, per round): latency p50 ${ratio('p50')}x, p95 ${ratio('p95')}x, drain 1 channel ${ratio('rate')}x, 8 channels ${ratio('rate8')}x`);
  console.log(`workerd CPU per forwarded event: ${((cpu / events) * 1000).toFixed(3)} ms (process CPU incl. the runtime, over ${events} events)`);
  console.log(`SQLite rows written per delivered event: ${(rows / events).toFixed(2)} (${rows} rows, ${events} events)`);
  console.log(`wasm: ${(bytes.length / 1024).toFixed(0)} KiB raw, ${(zlib.gzipSync(bytes, { level: 9 }).length / 1024).toFixed(0)} KiB gzipped`);
} finally {
  await d.stop();
}
