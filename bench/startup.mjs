// Runtime start (issue 9): how long a fresh workerd (Miniflare) takes to answer the first request
// to each forwarder's Durable Object: ours (Wasm compile + instantiate, then the object), the
// minimal JS DO forwarder (script load), and the forwarder of DGD_EXTRA_FORWARDER if set (e.g. the
// TS original, bench/lib/stand.mjs), and our Worker built in DGD_BASELINE_BUILD_DIR if set (another
// build/, for a before/after in one interleaved run). Not a test: it asserts nothing and prints numbers.
// DGD_STARTUP_CONTROLS=1 adds three controls (bench/lib/wasm-control.mjs): the minimal JS DO with
// our index_bg.wasm imported but never instantiated ("+ our Wasm compiled"), instantiated with
// throwing imports, none of our code run ("+ our Wasm instantiated"), and its bytes as a Data
// module, never compiled ("+ our Wasm as data"): they split our gap to the minimal JS DO into
// carrying the module's bytes, V8 compiling them, and our code's work.
//
//   source scripts/env.sh && [DGD_STARTUP_CONTROLS=1] node bench/startup.mjs [starts per forwarder, default 7]
//
// Each start is a new Miniflare child process serving ONLY that forwarder's Worker, with empty
// storage. Two figures per start: "start" (inside the child, from `new Miniflare` until it serves:
// workerd started, the Worker's script and modules loaded; Node's and Miniflare's own import are
// left out, they are the same for every forwarder and dwarf the rest) and "first answer" (from
// then until the first request to the Durable Object is answered: the isolate's first request, the
// object constructed, its storage opened). Forwarders take turns (who goes first rotates); medians
// (min-max), and per-round ratios to the minimal forwarder.
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { gatewayWorker, startWorkers } from '../e2e/harness/multi.mjs';
import { ADMIN_TOKEN, adminCall } from '../e2e/fixture.mjs';
import { extraForwarder, minimalWorker } from './lib/stand.mjs';
import { wasmControlWorker } from './lib/wasm-control.mjs';

const STARTS = Number(process.argv[2] ?? 7);

const gateway = gatewayWorker({ vars: { GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN } });
const baselineDir = process.env.DGD_BASELINE_BUILD_DIR;
const extra = extraForwarder(gateway.compatibilityDate);
const controls = process.env.DGD_STARTUP_CONTROLS === '1';
const builtDir = process.env.DGD_BUILD_DIR || 'build';

/** Per forwarder: the Workers to start and the first request to its object (resolves once answered 2xx). */
const FORWARDERS = {
  ours: {
    label: 'discord-gateway-do',
    workers: [gateway],
    first: async (w) => adminCall(w, 'GET', '/status'),
  },
  minimal: {
    label: 'minimal JS DO',
    workers: [minimalWorker(gateway.compatibilityDate)],
    first: async (w) => w.fetch('/minimal/status'),
  },
  ...(controls
    ? {
        compiled: {
          label: 'minimal JS DO + our Wasm compiled',
          workers: [wasmControlWorker('compile', builtDir, gateway.compatibilityDate)],
          first: async (w) => w.fetch('/minimal/status'),
        },
        data: {
          label: 'minimal JS DO + our Wasm as data',
          workers: [wasmControlWorker('data', builtDir, gateway.compatibilityDate)],
          first: async (w) => w.fetch('/minimal/status'),
        },
        instantiated: {
          label: 'minimal JS DO + our Wasm instantiated',
          workers: [wasmControlWorker('instantiate', builtDir, gateway.compatibilityDate)],
          first: async (w) => w.fetch('/minimal/status'),
        },
      }
    : {}),
  ...(baselineDir
    ? {
        baseline: {
          label: `baseline (${baselineDir})`,
          workers: [gatewayWorker({ vars: { GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN }, buildDir: baselineDir })],
          first: async (w) => adminCall(w, 'GET', '/status'),
        },
      }
    : {}),
  ...(extra
    ? {
        extra: {
          label: extra.label,
          workers: [{ ...extra.worker }],
          first: async (w) => w.fetch('/extra/status'),
        },
      }
    : {}),
};

/** One cold start: {readyMs, firstMs}. */
async function coldStart({ workers, first }) {
  const w = await startWorkers({ workers });
  try {
    const t1 = performance.now();
    const res = await first(w);
    const t2 = performance.now();
    if (res.status >= 300) throw new Error(`first request answered ${res.status}`);
    return { readyMs: w.startMs, firstMs: t2 - t1 };
  } finally {
    await w.stop();
    fs.rmSync(w.persistDir, { recursive: true, force: true });
  }
}

const spread = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)], min: sorted[0], max: sorted.at(-1) };
};
const show = (values, digits = 1) => {
  const { median, min, max } = spread(values);
  return `${median.toFixed(digits)} (${min.toFixed(digits)}-${max.toFixed(digits)})`;
};

const names = Object.keys(FORWARDERS);
const results = Object.fromEntries(names.map((n) => [n, []]));
for (let i = 0; i < STARTS; i += 1) {
  for (const name of names.map((_, k) => names[(k + i) % names.length])) {
    results[name].push(await coldStart(FORWARDERS[name]));
  }
}

const FIGURES = [
  ['new Miniflare → serving, ms', (r) => r.readyMs],
  ['serving → first DO answer, ms', (r) => r.firstMs],
  ['runtime start (sum), ms', (r) => r.readyMs + r.firstMs],
];
const ratio = (name, get, to = 'minimal') => {
  const rs = results[name].map((r, i) => get(r) / get(results[to][i]));
  return `${spread(rs).median.toFixed(2)}× (${spread(rs).min.toFixed(2)}-${spread(rs).max.toFixed(2)})`;
};
const others = names.filter((n) => n !== 'minimal');
console.log(`runtime start: ${STARTS} cold starts per forwarder (fresh Miniflare + workerd, one forwarder each, empty storage), interleaved; medians (min-max)`);
console.log('');
const vsBaseline = baselineDir ? ` | ${FORWARDERS.ours.label} / baseline` : '';
console.log(`| figure | ${names.map((n) => FORWARDERS[n].label).join(' | ')} | ${others.map((n) => `${FORWARDERS[n].label} / minimal`).join(' | ')}${vsBaseline} |`);
console.log(`|---|${names.map(() => '---|').join('')}${others.map(() => '---|').join('')}${baselineDir ? '---|' : ''}`);
for (const [label, get] of FIGURES) {
  const againstBaseline = baselineDir ? ` | ${ratio('ours', get, 'baseline')}` : '';
  console.log(`| ${label} | ${names.map((n) => show(results[n].map(get))).join(' | ')} | ${others.map((n) => ratio(n, get)).join(' | ')}${againstBaseline} |`);
}
