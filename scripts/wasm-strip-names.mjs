#!/usr/bin/env node
// Removes the `name` custom section (function names for stack traces and profiles) from a .wasm
// file in place, leaving every other byte as it was. scripts/build-worker runs it on release
// builds; `./scripts/build-worker --profiling` keeps the names (bench/profile.mjs needs them).
// Usage: node scripts/wasm-strip-names.mjs FILE.wasm
import { readFileSync, writeFileSync } from 'node:fs';

const file = process.argv[2];
if (!file) {
  console.error('usage: wasm-strip-names.mjs FILE.wasm');
  process.exit(2);
}
const bytes = readFileSync(file);
if (bytes.length < 8 || bytes.readUInt32LE(0) !== 0x6d736100) {
  console.error(`${file}: not a WebAssembly module`);
  process.exit(1);
}

/** Reads an unsigned LEB128 at `pos`; returns [value, next position]. */
function uleb(pos) {
  let value = 0;
  let scale = 1;
  for (;;) {
    if (pos >= bytes.length) throw new Error(`${file}: truncated LEB128`);
    const byte = bytes[pos++];
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return [value, pos];
    scale *= 128;
  }
}

const kept = [bytes.subarray(0, 8)];
let removed = 0;
for (let pos = 8; pos < bytes.length; ) {
  const start = pos;
  const id = bytes[pos];
  const [size, body] = uleb(pos + 1);
  const end = body + size;
  if (end > bytes.length) throw new Error(`${file}: section at ${start} runs past the end`);
  let isName = false;
  if (id === 0) {
    const [nameLen, nameStart] = uleb(body);
    isName = bytes.toString('latin1', nameStart, nameStart + nameLen) === 'name';
  }
  if (isName) removed += end - start;
  else kept.push(bytes.subarray(start, end));
  pos = end;
}
writeFileSync(file, Buffer.concat(kept));
console.log(`${file}: removed ${removed} bytes of function names`);
