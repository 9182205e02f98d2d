// Memory of a full outbox: how much workerd's peak resident memory grows when an object starts
// with N pending events (its lanes loaded from SQLite) and then holds them, against the same
// object started with none. Not a test: it asserts nothing and prints numbers. It is how the
// bound of `delivery.maxPending` was chosen (see the README).
//
//   ./scripts/build-worker && cargo build -p gateway-sim --release
//   source scripts/env.sh && node bench/outbox-memory.mjs [events=100000] [channels=100]
import fs from 'node:fs';
import { waitFor } from '../e2e/harness/index.mjs';
import { deployment } from '../e2e/fixture.mjs';

const EVENTS = Number(process.argv[2] ?? 100_000);
const CHANNELS = Number(process.argv[3] ?? 100);

/** The pids of `pid` and all its descendants. */
function tree(pid) {
  const out = [pid];
  try {
    const children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    for (const child of children ? children.split(' ') : []) out.push(...tree(Number(child)));
  } catch {
    /* gone */
  }
  return out;
}

/** VmRSS and VmHWM (peak) of the workerd process under `rootPid`, in MiB. */
function workerdMemory(rootPid) {
  for (const pid of tree(rootPid)) {
    let comm;
    try {
      comm = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    if (comm !== 'workerd') continue;
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (key) => Number(status.match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'))[1]);
    return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
  }
  throw new Error('no workerd process found');
}

/** Restarts the worker on its storage and measures what constructing the object costs. */
async function startCost(d) {
  await d.restart();
  const before = workerdMemory(d.worker.pid);
  const status = await d.status();
  const after = workerdMemory(d.worker.pid);
  return { pending: status.delivery.pending, peak: after.peak - before.peak, rss: after.rss - before.rss };
}

async function measure(events) {
  const d = await deployment();
  try {
    // Nothing listens on port 1: every attempt fails at once and is retried later.
    await d.connectReady({ webhookUrl: 'http://127.0.0.1:1/hook', delivery: { maxPending: 250_000 } });
    const perChannel = Math.ceil(events / CHANNELS);
    let sent = 0;
    for (let c = 0; sent < events; c += 1) {
      const count = Math.min(perChannel, events - sent);
      for (let left = count; left > 0; left -= 10_000) {
        await d.dispatch({ preset: 'guild_message', count: Math.min(left, 10_000), overrides: { channel_id: String(1300000000000000000n + BigInt(c)) } });
      }
      sent += count;
    }
    await waitFor(async () => ((await d.status()).delivery.pending >= events ? true : null), {
      timeoutMs: 30 * 60_000,
      intervalMs: 1000,
      message: `${events} events pending`,
    });
    await d.call('POST', '/disconnect');
    return await startCost(d);
  } finally {
    await d.stop();
  }
}

const empty = await measure(0);
const full = await measure(EVENTS);
const perEvent = ((full.peak - empty.peak) * 1024 * 1024) / EVENTS;
console.log(JSON.stringify({ events: EVENTS, channels: CHANNELS, emptyStartMiB: empty, fullStartMiB: full }));
console.log(`peak resident memory added by loading ${full.pending} pending events: ${(full.peak - empty.peak).toFixed(1)} MiB`);
console.log(`≈ ${perEvent.toFixed(0)} bytes per pending event; at 1,000,000: ${((perEvent * 1e6) / 1024 / 1024).toFixed(0)} MiB`);
