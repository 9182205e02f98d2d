// A Miniflare child script (miniflare-child.mjs, miniflare-multi-child.mjs) in a process group of
// its own, as a handle on the Worker(s) it serves.
import { spawnReady } from './spawn-ready.mjs';

/**
 * Starts `script` with argv[2] = JSON `cfg` and stdin piped (the child exits when the pipe
 * closes: we died); waits for its {"ready": url} line. The group is killed 5 s after
 * cfg.maxLifetimeMs at the latest.
 * startMs: the child's time from constructing Miniflare to serving.
 * @returns {Promise<{url: string, startMs: number, pid: number, logs: string[], exited: Promise<{code, signal}>,
 *   onLine: Function, fetch: (path: string, init?: RequestInit) => Promise<Response>,
 *   stop: () => Promise<void>, kill: () => Promise<void>}>}
 */
export async function spawnMiniflare(name, script, cfg, startTimeoutMs) {
  const { proc, line } = await spawnReady(name, process.execPath, [script, JSON.stringify(cfg)], {
    key: 'ready',
    timeoutMs: startTimeoutMs,
    stdin: 'pipe',
    maxLifetimeMs: cfg.maxLifetimeMs + 5000,
  });
  const url = line.ready.replace(/\/$/, '');
  return {
    url,
    startMs: line.startMs,
    pid: proc.pid,
    logs: proc.logs,
    exited: proc.exited,
    onLine: proc.onLine,
    fetch: (p, init) => fetch(url + p, init),
    /** Graceful: Miniflare disposes workerd. */
    stop: () => proc.stop(5000),
    /** SIGKILL node + workerd (the whole group), like a crash. */
    kill: () => proc.kill(),
  };
}
