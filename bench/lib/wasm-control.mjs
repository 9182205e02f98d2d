// Controls for bench/startup.mjs (issue 9, "where runtime start goes"): the minimal JS DO
// forwarder of bench/minimal-forwarder/ with our built Wasm (`<build>/index_bg.wasm`) added as a
// module of its Worker, so the only difference to the minimal JS DO is the bytes of Wasm loaded:
//   'compile':     the Wasm is imported (workerd compiles it when the Worker's modules load: V8
//                  decodes and validates every function; with lazy compilation it compiles none)
//                  and never instantiated;
//   'instantiate': it is also instantiated at the top level, like our JS glue does, with every
//                  import a function that throws: memory, tables and data segments are set up,
//                  none of our code runs (the module has no start section; `__wbindgen_start`
//                  is not called).
//   'data':        the same bytes as a Data module (an ArrayBuffer): they travel through
//                  Miniflare and workerd's config like the Wasm, but V8 never compiles them.
// The gap from the minimal JS DO to 'compile' is the cost of the module's size ('data' splits it
// into carrying the bytes and V8 compiling them); from 'instantiate' to our Worker, the cost of
// our code running (glue, `__wbindgen_start`, the object, the first compile of each function called).
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../../e2e/harness/index.mjs';

const MINIMAL = path.join(ROOT, 'bench', 'minimal-forwarder', 'worker.mjs');

/** The control Worker's entry module: the minimal forwarder's exports, plus our Wasm. */
function entrySource(mode) {
  if (mode === 'data') {
    return `import bytes from './index_bg.wasm';
import entry from './minimal-forwarder.mjs';
export { MinimalForwarder, DurableForwarder } from './minimal-forwarder.mjs';
globalThis.startupControl = bytes;
export default entry;
`;
  }
  return `import wasm from './index_bg.wasm';
import entry from './minimal-forwarder.mjs';
export { MinimalForwarder, DurableForwarder } from './minimal-forwarder.mjs';
if (${JSON.stringify(mode)} === 'instantiate') {
  const imports = {};
  for (const { module, name, kind } of WebAssembly.Module.imports(wasm)) {
    let value;
    if (kind === 'function') value = () => { throw new Error('startup control: ' + name + ' called'); };
    else if (kind === 'tag') value = name === '__wbindgen_jstag' ? WebAssembly.JSTag : new WebAssembly.Tag({ parameters: ['externref'] });
    else throw new Error('startup control: no stand-in for an imported ' + kind + ' (' + name + ')');
    (imports[module] ??= {})[name] = value;
  }
  globalThis.startupControl = new WebAssembly.Instance(wasm, imports);
} else {
  globalThis.startupControl = wasm;
}
export default entry;
`;
}

/**
 * Miniflare options of a control Worker (JSON only), answering `/minimal/*` like the minimal JS DO.
 * @param {'compile'|'instantiate'|'data'} mode
 * @param {string} buildDir  the build whose index_bg.wasm is loaded
 */
export function wasmControlWorker(mode, buildDir, compatibilityDate) {
  const root = path.resolve(buildDir);
  return {
    name: `wasm-control-${mode}`,
    modulesRoot: root,
    modules: [
      { type: 'ESModule', path: path.join(root, 'startup-control.mjs'), contents: entrySource(mode) },
      { type: 'ESModule', path: path.join(root, 'minimal-forwarder.mjs'), contents: fs.readFileSync(MINIMAL, 'utf8') },
      { type: mode === 'data' ? 'Data' : 'CompiledWasm', path: path.join(root, 'index_bg.wasm') },
    ],
    compatibilityDate,
    durableObjects: {
      MINIMAL: { className: 'MinimalForwarder', useSQLite: true },
      DURABLE: { className: 'DurableForwarder', useSQLite: true },
    },
  };
}
