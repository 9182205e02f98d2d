// Counts the storage calls our Worker makes (issue 9, bench/startup-profile.mjs): a copy of a
// build whose wasm-bindgen glue (index.js) records every SQL statement the object runs
// (`ctx.storage.sql.exec`, its text), every `transactionSync`, and the KV-API calls, in the
// isolate, and whose entry Worker answers `GET /__storage_calls` with them (JSON) and forgets
// them. The object's code is the build's own: only the glue's `storage`/`sql` getters are wrapped.
// For measuring only; never deployed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The route of the copy's entry Worker that answers the calls recorded so far. */
export const CALLS_PATH = '/__storage_calls';

const PRELUDE = `
const __dgdCalls = { statements: [], transactions: 0, kv: [] };
const __dgdSeen = new WeakSet();
function __dgdPatchStorage(storage) {
  if (storage === null || typeof storage !== 'object' || __dgdSeen.has(storage)) return storage;
  __dgdSeen.add(storage);
  const transactionSync = storage.transactionSync;
  if (typeof transactionSync === 'function') {
    storage.transactionSync = (...args) => { __dgdCalls.transactions += 1; return transactionSync.apply(storage, args); };
  }
  for (const name of ['get', 'put', 'delete', 'list', 'getAlarm', 'setAlarm', 'deleteAlarm']) {
    const f = storage[name];
    if (typeof f === 'function') storage[name] = (...args) => { __dgdCalls.kv.push(name); return f.apply(storage, args); };
  }
  return storage;
}
function __dgdPatchSql(sql) {
  if (sql === null || typeof sql !== 'object' || __dgdSeen.has(sql)) return sql;
  __dgdSeen.add(sql);
  const exec = sql.exec;
  sql.exec = (query, ...args) => { __dgdCalls.statements.push(String(query).replace(/\\s+/g, ' ').trim()); return exec.apply(sql, [query, ...args]); };
  return sql;
}
function __dgdWrapImports(imports) {
  const glue = imports['./index_bg.js'];
  for (const [name, f] of Object.entries(glue)) {
    if (typeof f !== 'function') continue;
    if (/^__wbg_storage_[0-9a-f]+$/.test(name)) glue[name] = (e) => __dgdPatchStorage(f(e));
    if (/^__wbg_sql_[0-9a-f]+$/.test(name)) glue[name] = (e) => __dgdPatchSql(f(e));
  }
  return imports;
}
function __dgdAnswer() {
  const body = JSON.stringify(__dgdCalls);
  __dgdCalls.statements = []; __dgdCalls.transactions = 0; __dgdCalls.kv = [];
  return new Response(body, { headers: { 'content-type': 'application/json' } });
}
`;

/**
 * Copies the build in `buildDir` to a temporary directory, with the counting glue; returns the
 * copy's directory (remove it when done). Throws if the glue does not look as expected.
 */
export function countingBuild(buildDir) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgd-counting-build-'));
  fs.cpSync(buildDir, dir, { recursive: true });
  const file = path.join(dir, 'index.js');
  let js = fs.readFileSync(file, 'utf8');
  const instantiate = /new WebAssembly\.Instance\((\w+),(\w+)\(\)\)/g;
  if (!instantiate.test(js)) throw new Error(`${file}: no \`new WebAssembly.Instance(module, imports())\` to wrap`);
  js = js.replace(instantiate, 'new WebAssembly.Instance($1,__dgdWrapImports($2()))');
  const entryFetch = /(\w+)\.prototype\.fetch=function\((\w+)\)\{return (\w+)\.call\(this,\2,this\.env,this\.ctx\)\}/;
  if (!entryFetch.test(js)) throw new Error(`${file}: no entry \`fetch\` to wrap`);
  js = js.replace(
    entryFetch,
    `$1.prototype.fetch=function($2){return new URL($2.url).pathname===${JSON.stringify(CALLS_PATH)}?__dgdAnswer():$3.call(this,$2,this.env,this.ctx)}`,
  );
  fs.writeFileSync(file, PRELUDE + js);
  return dir;
}
