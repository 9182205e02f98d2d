// Miniflare options for a workers-rs build dir: its modules and its SQLite-backed Durable Objects.
// The Miniflare child processes import it too, so it imports nothing of the harness.
import fs from 'node:fs';
import path from 'node:path';

/** The modules of a workers-rs build dir (shim, wasm-bindgen JS, the .wasm), for Miniflare. */
export function rustWorkerModules(buildDir) {
  const entry = ['worker/shim.mjs', 'index.js'].find((f) => fs.existsSync(path.join(buildDir, f)));
  if (!entry) throw new Error(`no worker/shim.mjs in ${buildDir}: run ./scripts/build-worker`);
  const modules = [{ type: 'ESModule', path: path.join(buildDir, entry) }];
  for (const f of fs.readdirSync(buildDir)) {
    const p = path.join(buildDir, f);
    if (p === modules[0].path || !fs.statSync(p).isFile()) continue;
    if (f.endsWith('.js') || f.endsWith('.mjs')) modules.push({ type: 'ESModule', path: p });
    else if (f.endsWith('.wasm')) modules.push({ type: 'CompiledWasm', path: p });
  }
  const snippets = path.join(buildDir, 'snippets'); // wasm-bindgen inline JS snippets, if any
  if (fs.existsSync(snippets)) {
    for (const f of fs.readdirSync(snippets, { recursive: true })) {
      if (String(f).endsWith('.js')) modules.push({ type: 'ESModule', path: path.join(snippets, String(f)) });
    }
  }
  return modules;
}

/** Miniflare `durableObjects` for {BINDING: "ClassName"}: every class SQLite-backed. */
export function sqliteDurableObjects(bindings) {
  const durableObjects = {};
  for (const [binding, className] of Object.entries(bindings || {})) {
    durableObjects[binding] = { className, useSQLite: true };
  }
  return durableObjects;
}
