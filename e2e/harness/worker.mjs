// startWorker(): the BUILT Worker (build/ from scripts/build-worker) in real workerd via
// Miniflare 4, in a child process group of its own. Configuration mirrors wrangler.toml
// (compatibility date/flags, [vars], Durable Object bindings; SQLite-backed classes).
import fs from 'node:fs';
import path from 'node:path';
import { spawnMiniflare } from './miniflare-spawn.mjs';
import { tempDir } from './temp.mjs';
import { ROOT } from './util.mjs';

const CHILD = path.join(import.meta.dirname, 'miniflare-child.mjs');

/**
 * Minimal reader for the parts of wrangler.toml the harness mirrors: top-level
 * compatibility_date / compatibility_flags, [vars] string values, [[durable_objects.bindings]].
 * @returns {{compatibilityDate?: string, compatibilityFlags: string[], vars: Record<string,string>,
 *            durableObjects: Record<string,string>}}
 */
export function readWranglerToml(file = path.join(ROOT, 'wrangler.toml')) {
  const out = { compatibilityFlags: [], vars: {}, durableObjects: {} };
  if (!fs.existsSync(file)) return out;
  let section = '';
  let current = null;
  const str = (v) => {
    const m = v.trim().match(/^"((?:[^"\\]|\\.)*)"|^'([^']*)'/);
    return m ? (m[1] !== undefined ? JSON.parse(`"${m[1]}"`) : m[2]) : undefined;
  };
  for (const raw of fs.readFileSync(file, 'utf8').split('\n')) {
    const line = raw.replace(/^\s+/, '');
    if (!line || line.startsWith('#')) continue;
    const table = line.match(/^\[\[?\s*([^\]]+?)\s*\]\]?/);
    if (table) {
      section = table[1];
      current = null;
      if (section === 'durable_objects.bindings') current = {};
      continue;
    }
    const kv = line.match(/^([A-Za-z0-9_]+)\s*=\s*(.*)$/);
    if (!kv) continue;
    const [, key, value] = kv;
    if (section === '') {
      if (key === 'compatibility_date') out.compatibilityDate = str(value);
      if (key === 'compatibility_flags') out.compatibilityFlags = [...value.matchAll(/"([^"]+)"/g)].map((m) => m[1]);
    } else if (section === 'vars') {
      const s = str(value);
      if (s !== undefined) out.vars[key] = s;
    } else if (section === 'durable_objects.bindings' && current) {
      current[key] = str(value);
      if (current.name && current.class_name) out.durableObjects[current.name] = current.class_name;
    }
  }
  return out;
}

/**
 * Starts the built Worker in workerd (Miniflare 4) in its own process group.
 * @param {object} [opts]
 * @param {Record<string,string>} [opts.vars]   merged over wrangler.toml [vars] (secrets go here too)
 * @param {string} [opts.persistDir]            storage dir (DO SQLite + alarms); default: a fresh temp dir,
 *                                              removed when this process exits (./temp.mjs).
 *                                              Pass the same dir again to restart on the same state.
 * @param {string} [opts.buildDir]              default $DGD_BUILD_DIR or <repo>/build
 * @param {string} [opts.wranglerToml]          default <repo>/wrangler.toml
 * @param {Record<string,string>} [opts.durableObjects]  {BINDING: ClassName}; default from wrangler.toml
 * @param {string} [opts.compatibilityDate]     default from wrangler.toml
 * @param {string[]} [opts.compatibilityFlags]
 * @param {number} [opts.startTimeoutMs]        default 30000
 * @param {number} [opts.maxLifetimeMs]         the child kills itself after this (default 10 min)
 * @returns {Promise<{url: string, persistDir: string, pid: number, logs: string[],
 *   fetch: (path: string, init?: RequestInit) => Promise<Response>,
 *   stop: () => Promise<void>, kill: () => Promise<void>, exited: Promise<{code, signal}>}>}
 */
export async function startWorker(opts = {}) {
  const toml = readWranglerToml(opts.wranglerToml);
  const persistDir = opts.persistDir ?? tempDir('dgd-worker-');
  const maxLifetimeMs = opts.maxLifetimeMs ?? 10 * 60_000;
  const cfg = {
    buildDir: opts.buildDir ?? process.env.DGD_BUILD_DIR ?? path.join(ROOT, 'build'),
    persistDir,
    compatibilityDate: opts.compatibilityDate ?? toml.compatibilityDate ?? '2026-08-06',
    compatibilityFlags: opts.compatibilityFlags ?? toml.compatibilityFlags,
    vars: { ...toml.vars, ...(opts.vars || {}) },
    durableObjects: opts.durableObjects ?? toml.durableObjects,
    port: opts.port ?? 0,
    maxLifetimeMs,
  };
  const worker = await spawnMiniflare('worker', CHILD, cfg, opts.startTimeoutMs ?? 30_000);
  return { ...worker, persistDir };
}
