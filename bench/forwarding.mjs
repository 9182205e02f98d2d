// End-to-end benchmark (issue 9): the built worker against the runtime floor, a minimal JS
// Durable Object forwarder (bench/minimal-forwarder/), and the same with one SQLite insert and one
// delete per event (the naive durable floor), all three in ONE workerd (Miniflare), same run,
// same simulator, same instant receiver. Not a test: it asserts nothing and prints numbers.
//
//   ./scripts/setup && ./scripts/build-worker && cargo build -p gateway-sim --release
//   source scripts/env.sh && node bench/forwarding.mjs [burst events] [rounds] [steady events] [warm-up events]
//   DGD_BASELINE_BUILD_DIR=<another build/> node bench/forwarding.mjs ...   (before/after, one run)
//   DGD_EXTRA_FORWARDER=<module.js> DGD_EXTRA_FORWARDER_CLASSES=<DO classes> DGD_EXTRA_FORWARDER_LABEL=<name> \
//     node bench/forwarding.mjs ...    (one more forwarder built outside the repo, e.g. the TS
//     original: bench/lib/stand.mjs says what its module answers; README "Performance" how to build it)
//
// Per forwarder and round: `/connect` → READY; a burst of ~2,000 MESSAGE_CREATE over 8 channels
// (events/s from the first dispatch to the last arrival, workerd CPU per event, latency p50/p99);
// then 50 events/s steady (CPU per event, p50/p99). Latency runs from just before the simulator is
// asked to dispatch to the arrival at the receiver, on one performance.now() clock. CPU is the
// workerd process tree's over the workload (the idle objects cost next to nothing). The forwarders
// run in interleaved rounds (who goes first rotates), after an unmeasured warm-up burst of each
// (default 200 events: V8 compiles and optimises a forwarder's code, Wasm or JS, on its first
// events, and without it the first round of a large module measures its compilation); each figure is the median of the rounds with
// its range, and every figure of ours is also given as a ratio to the minimal forwarder's in the
// same round (median and range of the per-round ratios). Last, the same figures as a markdown table
// (medians; ratios to the minimal forwarder, and ours / the extra forwarder and / the baseline
// build when they run) for README.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { ROOT } from '../e2e/harness/index.mjs';
import { startStand } from './lib/stand.mjs';
import { burst, connect, steady } from './lib/workload.mjs';

const BURST = Number(process.argv[2] ?? 2000);
const ROUNDS = Number(process.argv[3] ?? 3);
const STEADY = Number(process.argv[4] ?? 250);
const WARM_UP = Number(process.argv[5] ?? 200);

/** Median and range of a list of numbers. */
function spread(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)], min: sorted[0], max: sorted.at(-1) };
}

const show = (values, digits = 1) => {
  const { median, min, max } = spread(values);
  return `${median.toFixed(digits)} (${min.toFixed(digits)}-${max.toFixed(digits)})`;
};

/** The figures, each with how many digits to print. */
const FIGURES = [
  ['connect → READY, ms', (r) => r.connectMs, 1],
  ['burst events/s (8 channels)', (r) => r.burst.rate, 0],
  ['burst workerd CPU/event, ms', (r) => r.burst.cpuPerEventMs, 3],
  ['burst latency p50, ms', (r) => r.burst.p50, 1],
  ['burst latency p99, ms', (r) => r.burst.p99, 1],
  ['steady 50/s CPU/event, ms', (r) => r.steady.cpuPerEventMs, 3],
  ['steady 50/s latency p50, ms', (r) => r.steady.p50, 2],
  ['steady 50/s latency p99, ms', (r) => r.steady.p99, 2],
  ['SQLite rows written/event', (r) => r.burst.rowsPerEvent, 2],
];

const stand = await startStand({ baselineBuildDir: process.env.DGD_BASELINE_BUILD_DIR });
try {
  const names = ['ours', ...(stand.forwarders.baseline ? ['baseline'] : []), ...(stand.forwarders.extra ? ['extra'] : []), 'minimal', 'durable'];
  /** results[name][round] */
  const results = Object.fromEntries(names.map((n) => [n, []]));
  // This Worker keeps two rules on its connects that a bench with short rounds runs into:
  // Discord's one Identify per 5 s (its identify budget), and its own ceiling of 6 connection
  // attempts in any 60 s (src/gateway/backoff.rs). Without a pause the `/connect` → READY of a
  // build of it would now and then wait out one of them (seconds; the seventh connect in a
  // minute, up to the 15 s timeout) and measure the rule instead of the connect. So each build
  // of it connects at least 10.1 s after its previous connect; the pause is not timed.
  const SPACED = new Set(['ours', 'baseline']);
  const lastConnect = new Map();
  const spacedConnect = async (name, fwd) => {
    const last = lastConnect.get(name);
    if (SPACED.has(name) && last !== undefined) {
      const wait = last + 10_100 - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
    lastConnect.set(name, Date.now());
    return connect(fwd);
  };
  if (WARM_UP > 0) {
    for (const name of names) {
      const fwd = stand.forwarders[name];
      await spacedConnect(name, fwd);
      await burst(stand, fwd, { events: WARM_UP });
      await fwd.disconnect();
    }
  }
  for (let round = 0; round < ROUNDS; round += 1) {
    const order = names.map((_, i) => names[(i + round) % names.length]);
    for (const name of order) {
      const fwd = stand.forwarders[name];
      const connectMs = await spacedConnect(name, fwd);
      const b = await burst(stand, fwd, { events: BURST });
      const s = await steady(stand, fwd, { events: STEADY });
      await fwd.disconnect();
      results[name].push({ connectMs, burst: b, steady: s });
    }
  }

  // The build the `ours` slot runs (DGD_BUILD_DIR, as e2e/harness/multi.mjs reads it).
  const buildDir = process.env.DGD_BUILD_DIR ?? path.join(ROOT, 'build');
  const wasm = fs.readdirSync(buildDir).find((f) => f.endsWith('.wasm'));
  const bytes = fs.readFileSync(path.join(buildDir, wasm));
  console.log(
    `burst: ${Math.ceil(BURST / 8) * 8} events over 8 channels; steady: ${STEADY} events at 50/s; ` +
      `rounds: ${ROUNDS} (interleaved, rotating order, after a ${WARM_UP}-event warm-up burst each); one workerd; medians (min-max)`,
  );
  const heading = { ours: 'discord-gateway-do', baseline: 'baseline build', extra: stand.forwarders.extra?.label, minimal: 'minimal JS DO', durable: 'JS DO + insert/delete' };
  const ratios = names.filter((n) => n !== 'minimal').map((n) => [n, `${n} / minimal`]);
  if (stand.forwarders.baseline) ratios.push(['ours', 'ours / baseline', 'baseline']);
  if (stand.forwarders.extra) ratios.push(['ours', 'ours / extra', 'extra']);
  const columns = [['', 30], ...names.map((n) => [heading[n], 25]), ...ratios.map(([, h]) => [h, 22])];
  console.log(columns.map(([h, w]) => h.padEnd(w)).join(''));
  for (const [label, get, digits] of FIGURES) {
    const ratio = (name, of = 'minimal') => {
      const rs = results[name].map((r, i) => get(r) / get(results[of][i]));
      return rs.every(Number.isFinite) ? `${show(rs, 2)}x` : '-';
    };
    const cells = [label, ...names.map((n) => show(results[n].map(get), digits)), ...ratios.map(([n, , of]) => ratio(n, of))];
    console.log(cells.map((c, i) => c.padEnd(columns[i][1])).join(''));
  }
  const wasmLine = `${(bytes.length / 1024).toFixed(0)} KiB raw, ${(zlib.gzipSync(bytes, { level: 9 }).length / 1024).toFixed(0)} KiB gzipped`;
  console.log(`wasm: ${wasmLine}`);

  // The same as a markdown table (medians; ratios are medians of the per-round ratios), for README.
  const median = (values) => spread(values).median;
  const cell = (v, digits) => (Number.isFinite(v) ? v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '-');
  const ratioCell = (get, name, of) => {
    const rs = results[name].map((r, i) => get(r) / get(results[of][i]));
    return rs.every(Number.isFinite) ? `${median(rs).toFixed(2)}×` : '-';
  };
  const mdRatios = [
    ['ours', 'minimal', 'ours / minimal'],
    ...(stand.forwarders.extra ? [['extra', 'minimal', `${heading.extra} / minimal`], ['ours', 'extra', `ours / ${heading.extra}`]] : []),
    ...(stand.forwarders.baseline ? [['ours', 'baseline', 'ours / baseline build']] : []),
  ];
  console.log('');
  console.log(`| figure | ${names.map((n) => heading[n]).join(' | ')} | ${mdRatios.map(([, , h]) => h).join(' | ')} |`);
  console.log(`|---|${names.map(() => '---|').join('')}${mdRatios.map(() => '---|').join('')}`);
  for (const [label, get, digits] of FIGURES) {
    const values = names.map((n) => cell(median(results[n].map(get)), digits));
    console.log(`| ${label} | ${values.join(' | ')} | ${mdRatios.map(([n, of]) => ratioCell(get, n, of)).join(' | ')} |`);
  }
  console.log(`\nWasm: ${wasmLine}. ${Math.ceil(BURST / 8) * 8}-event burst over 8 channels, ${STEADY} steady at 50/s, ${ROUNDS} interleaved rounds, one workerd.`);
} finally {
  await stand.stop();
}
