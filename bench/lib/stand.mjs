// The benchmark stand: one simulator, one instant receiver, and ONE workerd (Miniflare) serving
// the built Rust gateway next to the minimal JS forwarders of bench/minimal-forwarder/, so every
// forwarder is measured on the same runtime in the same run. bench/forwarding.mjs and
// bench/profile.mjs use it.
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, startReceiver, startSim, waitFor } from '../../e2e/harness/index.mjs';
import { gatewayWorker, startWorkers } from '../../e2e/harness/multi.mjs';
import { ADMIN_TOKEN, BOT_TOKEN, adminCall } from '../../e2e/fixture.mjs';

const MINIMAL = path.join(ROOT, 'bench', 'minimal-forwarder', 'worker.mjs');

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
 * A forwarder under test: connect (resolves once its gateway session is READY), counters
 * ({delivered, rowsWritten, pending}: events delivered and SQLite rows written so far, events
 * waiting), disconnect.
 * @typedef {{label: string, connect: () => Promise<void>,
 *   counters: () => Promise<{delivered: number, rowsWritten: number, pending: number}>,
 *   disconnect: () => Promise<void>}} Forwarder
 */

/**
 * Starts the stand. `inspectorPort`: expose workerd's V8 inspector there (for CPU profiles).
 * `baselineBuildDir`: also run that build of the gateway (forwarder `baseline`), to compare two
 * builds in one run.
 * @returns {Promise<{sim, receiver, workers, forwarders: Record<'ours'|'baseline'|'minimal'|'durable', Forwarder>,
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
  // The entry Worker: /minimal/* and /durable/* go to the JS objects, the rest to the gateway.
  const minimal = {
    name: 'minimal-forwarder',
    modules: [{ type: 'ESModule', path: MINIMAL }],
    compatibilityDate: gateway.compatibilityDate,
    durableObjects: {
      MINIMAL: { className: 'MinimalForwarder', useSQLite: true },
      DURABLE: { className: 'DurableForwarder', useSQLite: true },
    },
    serviceBindings: { GATEWAY: gateway.name, ...(baseline ? { BASELINE: baseline.name } : {}) },
  };
  let workers;
  try {
    workers = await startWorkers({ workers: [minimal, gateway, ...(baseline ? [baseline] : [])], inspectorPort });
  } catch (err) {
    await Promise.allSettled([sim.stop(), receiver.stop()]);
    throw err;
  }

  const call = async (method, p, body) => {
    const res = await adminCall(workers, method, p, { body });
    if (res.status >= 300) throw new Error(`${method} ${p} answered ${res.status}: ${JSON.stringify(res.json)}`);
    return res.json;
  };

  /** The Rust gateway whose routes are under `prefix` of the entry. @returns {Forwarder} */
  const gatewayForwarder = (prefix, label) => ({
    label,
    async connect() {
      await call('POST', `${prefix}/connect`, {});
      await waitFor(async () => ((await call('GET', `${prefix}/status`)).state === 'connected' ? true : null), { timeoutMs: 15_000, intervalMs: 5 });
    },
    async counters() {
      const { delivery } = await call('GET', `${prefix}/status`);
      return { delivered: delivery.delivered, rowsWritten: delivery.storageRowsWritten, pending: delivery.pending };
    },
    disconnect: () => call('POST', `${prefix}/disconnect`),
  });

  const jsForwarder = (kind, label) => ({
    label,
    async connect() {
      const { url } = await (await fetch(`${sim.apiBase}/gateway/bot`, { headers: { authorization: `Bot ${BOT_TOKEN}` } })).json();
      await call('POST', `/${kind}/connect`, { gateway: url, token: BOT_TOKEN, webhook });
    },
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
    },
    dispatch: (body) => sim.control('/_sim/dispatch', body),
    stop: () => Promise.allSettled([workers.stop(), sim.stop(), receiver.stop()]),
  };
}
