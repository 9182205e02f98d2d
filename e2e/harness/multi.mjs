// Several Workers in one workerd (Miniflare 4): the built Rust gateway Worker plus JavaScript
// Workers that bind its Durable Object by scriptName, as they would in production.
//   const gateway = gatewayWorker({ vars: { DISCORD_API_BASE: sim.apiBase } });
//   const { entry } = await bundleWithWrangler('examples/chat-sdk', outdir);
//   const bot = { name: 'bot', modules: [{ type: 'ESModule', path: entry }], compatibilityDate: '2026-08-06',
//                 compatibilityFlags: ['nodejs_compat'], bindings: {...},
//                 durableObjects: { DISCORD_GATEWAY: { className: 'DiscordGatewayDO', scriptName: gateway.name } } };
//   const mf = await startWorkers({ workers: [bot, gateway] });   // the first one serves mf.url
import fs from 'node:fs';
import path from 'node:path';
import { spawnMiniflare } from './miniflare-spawn.mjs';
import { rustWorkerModules, sqliteDurableObjects } from './rust-worker.mjs';
import { tempDir } from './temp.mjs';
import { ROOT, spawnGroup } from './util.mjs';
import { readWranglerToml } from './worker.mjs';

const CHILD = path.join(import.meta.dirname, 'miniflare-multi-child.mjs');
const WRANGLER = path.join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');

export { rustWorkerModules };

/**
 * Miniflare options for the built gateway Worker (build/), configured like wrangler.toml, under
 * the name other Workers use as `script_name`.
 * @param {{name?: string, vars?: Record<string,string>, buildDir?: string}} [opts]
 */
export function gatewayWorker({ name = 'discord-gateway-do', vars = {}, buildDir } = {}) {
  const toml = readWranglerToml();
  const dir = buildDir ?? process.env.DGD_BUILD_DIR ?? path.join(ROOT, 'build');
  return {
    name,
    modules: rustWorkerModules(dir),
    modulesRoot: dir,
    compatibilityDate: toml.compatibilityDate ?? '2026-08-06',
    compatibilityFlags: toml.compatibilityFlags,
    bindings: { ...toml.vars, ...vars },
    durableObjects: sqliteDurableObjects(toml.durableObjects),
  };
}

/**
 * Bundles a Worker project offline with wrangler (`wrangler deploy --dry-run --outdir`): no login,
 * no network. Resolves with the bundle's entry path.
 * @param {string} projectDir  the directory holding wrangler.toml
 * @param {string} outdir
 */
export async function bundleWithWrangler(projectDir, outdir, { timeoutMs = 60_000 } = {}) {
  const proc = spawnGroup('wrangler', process.execPath, [WRANGLER, 'deploy', '--dry-run', '--outdir', outdir], {
    cwd: path.resolve(ROOT, projectDir),
    env: { CI: 'true', WRANGLER_SEND_METRICS: 'false', WRANGLER_SEND_ERROR_REPORTS: 'false', NO_UPDATE_NOTIFIER: '1' },
    maxLifetimeMs: timeoutMs,
  });
  const { code, signal } = await proc.exited;
  const entry = path.join(outdir, 'index.js');
  if (code !== 0 || !fs.existsSync(entry)) {
    throw new Error(`wrangler bundle of ${projectDir} failed (code=${code} signal=${signal}):\n${proc.logs.slice(-30).join('\n')}`);
  }
  return { entry, logs: proc.logs };
}

/**
 * Starts Workers together in one workerd, in a child process group; the first one serves `url`.
 * @param {{workers: object[], persistDir?: string, startTimeoutMs?: number, maxLifetimeMs?: number,
 *   inspectorPort?: number}} opts
 *   workers: Miniflare worker options (JSON only: paths, bindings, durableObjects, ...).
 *   inspectorPort: serve workerd's V8 inspector there (CPU profiles).
 * @returns {Promise<{url: string, persistDir: string, logs: string[], fetch: (p: string, init?: RequestInit) => Promise<Response>,
 *   stop: () => Promise<void>, kill: () => Promise<void>}>}
 */
export async function startWorkers({ workers, persistDir, startTimeoutMs = 30_000, maxLifetimeMs = 10 * 60_000, inspectorPort }) {
  persistDir ??= tempDir('dgd-workers-');
  const cfg = { workers, persistDir, port: 0, maxLifetimeMs, inspectorPort };
  const workersHandle = await spawnMiniflare('workers', CHILD, cfg, startTimeoutMs);
  return { ...workersHandle, persistDir };
}
