// Issue 9, runtime start: what V8 itself spends on a Wasm module when it loads, outside workerd.
// workerd compiles a Worker's Wasm module with the synchronous `v8::WasmModuleObject::Compile`
// (src/workerd/jsg/modules.c++ `compileWasmModule`) and sets no Wasm flags, so V8's defaults
// apply: lazy compilation (no function compiled until its first call) with eager validation
// (every function body decoded and validated at load). This times `new WebAssembly.Module`
// (the same synchronous compile) and `new WebAssembly.Instance` (throwing imports: no code run)
// in fresh Node processes (V8 reuses a module compiled from the same bytes within a process),
// with V8's defaults, with eager compilation, and with lazy validation, to show which part of
// loading grows with the module. Not a test: it prints numbers. Node's V8 is not workerd's, so
// compare the rows with each other, not with bench/startup.mjs.
//
//   source scripts/env.sh && node bench/wasm-compile.mjs [module.wasm ...] [--runs N]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

const args = process.argv.slice(2);
const runsAt = args.indexOf('--runs');
const RUNS = runsAt >= 0 ? Number(args.splice(runsAt, 2)[1]) : 7;
const files = args.length > 0 ? args : ['build/index_bg.wasm'];

/** One compile and one instantiate in this process; prints "compileMs instantiateMs". */
const CHILD = `
const bytes = require('node:fs').readFileSync(process.argv[1]);
const t0 = performance.now();
const m = new WebAssembly.Module(bytes);
const t1 = performance.now();
const imports = {};
for (const { module, name, kind } of WebAssembly.Module.imports(m)) {
  (imports[module] ??= {})[name] = kind === 'function' ? () => { throw new Error(name); }
    : name === '__wbindgen_jstag' ? WebAssembly.JSTag : new WebAssembly.Tag({ parameters: ['externref'] });
}
const t2 = performance.now();
new WebAssembly.Instance(m, imports);
console.log((t1 - t0) + ' ' + (performance.now() - t2));
`;

const MODES = [
  ['V8 defaults (lazy compilation, eager validation)', []],
  ['eager compilation (--no-wasm-lazy-compilation)', ['--no-wasm-lazy-compilation']],
  ['lazy validation (--wasm-lazy-validation)', ['--wasm-lazy-validation']],
];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const show = (xs) => `${median(xs).toFixed(1)} (${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)})`;

console.log(`V8 ${process.versions.v8}, ${RUNS} fresh processes per row; medians (min-max), ms`);
console.log('');
console.log('| module | bytes | V8 mode | compile | instantiate |');
console.log('|---|---|---|---|---|');
for (const file of files) {
  const size = fs.statSync(file).size;
  for (const [label, flags] of MODES) {
    const compile = [];
    const instantiate = [];
    for (let i = 0; i < RUNS; i += 1) {
      // exnref: wasm-bindgen's exception handling, not yet on by default in Node 22's V8.
      const out = spawnSync(process.execPath, ['--experimental-wasm-exnref', ...flags, '-e', CHILD, file], { encoding: 'utf8' });
      if (out.status !== 0) throw new Error(`${file} ${flags.join(' ')}: ${out.stderr}`);
      const [c, n] = out.stdout.trim().split(' ').map(Number);
      compile.push(c);
      instantiate.push(n);
    }
    console.log(`| ${file} | ${size.toLocaleString('en-US')} | ${label} | ${show(compile)} | ${show(instantiate)} |`);
  }
}
