// The two workloads of issue 9, run against one forwarder of the stand (stand.mjs): a burst over
// several channels with an instant receiver, and a steady rate. Each event's latency runs from
// just before the simulator is asked to dispatch it to its arrival at the receiver, both on this
// process's performance.now() clock. CPU is the whole workerd process tree's, over the workload.
import { performance } from 'node:perf_hooks';
import { sleep, waitFor } from '../../e2e/harness/index.mjs';
import { cpuSeconds } from './stand.mjs';

/** The value at quantile q of a list of numbers. */
export function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/**
 * Waits until `total` events reached the receiver and the forwarder counted them delivered with
 * nothing pending; resolves with the figures common to both workloads.
 */
async function finish(stand, fwd, { total, before, cpuBefore, sentAt }) {
  const { receiver } = stand;
  await waitFor(() => (receiver.requests.length >= total ? true : null), { timeoutMs: 180_000, intervalMs: 5, message: `${total} events at the receiver` });
  let after;
  await waitFor(async () => {
    after = await fwd.counters();
    return after.delivered - before.delivered >= total && after.pending === 0 ? true : null;
  }, { timeoutMs: 60_000, intervalMs: 20, message: 'delivered counted' });
  const cpu = cpuSeconds(stand.workers.pid) - cpuBefore;
  const latencies = [];
  let last = 0;
  for (const r of receiver.requests) {
    const stamp = sentAt.get(JSON.parse(r.rawBody.toString('utf8')).data?.id);
    if (stamp === undefined) continue;
    latencies.push(r.receivedAtHr - stamp);
    last = Math.max(last, r.receivedAtHr);
  }
  if (latencies.length !== total) throw new Error(`${fwd.label}: ${latencies.length} of ${total} dispatched events arrived`);
  return {
    cpuPerEventMs: (cpu * 1000) / total,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    rowsPerEvent: (after.rowsWritten - before.rowsWritten) / total,
    last,
  };
}

/**
 * `events` MESSAGE_CREATE (rounded up to a multiple of `channels`), dispatched channel by channel
 * as fast as the simulator takes them. rate: events per second from the first dispatch to the
 * last arrival.
 */
export async function burst(stand, fwd, { events, channels = 8 }) {
  stand.receiver.clear();
  const perChannel = Math.ceil(events / channels);
  const total = perChannel * channels;
  const before = await fwd.counters();
  const cpuBefore = cpuSeconds(stand.workers.pid);
  const sentAt = new Map();
  const start = performance.now();
  for (let c = 0; c < channels; c += 1) {
    const overrides = { channel_id: String(1300000000000000800n + BigInt(c)) };
    const stamp = performance.now();
    const { sent } = await stand.dispatch({ preset: 'guild_message', count: perChannel, overrides });
    for (const e of sent) sentAt.set(e.data.id, stamp);
  }
  const r = await finish(stand, fwd, { total, before, cpuBefore, sentAt });
  return { ...r, rate: total / ((r.last - start) / 1000) };
}

/** `events` MESSAGE_CREATE at `perSecond`, on a fixed schedule (a late one does not delay the next). */
export async function steady(stand, fwd, { events, perSecond = 50 }) {
  stand.receiver.clear();
  const before = await fwd.counters();
  const cpuBefore = cpuSeconds(stand.workers.pid);
  const sentAt = new Map();
  const start = performance.now();
  const calls = [];
  for (let i = 0; i < events; i += 1) {
    const wait = start + (i * 1000) / perSecond - performance.now();
    if (wait > 0) await sleep(wait);
    const stamp = performance.now();
    calls.push(stand.dispatch({ preset: 'guild_message' }).then(({ sent }) => sentAt.set(sent[0].data.id, stamp)));
  }
  await Promise.all(calls);
  return finish(stand, fwd, { total: events, before, cpuBefore, sentAt });
}

/** Milliseconds from asking a forwarder to connect until its session is READY. */
export async function connect(fwd) {
  const start = performance.now();
  await fwd.connect();
  return performance.now() - start;
}
