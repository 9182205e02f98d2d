// A child process group that announces itself with a JSON line (gateway-sim, the Miniflare
// children): spawn it and wait for that line.
import { spawnGroup, waitForJsonLine } from './util.mjs';

/**
 * spawnGroup(name, cmd, args, spawnOpts), then waits for its stdout JSON line with `key`; kills
 * the group when none comes (exit, or timeoutMs).
 * @returns {Promise<{proc: ReturnType<typeof spawnGroup>, line: object}>}
 */
export async function spawnReady(name, cmd, args, { key, timeoutMs, ...spawnOpts }) {
  const proc = spawnGroup(name, cmd, args, spawnOpts);
  try {
    return { proc, line: await waitForJsonLine(proc, key, timeoutMs) };
  } catch (err) {
    await proc.kill();
    throw err;
  }
}
