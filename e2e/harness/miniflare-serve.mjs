// The boot sequence of a Miniflare child process (miniflare-child.mjs, miniflare-multi-child.mjs).
// It imports nothing of the harness (whose util.mjs would take over this process's signals).
import { Miniflare, Log, LogLevel } from 'miniflare';

/** The child's JSON config, argv[2]. */
export const childConfig = () => JSON.parse(process.argv[2] || '{}');

/**
 * Starts Miniflare on 127.0.0.1:cfg.port (default ephemeral) with `options` (the Workers) and the
 * storage under cfg.persistDir; writes one stdout line {"ready":"http://127.0.0.1:PORT/"} once it
 * serves (startMs: how long since `new Miniflare`). Exits on SIGTERM/SIGINT (after dispose), when stdin closes (parent gone), after
 * cfg.maxLifetimeMs (code 3), or when Miniflare fails to start (code 1).
 */
export async function serveMiniflare(cfg, options) {
  const constructedAt = performance.now();
  const mf = new Miniflare({
    host: '127.0.0.1',
    port: cfg.port ?? 0,
    ...options,
    // The V8 inspector (Chrome DevTools protocol), for CPU profiles: bench/profile.mjs.
    ...(cfg.inspectorPort ? { inspectorPort: cfg.inspectorPort } : {}),
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
    // startMs: from constructing Miniflare to serving (workerd started, Workers loaded): bench/startup.mjs.
    process.stdout.write(JSON.stringify({ ready: url.toString(), startMs: performance.now() - constructedAt }) + '\n');
  } catch (err) {
    console.error(`miniflare failed to start: ${err.stack || err}`);
    await shutdown(1);
  }
}
