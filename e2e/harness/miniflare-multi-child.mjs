// Child process that runs several Workers in ONE workerd via Miniflare 4 (e.g. the built Rust
// gateway and a JS Worker that binds its Durable Object by scriptName). Started by multi.mjs in
// its own process group.
//
// argv[2]: JSON {workers: [Miniflare worker options, JSON-only], persistDir, port, maxLifetimeMs}
//          The first worker serves the entry URL.
// stdout: one line {"ready":"http://127.0.0.1:PORT/"} once it serves, then the Workers' output.
// Exits on SIGTERM/SIGINT (after dispose), when stdin closes (parent gone), or after maxLifetimeMs.
import { Miniflare, Log, LogLevel } from 'miniflare';

const cfg = JSON.parse(process.argv[2] || '{}');
const mf = new Miniflare({
  host: '127.0.0.1',
  port: cfg.port ?? 0,
  workers: cfg.workers,
  defaultPersistRoot: cfg.persistDir,
  log: new Log(process.env.DGD_MF_LOG_LEVEL === 'debug' ? LogLevel.DEBUG : LogLevel.WARN),
  telemetry: { enabled: false },
  cf: false, // no fetch of Request.cf from workers.cloudflare.com
});

let stopping = false;
async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  setTimeout(() => process.exit(code), 3000).unref();
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
