// startSim(): the gateway simulator (sim/, binary gateway-sim) in its own process group.
import fs from 'node:fs';
import path from 'node:path';
import { jsonOrText } from './http-client.mjs';
import { spawnReady } from './spawn-ready.mjs';
import { ROOT } from './util.mjs';

/**
 * Path of the gateway-sim binary: $DGD_SIM_BIN, else the release build in the target dir (what
 * scripts/test builds). Never a debug build, which may be stale.
 */
export function simBinary() {
  if (process.env.DGD_SIM_BIN) return process.env.DGD_SIM_BIN;
  const targetDir = process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target');
  return path.join(targetDir, 'release', 'gateway-sim');
}

/**
 * Starts gateway-sim on 127.0.0.1 (ephemeral port).
 * @param {{heartbeatIntervalMs?: number, args?: string[], bin?: string, startTimeoutMs?: number}} [opts]
 * @returns {Promise<{url: string, apiBase: string, pid: number, logs: string[],
 *   control: (path: string, body?: object) => Promise<any>, state: () => Promise<any>,
 *   stop: () => Promise<void>, kill: () => Promise<void>, exited: Promise<{code, signal}>}>}
 *   url: "http://127.0.0.1:PORT"; apiBase: url + "/api/v10" (the Worker's DISCORD_API_BASE).
 *   control("/_sim/dispatch", {preset: "guild_message"}) POSTs JSON (GET when body is undefined)
 *   and resolves with the parsed JSON; it throws on a non-2xx status (err.status, err.body).
 */
export async function startSim(opts = {}) {
  const bin = opts.bin ?? simBinary();
  if (!bin || !fs.existsSync(bin)) {
    throw new Error('gateway-sim binary not found: run `cargo build -p gateway-sim --release` (or set DGD_SIM_BIN)');
  }
  const args = ['--listen', '127.0.0.1:0'];
  if (opts.heartbeatIntervalMs != null) args.push('--heartbeat-interval-ms', String(opts.heartbeatIntervalMs));
  args.push(...(opts.args || []));
  const { proc, line } = await spawnReady('sim', bin, args, {
    env: opts.env,
    key: 'listening',
    timeoutMs: opts.startTimeoutMs ?? 15_000,
  });
  const url = line.listening.replace(/\/$/, '');
  async function control(p, body) {
    const init = body === undefined
      ? { method: 'GET' }
      : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
    const res = await fetch(url + p, { ...init, signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    const json = jsonOrText(text);
    if (!res.ok) {
      const err = new Error(`sim ${init.method} ${p} -> ${res.status}: ${text.slice(0, 300)}`);
      err.status = res.status;
      err.body = json;
      throw err;
    }
    return json;
  }
  return {
    url,
    apiBase: `${url}/api/v10`,
    pid: proc.pid,
    logs: proc.logs,
    exited: proc.exited,
    control,
    state: () => control('/_sim/state'),
    stop: () => proc.stop(3000),
    kill: () => proc.kill(),
  };
}
