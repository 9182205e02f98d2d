// Child process that runs a built workers-rs Worker in workerd via Miniflare 4.
// Started by worker.mjs in its own process group, so a test can SIGKILL the whole runtime
// (node + workerd) and start it again on the same persist dir.
//
// argv[2]: JSON config {buildDir, persistDir, compatibilityDate, compatibilityFlags, vars,
//                       durableObjects: {BINDING: "ClassName"}, port, maxLifetimeMs}
// stdout: one line {"ready":"http://127.0.0.1:PORT/"} once it serves; the Worker's console
// output follows (workerd stdout/stderr). Exits on SIGTERM/SIGINT (after dispose), when stdin
// closes (parent gone), or after maxLifetimeMs.
import path from 'node:path';
import { childConfig, serveMiniflare } from './miniflare-serve.mjs';
import { rustWorkerModules, sqliteDurableObjects } from './rust-worker.mjs';

const cfg = childConfig();
const buildDir = path.resolve(cfg.buildDir);
let modules;
try {
  modules = rustWorkerModules(buildDir);
} catch (err) {
  console.error(err.message);
  process.exit(2);
}

await serveMiniflare(cfg, {
  modules,
  modulesRoot: buildDir,
  compatibilityDate: cfg.compatibilityDate,
  compatibilityFlags: cfg.compatibilityFlags || [],
  bindings: cfg.vars || {},
  durableObjects: sqliteDurableObjects(cfg.durableObjects),
});
