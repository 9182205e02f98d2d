// A whole local deployment for one test: simulator, receiver and the built worker in workerd.
import { callWithToken, startReceiver, startSim, startWorker, waitFor } from './harness/index.mjs';

export const ADMIN_TOKEN = 'e2e-admin-token-0123456789';
export const BOT_TOKEN = 'MTIzNDU2Nzg5MDEyMzQ1Njc4.e2e000.simulated-bot-token-value';
export const HEARTBEAT_MS = 1000;
/**
 * A heartbeat interval far longer than any test (the first heartbeat comes at a random point of
 * it): with it, nothing but the object's restart watch can wake a restarted object in time.
 */
export const LONG_HEARTBEAT_MS = 600_000;

/**
 * Calls a route of `worker` with the admin token (`token: null`: no Authorization header);
 * `body` objects go as JSON. Resolves with {status, json, headers}.
 */
export function adminCall(worker, method, path, { body, token = ADMIN_TOKEN, headers } = {}) {
  return callWithToken(worker, method, path, { body, token, headers });
}

/**
 * Starts sim + receiver + worker. `vars` are merged over the defaults.
 * Returns helpers; call `stop()` in a `finally` / `after`.
 */
export async function deployment({ vars = {}, heartbeatIntervalMs = HEARTBEAT_MS, persistDir } = {}) {
  const sim = await startSim({ heartbeatIntervalMs });
  const receiver = await startReceiver();
  const workerVars = {
    DISCORD_API_BASE: sim.apiBase,
    ALLOW_INSECURE_WEBHOOKS: 'true',
    GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN,
    DISCORD_BOT_TOKEN: BOT_TOKEN,
    WEBHOOK_URL: `${receiver.url}/webhook`,
    ...vars,
  };
  let worker = await startWorker({ vars: workerVars, persistDir });
  const d = {
    sim,
    receiver,
    get worker() {
      return worker;
    },
    /** Calls a control route with the admin token. */
    async call(method, path, body, { token, raw = false } = {}) {
      const res = await adminCall(worker, method, path, { body, token });
      return raw ? res : { status: res.status, json: res.json };
    },
    status: async (name) => (await d.call('GET', `/status${name ? `?name=${name}` : ''}`)).json,
    /** Connects and waits for the session to be ready. */
    async connectReady(body = {}, name) {
      const res = await d.call('POST', `/connect${name ? `?name=${name}` : ''}`, body);
      if (res.status !== 202) throw new Error(`connect answered ${res.status}: ${JSON.stringify(res.json)}`);
      return d.waitForState('connected', name);
    },
    async waitForState(state, name, timeoutMs = 15_000) {
      return waitFor(async () => {
        const s = await d.status(name);
        return s.state === state ? s : null;
      }, { timeoutMs, message: `state ${state}` });
    },
    /** Restarts the worker process on the same storage; `kill` for a crash. */
    async restart({ kill = false } = {}) {
      if (kill) await worker.kill();
      else await worker.stop();
      worker = await startWorker({ vars: workerVars, persistDir: worker.persistDir });
      return worker;
    },
    dispatch: (body) => sim.control('/_sim/dispatch', body),
    async stop() {
      await Promise.allSettled([worker.stop(), sim.stop(), receiver.stop()]);
    },
  };
  return d;
}

/** The events the receiver got, parsed. */
export function received(receiver, type) {
  return receiver.requests
    .map((r) => ({ request: r, body: r.json() }))
    .filter(({ body }) => !type || body.type === type);
}
