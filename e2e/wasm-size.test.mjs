// Issue 9, Wasm size: what `./scripts/build-worker` ships. The release Wasm carries no function
// names (scripts/wasm-strip-names.mjs drops the `name` section; `--profiling` keeps it for
// bench/profile.mjs). The size itself is a measurement, not a test: scripts/build-worker prints
// it, and bench/forwarding.mjs reports it.
// Worker under test: $DGD_BUILD_DIR (default build/); a missing build fails loudly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './harness/index.mjs';

const wasmFile = path.join(process.env.DGD_BUILD_DIR || path.join(ROOT, 'build'), 'index_bg.wasm');
const stripScript = path.join(ROOT, 'scripts', 'wasm-strip-names.mjs');

/** Names of the custom sections of a module, in order. */
function customSections(bytes) {
  const names = [];
  const uleb = (pos) => {
    let value = 0;
    let scale = 1;
    for (;;) {
      const byte = bytes[pos++];
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return [value, pos];
      scale *= 128;
    }
  };
  for (let pos = 8; pos < bytes.length; ) {
    const id = bytes[pos];
    const [size, body] = uleb(pos + 1);
    if (id === 0) {
      const [len, start] = uleb(body);
      names.push(Buffer.from(bytes.subarray(start, start + len)).toString('latin1'));
    }
    pos = body + size;
  }
  return names;
}

/** Sizes in bytes of the function bodies of a module (its code section), largest first. */
function functionSizes(bytes) {
  const uleb = (pos) => {
    let value = 0;
    let scale = 1;
    for (;;) {
      const byte = bytes[pos++];
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return [value, pos];
      scale *= 128;
    }
  };
  const sizes = [];
  for (let pos = 8; pos < bytes.length; ) {
    const id = bytes[pos];
    const [size, body] = uleb(pos + 1);
    if (id === 10) {
      let [count, at] = uleb(body);
      for (; count > 0; count -= 1) {
        const [length, code] = uleb(at);
        sizes.push(length);
        at = code + length;
      }
    }
    pos = body + size;
  }
  return sizes.sort((a, b) => b - a);
}

/** A custom section with `name` and `payload`. */
function custom(name, payload) {
  const body = Buffer.concat([Buffer.from([name.length]), Buffer.from(name, 'latin1'), Buffer.from(payload)]);
  return Buffer.concat([Buffer.from([0, body.length]), body]);
}

test('issue 9 Wasm size: the release Wasm carries no function names', () => {
  assert.ok(fs.existsSync(wasmFile), `${wasmFile} missing: run ./scripts/test build`);
  const sections = customSections(fs.readFileSync(wasmFile));
  assert.ok(!sections.includes('name'), `name section shipped (custom sections: ${sections.join(', ')})`);
});

test('issue 9 Wasm size: wasm-strip-names.mjs removes the name section and keeps every other byte', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgd-strip-'));
  try {
    const header = Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
    const type = Buffer.from([1, 4, 1, 0x60, 0, 0]); // type section: one () -> ()
    const producers = custom('producers', [0]);
    const file = path.join(dir, 'm.wasm');
    fs.writeFileSync(file, Buffer.concat([header, type, custom('name', [1, 2, 3]), producers]));
    execFileSync(process.execPath, [stripScript, file], { stdio: 'pipe' });
    const out = fs.readFileSync(file);
    assert.deepEqual(out, Buffer.concat([header, type, producers]));
    assert.ok(WebAssembly.validate(out));
    fs.writeFileSync(file, 'not wasm');
    assert.throws(() => execFileSync(process.execPath, [stripScript, file], { stdio: 'pipe' }), /not a WebAssembly module/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// Runtime start: V8 compiles a Wasm function whole on its first call, so one giant function on the
// first request's path is compiled whole by the first request. The object's `fetch` future once
// held every route inlined (195 KB); src/durable_object/routes.rs polls each route's handler as
// its own boxed future, so none is that large (the largest, `Runtime::input`, is about 53 KB).
test('issue 9 runtime start: no function of the Worker Wasm is over 64 KiB (routes out of line)', () => {
  assert.ok(fs.existsSync(wasmFile), `${wasmFile} missing: run ./scripts/test build`);
  const sizes = functionSizes(fs.readFileSync(wasmFile));
  assert.ok(sizes.length > 1000, `only ${sizes.length} function bodies read`);
  assert.ok(sizes[0] <= 64 * 1024, `largest function body: ${sizes[0]} bytes (next: ${sizes.slice(1, 5).join(', ')})`);
});
