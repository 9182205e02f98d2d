// What the first request of a cold start does (issue 9): a V8 CPU profile of a fresh workerd's
// first `GET /status` to our Durable Object (empty storage), its samples split between the entry
// Worker (token check, forwarding to the object) and the object (constructor: migrations and
// loads; first route), and, from one more start of a counting copy of the build
// (bench/lib/storage-calls.mjs), every SQL statement and transaction of that first request.
// Not a test: it asserts nothing and prints numbers.
//
//   source scripts/env.sh && node bench/startup-profile.mjs [starts, default 3] [out.cpuprofile]
//   (a `./scripts/build-worker --profiling` build names the Wasm functions; DGD_BUILD_DIR=<a build/>
//   profiles another build, e.g. one from before a change; DGD_STARTUP_RESTART=1 profiles the first
//   request of a second workerd over the same storage: the object's database exists)
//
// Each start is a new Miniflare child with the inspector on; the profile (50 µs sampling) runs
// from just before the first request until it is answered. Figures are per start: medians
// (min-max) over the starts. The statements are counted in a start of their own (the counting
// glue is not profiled).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gatewayWorker, startWorkers } from '../e2e/harness/multi.mjs';
import { ADMIN_TOKEN, adminCall } from '../e2e/fixture.mjs';
import { formatTop, freePort, inspect, topSelfTime } from './lib/cpuprofile.mjs';
import { CALLS_PATH, countingBuild } from './lib/storage-calls.mjs';

const STARTS = Number(process.argv[2] ?? 3);
const out = process.argv[3] ?? path.join(os.tmpdir(), `dgd-startup-${Date.now()}.cpuprofile`);
const restart = process.env.DGD_STARTUP_RESTART === '1';
const WORKER = 'discord-gateway-do';

/** Which part of the request a sample belongs to, by the innermost frame of ours on its stack. */
function part(stack) {
  for (const name of stack) {
    if (/discordgatewaydo_new|Runtime>::new|durable_object::migrate|DiscordGatewayDO as worker::durable::DurableObject>::new/.test(name)) {
      return 'object: constructor (migrations, loads)';
    }
    if (/durable_object::|discordgatewaydo_fetch|DiscordGatewayDO/.test(name)) return 'object: fetch (routes)';
    if (/discord_gateway_do::entry|discord_gateway_do::auth|^fetch$|__wbg_fetch|entry::/.test(name)) return 'entry Worker (token check, forward)';
  }
  return 'other (runtime, glue, GC, compile)';
}

/** Self time per part of the request (idle left out): Map(part → ms). */
function byPart(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const parts = new Map();
  profile.samples.forEach((id, i) => {
    if (byId.get(id).callFrame.functionName === '(idle)') return;
    const stack = [];
    for (let at = id; at !== undefined; at = parent.get(at)) stack.push(byId.get(at).callFrame.functionName);
    const p = part(stack);
    parts.set(p, (parts.get(p) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  return parts;
}

const buildDir = process.env.DGD_BUILD_DIR || 'build';

/**
 * One cold start of `worker` (a fresh workerd; with DGD_STARTUP_RESTART=1 a second one over the
 * storage of a first that answered once): `measure(w, inspectorPort)` around its first request.
 */
async function coldStart(worker, measure) {
  const persistDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgd-startup-profile-'));
  try {
    if (restart) {
      const first = await startWorkers({ workers: [worker], persistDir });
      try {
        const res = await adminCall(first, 'GET', '/status');
        if (res.status !== 200) throw new Error(`status before the restart answered ${res.status}`);
      } finally {
        await first.stop();
      }
    }
    const inspectorPort = await freePort();
    const w = await startWorkers({ workers: [worker], persistDir, inspectorPort });
    try {
      return await measure(w, inspectorPort);
    } finally {
      await w.stop();
    }
  } finally {
    fs.rmSync(persistDir, { recursive: true, force: true });
  }
}

/** The first request, sampled: {wallMs, parts, top, profile}. */
async function profiled(w, inspectorPort) {
  const session = await inspect(inspectorPort, WORKER);
  await session.send('Profiler.enable');
  await session.send('Profiler.setSamplingInterval', { interval: 50 });
  await session.send('Profiler.start');
  const t0 = performance.now();
  const res = await adminCall(w, 'GET', '/status');
  const wallMs = performance.now() - t0;
  const { profile } = await session.send('Profiler.stop');
  session.close();
  if (res.status !== 200) throw new Error(`first request answered ${res.status}`);
  return { wallMs, parts: byPart(profile), top: topSelfTime(profile, 20), profile };
}

/** The first request's storage calls, from the counting copy: {statements, transactions, kv}. */
async function counted(w) {
  await adminCall(w, 'GET', CALLS_PATH); // forget what the restart's first run recorded
  const res = await adminCall(w, 'GET', '/status');
  if (res.status !== 200) throw new Error(`first request answered ${res.status}`);
  return (await adminCall(w, 'GET', CALLS_PATH)).json;
}

const runs = [];
for (let i = 0; i < STARTS; i += 1) {
  runs.push(await coldStart(gatewayWorker({ vars: { GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN }, buildDir }), profiled));
}
const countingDir = countingBuild(buildDir);
let calls;
try {
  calls = await coldStart(gatewayWorker({ vars: { GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN }, buildDir: countingDir }), counted);
} finally {
  fs.rmSync(countingDir, { recursive: true, force: true });
}

const show = (values) => {
  const s = [...values].sort((a, b) => a - b);
  return `${s[Math.floor(s.length / 2)].toFixed(1)} (${s[0].toFixed(1)}-${s.at(-1).toFixed(1)})`;
};
fs.writeFileSync(out, JSON.stringify(runs.at(-1).profile));
console.log(`first request of ${STARTS} cold starts (${restart ? 'database exists: second workerd over the same storage' : 'empty storage'}); profile of the last: ${out}`);
console.log(`wall time of the first request, ms: ${show(runs.map((r) => r.wallMs))}`);
console.log('\n| part | sampled CPU, ms |\n|---|---|');
const partNames = [...new Set(runs.flatMap((r) => [...r.parts.keys()]))].sort();
for (const p of partNames) console.log(`| ${p} | ${show(runs.map((r) => r.parts.get(p) ?? 0))} |`);
console.log(`| all (idle excluded) | ${show(runs.map((r) => r.top.totalMs))} |`);
console.log(`\nstorage on the first request: ${calls.statements.length} SQL statements, ${calls.transactions} transactionSync, ${calls.kv.length} KV-API calls${calls.kv.length ? ` (${calls.kv.join(', ')})` : ''}`);
const tally = new Map();
for (const q of calls.statements) tally.set(q, (tally.get(q) ?? 0) + 1);
for (const [q, n] of tally) console.log(`  ${String(n).padStart(2)}× ${q.length > 110 ? `${q.slice(0, 107)}...` : q}`);
console.log(`\nlast start's top 20:\n${formatTop(runs.at(-1).top)}`);
