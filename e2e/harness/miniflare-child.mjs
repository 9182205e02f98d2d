// Child process that runs a built workers-rs Worker in workerd via Miniflare 4.
// Started by worker.mjs in its own process group, so a test can SIGKILL the whole runtime
// (node + workerd) and start it again on the same persist dir.
//
// argv[2]: JSON config {buildDir, persistDir, compatibilityDate, compatibilityFlags, vars,
//                       durableObjects: {BINDING: "ClassName"}, port, maxLifetimeMs}
// stdout: one line {"ready":"http://127.0.0.1:PORT/"} once it serves; the Worker's console
// output follows (workerd stdout/stderr). Exits on SIGTERM/SIGINT (after dispose), when stdin
// closes (parent gone), or after maxLifetimeMs.
import fs from 'node:fs';
import path from 'node:path';
import { Miniflare, Log, LogLevel } from 'miniflare';

const cfg = JSON.parse(process.argv[2] || '{}');
const buildDir = path.resolve(cfg.buildDir);
const entry = ['worker/shim.mjs', 'index.js'].find((f) => fs.existsSync(path.join(buildDir, f)));
if (!entry) {
  console.error(`no worker/shim.mjs in ${buildDir}: run ./scripts/build-worker`);
  process.exit(2);
}
const modules = [{ type: 'ESModule', path: path.join(buildDir, entry) }];
for (const f of fs.readdirSync(buildDir)) {
  const p = path.join(buildDir, f);
  if (p === modules[0].path || !fs.statSync(p).isFile()) continue;
  if (f.endsWith('.js') || f.endsWith('.mjs')) modules.push({ type: 'ESModule', path: p });
  else if (f.endsWith('.wasm')) modules.push({ type: 'CompiledWasm', path: p });
}
for (const sub of ['snippets']) {
  // wasm-bindgen inline JS snippets, if any
  const d = path.join(buildDir, sub);
  if (fs.existsSync(d)) {
    for (const f of fs.readdirSync(d, { recursive: true })) {
      if (String(f).endsWith('.js')) modules.push({ type: 'ESModule', path: path.join(d, String(f)) });
    }
  }
}

const durableObjects = {};
for (const [binding, className] of Object.entries(cfg.durableObjects || {})) {
  durableObjects[binding] = { className, useSQLite: true };
}

const mf = new Miniflare({
  host: '127.0.0.1',
  port: cfg.port ?? 0,
  modules,
  modulesRoot: buildDir,
  compatibilityDate: cfg.compatibilityDate,
  compatibilityFlags: cfg.compatibilityFlags || [],
  bindings: cfg.vars || {},
  durableObjects,
  defaultPersistRoot: cfg.persistDir,
  log: new Log(process.env.DGD_MF_LOG_LEVEL === 'debug' ? LogLevel.DEBUG : LogLevel.WARN),
  telemetry: { enabled: false },
  cf: false, // no fetch of Request.cf from workers.cloudflare.com
});

let stopping = false;
async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  const hard = setTimeout(() => process.exit(code), 3000);
  hard.unref();
  try {
    await mf.dispose();
  } catch {
    /* ignore */
  }
  process.exit(code);
}
process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));
process.stdin.on('end', () => shutdown(0));
process.stdin.resume();
if (cfg.maxLifetimeMs) setTimeout(() => shutdown(3), cfg.maxLifetimeMs).unref();

try {
  const url = await mf.ready;
  process.stdout.write(JSON.stringify({ ready: url.toString() }) + '\n');
} catch (err) {
  console.error(`miniflare failed to start: ${err.stack || err}`);
  await shutdown(1);
}
