// Smoke test of the e2e harness itself (not of the gateway): the simulator starts and serves
// /api/v10/gateway/bot, the receiver records requests, and the built Worker runs in workerd,
// survives a SIGKILL of its process group and restarts on the same persist dir.
// Worker under test: $DGD_BUILD_DIR (default build/) with the DO bindings of wrangler.toml, or
// $DGD_DURABLE_OBJECTS='{"BINDING":"Class"}' for another build. Nothing here skips: a missing
// build or simulator fails loudly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startSim, simBinary, startReceiver, startWorker, waitFor, groupAlive, ROOT } from './harness/index.mjs';

const buildDir = process.env.DGD_BUILD_DIR || path.join(ROOT, 'build');
const durableObjects = process.env.DGD_DURABLE_OBJECTS ? JSON.parse(process.env.DGD_DURABLE_OBJECTS) : undefined;

test('waitFor returns the first truthy value and reports timeouts', async () => {
  let n = 0;
  assert.equal(await waitFor(() => ++n >= 3 && n, { timeoutMs: 2000, intervalMs: 5 }), 3);
  await assert.rejects(waitFor(() => false, { timeoutMs: 50, message: 'never' }), /timed out after 50 ms: never/);
});

test('the simulator binary is the release build scripts/test makes', () => {
  assert.ok(fs.existsSync(simBinary()), `${simBinary()} missing: run ./scripts/test build`);
});

test('simulator serves GET /api/v10/gateway/bot', async () => {
  const sim = await startSim({ heartbeatIntervalMs: 1000 });
  try {
    assert.match(sim.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${sim.apiBase}/gateway/bot`, { headers: { authorization: 'Bot harness-token' } });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.match(body.url, /^ws:\/\/127\.0\.0\.1:\d+/);
    assert.equal(typeof body.session_start_limit.remaining, 'number');
    const noAuth = await fetch(`${sim.apiBase}/gateway/bot`);
    assert.equal(noAuth.status, 401);
    const state = await sim.state();
    assert.equal(typeof state, 'object');
    await assert.rejects(sim.control('/_sim/dispatch', { preset: 'guild_message' }), (err) => err.status === 409);
  } finally {
    await sim.stop();
  }
  assert.deepEqual(await sim.exited.then((e) => typeof e.code), 'number');
});

test('receiver records requests and replies as programmed', async () => {
  const rx = await startReceiver();
  try {
    const r1 = await fetch(`${rx.url}/hook?x=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-event-id': 'e1' },
      body: '{"type":"GATEWAY_TEST"}',
    });
    assert.equal(r1.status, 200);
    assert.deepEqual(await r1.json(), { ok: true });
    const got = await rx.waitFor((rs) => rs.find((r) => r.headers['x-event-id'] === 'e1'), 2000);
    assert.equal(got.method, 'POST');
    assert.equal(got.path, '/hook?x=1');
    assert.ok(Buffer.isBuffer(got.rawBody));
    assert.equal(got.json().type, 'GATEWAY_TEST');
    assert.ok(got.receivedAt <= Date.now());

    rx.setHandler((req, i) => (i === 1 ? { status: 503, headers: { 'retry-after': '1' }, body: 'busy' } : { status: 204, body: '', delayMs: 100 }));
    const r2 = await fetch(`${rx.url}/hook`, { method: 'POST', body: 'a' });
    assert.equal(r2.status, 503);
    assert.equal(r2.headers.get('retry-after'), '1');
    const t0 = Date.now();
    const r3 = await fetch(`${rx.url}/hook`, { method: 'POST', body: 'b' });
    assert.equal(r3.status, 204);
    assert.ok(Date.now() - t0 >= 90);
    assert.equal((await rx.waitForCount(3, 1000)).length, 3);
    rx.setHandler(() => ({ destroy: true }));
    await assert.rejects(fetch(`${rx.url}/hook`, { method: 'POST', body: 'c' }));
  } finally {
    await rx.stop();
  }
});

test(
  'built Worker runs in workerd and restarts after SIGKILL on the same persist dir',
  async () => {
    assert.ok(fs.existsSync(path.join(buildDir, 'worker', 'shim.mjs')), `no build in ${buildDir}: run ./scripts/build-worker`);
    const persistDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgd-harness-'));
    const opts = { buildDir, persistDir, durableObjects, vars: { GATEWAY_ADMIN_TOKEN: 'harness-admin-token' } };
    const status = async (token) => {
      const res = await w.fetch('/status', token ? { headers: { authorization: `Bearer ${token}` } } : undefined);
      const body = await res.json();
      return { status: res.status, body };
    };
    let w = await startWorker(opts);
    try {
      assert.equal((await status()).status, 401, 'no token: 401');
      const first = await status('harness-admin-token');
      assert.equal(first.status, 200);
      assert.equal(first.body.state, 'disconnected');

      await w.kill();
      assert.equal(groupAlive(w.pid), false, 'process group still alive after kill()');

      w = await startWorker(opts);
      assert.equal((await status()).status, 401, 'no token after the restart: 401');
      const again = await status('harness-admin-token');
      assert.equal(again.status, 200, 'the restarted runtime serves the object again');
      assert.equal(again.body.state, 'disconnected');
      assert.ok(Array.isArray(w.logs));
    } finally {
      await w.stop();
      fs.rmSync(persistDir, { recursive: true, force: true });
    }
  },
);

test('the harness removes the temp directories it made when its process exits (DGD_KEEP_TEMP=1 keeps them)', () => {
  // A child process makes one as startWorker does, writes into it, prints it and exits.
  const script = `
    import fs from 'node:fs';
    import path from 'node:path';
    import { tempDir } from ${JSON.stringify(path.join(ROOT, 'e2e', 'harness', 'temp.mjs'))};
    const dir = tempDir('dgd-temp-test-');
    fs.mkdirSync(path.join(dir, 'do'));
    fs.writeFileSync(path.join(dir, 'do', 'db.sqlite'), 'x');
    console.log(dir);
  `;
  const made = (env) => {
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: { ...process.env, ...env },
    });
    assert.equal(run.status, 0, run.stderr);
    const dir = run.stdout.trim();
    assert.ok(dir.startsWith(os.tmpdir()), dir);
    return dir;
  };
  const removed = made({ DGD_KEEP_TEMP: '' });
  assert.equal(fs.existsSync(removed), false, `${removed} outlived its process`);
  const kept = made({ DGD_KEEP_TEMP: '1' });
  try {
    assert.ok(fs.existsSync(path.join(kept, 'do', 'db.sqlite')), 'DGD_KEEP_TEMP=1 keeps it');
  } finally {
    fs.rmSync(kept, { recursive: true, force: true });
  }
});
