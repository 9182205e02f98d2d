// Sharded start and throughput (issue 12), in local workerd against the simulator. Not a test:
// it asserts nothing and prints numbers.
//
//   source scripts/env.sh && node bench/sharding.mjs [max_concurrency, default 1] [shard counts, default 1,4,16]
//
// For each shard count n: a fresh deployment (simulator recommending n shards with the given
// max_concurrency, receiver, worker), `POST /connect {"shards": n}`, and the time until the
// bot's `/status` says every shard READY, against Discord's floor `ceil(n / max_concurrency) × 5 s`
// (the first batch identifies at once, so the real floor is one window less). Then guild
// messages spread over 2n guilds (so over every shard) are injected into the simulator in one
// burst per guild, and "events/s" is the number of events over the time from the first injection
// until the receiver has them all (webhook answering 200 at once): all shards' objects together.
import { performance } from 'node:perf_hooks';
import { deployment } from '../e2e/fixture.mjs';
import { waitFor } from '../e2e/harness/index.mjs';

const MAX_CONCURRENCY = Number(process.argv[2] ?? 1);
const COUNTS = (process.argv[3] ?? '1,4,16').split(',').map(Number);
const EVENTS = 2000;

async function run(n) {
  const d = await deployment({ heartbeatIntervalMs: 41_250 });
  try {
    const guilds = 2 * n;
    await d.sim.control('/_sim/config', {
      shards: n,
      guilds,
      sessionStartLimit: { total: 1000, remaining: 1000, resetAfterMs: 86_400_000, maxConcurrency: MAX_CONCURRENCY },
    });
    const t0 = performance.now();
    const res = await d.call('POST', '/connect', { shards: n });
    if (res.status !== 202) throw new Error(`connect answered ${res.status}: ${JSON.stringify(res.json)}`);
    await waitFor(async () => {
      const s = await d.status();
      return s.state === 'connected' && (n === 1 || s.totals?.ready === n) ? s : null;
    }, { timeoutMs: 20_000 + Math.ceil(n / MAX_CONCURRENCY) * 10_000, intervalMs: 250, message: 'all READY' });
    const readyMs = performance.now() - t0;
    const perGuild = Math.ceil(EVENTS / guilds);
    const t1 = performance.now();
    await Promise.all(Array.from({ length: guilds }, (_, g) => d.dispatch({ preset: 'guild_message', guildIndex: g, count: perGuild })));
    const total = perGuild * guilds;
    await d.receiver.waitFor((rs) => rs.length >= total, 120_000);
    const deliverMs = performance.now() - t1;
    return { n, readyMs, floorMs: Math.ceil(n / MAX_CONCURRENCY) * 5000, total, eventsPerSecond: total / (deliverMs / 1000) };
  } finally {
    await d.stop();
  }
}

console.log(`max_concurrency ${MAX_CONCURRENCY}`);
console.log('shards | /connect → all READY | ceil(n/mc)×5 s | events | events/s (all shards)');
for (const n of COUNTS) {
  const r = await run(n);
  console.log(`${String(r.n).padStart(6)} | ${(r.readyMs / 1000).toFixed(1).padStart(18)} s | ${(r.floorMs / 1000).toFixed(0).padStart(12)} s | ${String(r.total).padStart(6)} | ${r.eventsPerSecond.toFixed(0).padStart(8)}`);
}
