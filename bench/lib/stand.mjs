// The benchmark stand: one simulator, one instant receiver, and ONE workerd (Miniflare) serving
// the built Rust gateway next to the minimal JS forwarders of bench/minimal-forwarder/, so every
// forwarder is measured on the same runtime in the same run. bench/forwarding.mjs,
// bench/profile.mjs and bench/startup.mjs use it.
//
// One more forwarder, built outside this repository (e.g. the TypeScript original), can join from an
// already-built ES module Worker: DGD_EXTRA_FORWARDER=<path to its module> (bundled: one file, only
// `cloudflare:*` imports), DGD_EXTRA_FORWARDER_CLASSES=<its Durable Object classes, comma separated;
// each is bound under its own name with SQLite storage>, DGD_EXTRA_FORWARDER_LABEL=<its name in the
// tables>. Its Worker answers the protocol of bench/minimal-forwarder/worker.mjs under /extra/*:
// POST /extra/connect {gateway, token, webhook, apiBase, poll: true} answers once the connect has
// started (apiBase: the simulator's Discord REST base, for a forwarder that asks GET /gateway/bot
// itself), GET /extra/status → {delivered, rowsWritten, ready} (ready: its session is READY), POST
// /extra/disconnect. An adapter module around the original's class does that (README,
// "Performance").
//
// `/connect` → READY is observed the same way for every forwarder (issue 9): the bench sends the
// connect, then polls the forwarder's status over HTTP, through the same entry Worker, every 5 ms,
// until it says READY. (Before, ours was polled like that while the JS forwarders answered their
// connect at READY, from inside workerd: the measurement itself favoured them.)
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, startReceiver, startSim, waitFor } from '../../e2e/harness/index.mjs';
import { gatewayWorker, startWorkers } from '../../e2e/harness/multi.mjs';
import { ADMIN_TOKEN, BOT_TOKEN, adminCall } from '../../e2e/fixture.mjs';

const MINIMAL = path.join(ROOT, 'bench', 'minimal-forwarder', 'worker.mjs');

/** How long the bench waits between two status polls of a connect, in ms. */
export const POLL_INTERVAL_MS = 5;

/**
 * The forwarder built outside the repository, from DGD_EXTRA_FORWARDER*, or null.
 * @returns {{label: string, worker: object} | null}  worker: its Miniflare options, named 'extra-forwarder'
 */
export function extraForwarder(compatibilityDate) {
  const module = process.env.DGD_EXTRA_FORWARDER;
  if (!module) return null;
  if (!fs.existsSync(module)) throw new Error(`DGD_EXTRA_FORWARDER=${module}: no such file`);
  const classes = (process.env.DGD_EXTRA_FORWARDER_CLASSES ?? '').split(',').map((c) => c.trim()).filter(Boolean);
  if (classes.length === 0) throw new Error('DGD_EXTRA_FORWARDER_CLASSES: name the Durable Object classes the module exports');
  return {
    label: process.env.DGD_EXTRA_FORWARDER_LABEL || 'extra forwarder',
    worker: {
      name: 'extra-forwarder',
      modules: [{ type: 'ESModule', path: path.resolve(module) }],
      modulesRoot: path.dirname(path.resolve(module)),
      compatibilityDate,
      durableObjects: Object.fromEntries(classes.map((c) => [c, { className: c, useSQLite: true }])),
    },
  };
}

/** Miniflare options of the entry Worker of bench/minimal-forwarder/ (its two JS objects), routing the rest to `serviceBindings`. */
export function minimalWorker(compatibilityDate, serviceBindings = {}) {
  return {
    name: 'minimal-forwarder',
    modules: [{ type: 'ESModule', path: MINIMAL }],
    compatibilityDate,
    durableObjects: {
      MINIMAL: { className: 'MinimalForwarder', useSQLite: true },
      DURABLE: { className: 'DurableForwarder', useSQLite: true },
    },
    serviceBindings,
  };
}

/** CPU seconds (user + system) of a process and its descendants, from /proc. */
export function cpuSeconds(rootPid) {
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

/**
 * A forwarder under test: connect (resolves once its gateway session is READY: `sendConnect`,
 * then `isReady` every 5 ms until it says so; bench/connect-trace.mjs times the two apart),
 * counters ({delivered, rowsWritten, pending}: events delivered and SQLite rows written so far,
 * events waiting), disconnect.
 * @typedef {{label: string, connect: () => Promise<void>,
 *   sendConnect: () => Promise<void>, isReady: () => Promise<boolean>,
 *   counters: () => Promise<{delivered: number, rowsWritten: number, pending: number}>,
 *   disconnect: () => Promise<void>}} Forwarder
 */

/**
 * Starts the stand. `inspectorPort`: expose workerd's V8 inspector there (for CPU profiles).
 * `baselineBuildDir`: also run that build of the gateway (forwarder `baseline`), to compare two
 * builds in one run.
 * The forwarder of DGD_EXTRA_FORWARDER, when set, is `extra`.
 * @returns {Promise<{sim, receiver, workers, forwarders: Record<'ours'|'baseline'|'minimal'|'durable'|'extra', Forwarder>,
 *   dispatch: (body: object) => Promise<any>, stop: () => Promise<void>}>}
 */
export async function startStand({ heartbeatIntervalMs = 41_250, inspectorPort, baselineBuildDir } = {}) {
  const sim = await startSim({ heartbeatIntervalMs });
  const receiver = await startReceiver();
  const webhook = `${receiver.url}/webhook`;
  const vars = {
    DISCORD_API_BASE: sim.apiBase,
    ALLOW_INSECURE_WEBHOOKS: 'true',
    GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN,
    DISCORD_BOT_TOKEN: BOT_TOKEN,
    WEBHOOK_URL: webhook,
  };
  const gateway = gatewayWorker({ vars });
  // Another build of the gateway to compare with in the same run (e.g. the one before a change).
  const baseline = baselineBuildDir ? gatewayWorker({ name: 'discord-gateway-do-baseline', vars, buildDir: baselineBuildDir }) : null;
  const extra = extraForwarder(gateway.compatibilityDate);
  // The entry Worker: /minimal/* and /durable/* go to the JS objects, /baseline/* and /extra/* to
  // those Workers, the rest to the gateway.
  const minimal = minimalWorker(gateway.compatibilityDate, {
    GATEWAY: gateway.name,
    ...(baseline ? { BASELINE: baseline.name } : {}),
    ...(extra ? { EXTRA: extra.worker.name } : {}),
  });
  const others = [gateway, ...(baseline ? [baseline] : []), ...(extra ? [extra.worker] : [])];
  let workers;
  try {
    workers = await startWorkers({ workers: [minimal, ...others], inspectorPort });
  } catch (err) {
    await Promise.allSettled([sim.stop(), receiver.stop()]);
    throw err;
  }

  /** A forwarder's `connect`: its `sendConnect`, then its `isReady` every 5 ms until READY (15 s at most). */
  const withConnect = (fwd) => ({
    ...fwd,
    async connect() {
      await fwd.sendConnect();
      await waitFor(async () => ((await fwd.isReady()) ? true : null), { timeoutMs: 15_000, intervalMs: POLL_INTERVAL_MS });
    },
  });

  const call = async (method, p, body) => {
    const res = await adminCall(workers, method, p, { body });
    if (res.status >= 300) throw new Error(`${method} ${p} answered ${res.status}: ${JSON.stringify(res.json)}`);
    return res.json;
  };

  /** The Rust gateway whose routes are under `prefix` of the entry. @returns {Forwarder} */
  const gatewayForwarder = (prefix, label) => withConnect({
    label,
    sendConnect: () => call('POST', `${prefix}/connect`, {}),
    isReady: async () => (await call('GET', `${prefix}/status`)).state === 'connected',
    async counters() {
      const { delivery } = await call('GET', `${prefix}/status`);
      return { delivered: delivery.delivered, rowsWritten: delivery.storageRowsWritten, pending: delivery.pending };
    },
    disconnect: () => call('POST', `${prefix}/disconnect`),
  });

  // The simulator's gateway URL, for the JS forwarders that do not ask GET /gateway/bot themselves:
  // asked once here, so no connect of theirs is timed with the bench's own request in it.
  const { url: gatewayUrl } = await (await fetch(`${sim.apiBase}/gateway/bot`, { headers: { authorization: `Bot ${BOT_TOKEN}` } })).json();

  const jsForwarder = (kind, label) => withConnect({
    label,
    sendConnect: () => call('POST', `/${kind}/connect`, { gateway: gatewayUrl, token: BOT_TOKEN, webhook, apiBase: sim.apiBase, poll: true }),
    isReady: async () => (await call('GET', `/${kind}/status`)).ready === true,
    async counters() {
      const s = await call('GET', `/${kind}/status`);
      return { delivered: s.delivered, rowsWritten: s.rowsWritten, pending: 0 };
    },
    disconnect: () => call('POST', `/${kind}/disconnect`),
  });

  return {
    sim,
    receiver,
    workers,
    forwarders: {
      ours: gatewayForwarder('', 'discord-gateway-do'),
      ...(baseline ? { baseline: gatewayForwarder('/baseline', 'discord-gateway-do (baseline build)') } : {}),
      minimal: jsForwarder('minimal', 'minimal JS DO forwarder'),
      durable: jsForwarder('durable', 'JS DO + SQLite insert/delete'),
      ...(extra ? { extra: jsForwarder('extra', extra.label) } : {}),
    },
    dispatch: (body) => sim.control('/_sim/dispatch', body),
    stop: () => Promise.allSettled([workers.stop(), sim.stop(), receiver.stop()]),
  };
}
