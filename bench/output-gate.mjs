// What a Durable Object's output gate costs a fetch, locally (issue 9, `/connect` → READY): a
// fetch issued after a storage write waits until the write is confirmed; one issued before it
// does not (workerd: OutputGate::wait() ignores later locks). The object of
// bench/output-gate/worker.mjs times a fetch to a local server with no write, with the write
// after the fetch, and with the write before it, interleaved; times are workerd's
// performance.now() (whole milliseconds, advanced at I/O), so compare the means.
//
//   source scripts/env.sh && node bench/output-gate.mjs [rounds]
import http from 'node:http';
import path from 'node:path';
import { Miniflare } from 'miniflare';
import { ROOT } from '../e2e/harness/index.mjs';

const ROUNDS = Number(process.argv[2] ?? 600);
const server = http.createServer((req, res) => res.end('ok')).listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const target = `http://127.0.0.1:${server.address().port}/`;
const mf = new Miniflare({
  modules: true,
  scriptPath: path.join(ROOT, 'bench', 'output-gate', 'worker.mjs'),
  compatibilityDate: '2025-01-01',
  durableObjects: { GATE: { className: 'Gate', useSQLite: true } },
});
try {
  const url = await mf.ready;
  const modes = ['no write', 'fetch-then-write', 'write-then-fetch'];
  const times = Object.fromEntries(modes.map((m) => [m, []]));
  for (let i = 0; i < ROUNDS; i += 1) {
    for (const mode of modes) {
      const { ms } = await (await fetch(url, { method: 'POST', body: JSON.stringify({ target, mode }) })).json();
      if (i >= ROUNDS / 10) times[mode].push(ms); // the first tenth warms up
    }
  }
  for (const mode of modes) {
    const sorted = times[mode].sort((a, b) => a - b);
    const middle = sorted.slice(Math.floor(sorted.length * 0.1), Math.floor(sorted.length * 0.9));
    const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
    console.log(`${mode.padEnd(18)} fetch answered after: mean ${mean(sorted).toFixed(2)} ms, mean of the middle 80 % ${mean(middle).toFixed(2)} ms (${sorted.length} fetches)`);
  }
} finally {
  await mf.dispose();
  server.close();
}
