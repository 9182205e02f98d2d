// Library mode: examples/standalone (discord-gateway-do with default-features = false, its own
// #[event(fetch)], GatewayStub, a signed /webhook and an EventLog object) built by
// scripts/build-example, in real workerd, against the simulator. The object delivers to the
// example's own /webhook, which verifies every delivery before recording it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { ROOT, startSim, startWorker, waitFor } from './harness/index.mjs';
import { ADMIN_TOKEN, BOT_TOKEN, adminCall } from './fixture.mjs';

const EXAMPLE = path.join(ROOT, 'examples', 'standalone');
const BUILD_DIR = process.env.DGD_EXAMPLE_BUILD_DIR ?? path.join(EXAMPLE, 'build');
const WEBHOOK_SECRET = 'whsec_ZTJlLXN0YW5kYWxvbmUtd2ViaG9vay1zZWNyZXQtMDEyMw==';
const OTHER_SECRET = 'whsec_YW5vdGhlci1zZWNyZXQtMDEyMzQ1Njc4OWFiY2RlZg==';

/** A Standard Webhooks signature made by the official package, as a sender with `secret` would. */
const sign = (id, timestamp, body, secret = WEBHOOK_SECRET) =>
  new Webhook(secret).sign(id, new Date(Number(timestamp) * 1000), body);

describe('library mode: a Rust Worker with its own routes and webhook', () => {
  let sim;
  let worker;

  /** Calls one of the example's routes; `token: null` sends no Authorization header. */
  async function call(method, p, opts) {
    const { status, json } = await adminCall(worker, method, p, opts);
    return { status, json };
  }
  const events = async () => {
    const res = await call('GET', '/events');
    assert.equal(res.status, 200, JSON.stringify(res.json));
    return res.json.events;
  };
  const status = async () => {
    const res = await call('GET', '/status');
    assert.equal(res.status, 200, JSON.stringify(res.json));
    return res.json;
  };

  before(async () => {
    if (!fs.existsSync(path.join(BUILD_DIR, 'worker', 'shim.mjs'))) {
      throw new Error(`no example build in ${BUILD_DIR}: run ./scripts/build-example`);
    }
    sim = await startSim({ heartbeatIntervalMs: 1000 });
    worker = await startWorker({
      buildDir: BUILD_DIR,
      wranglerToml: path.join(EXAMPLE, 'wrangler.toml'),
      vars: {
        DISCORD_API_BASE: sim.apiBase,
        ALLOW_INSECURE_WEBHOOKS: 'true',
        GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN,
        DISCORD_BOT_TOKEN: BOT_TOKEN,
        WEBHOOK_SECRET,
      },
    });
  });
  after(async () => {
    await Promise.allSettled([worker?.stop(), sim?.stop()]);
  });

  test('the control routes need the admin token', async () => {
    for (const [method, p] of [['POST', '/connect'], ['GET', '/status'], ['GET', '/events'], ['POST', '/disconnect']]) {
      assert.equal((await call(method, p, { token: null })).status, 401, `${method} ${p}`);
      assert.equal((await call(method, p, { token: 'wrong' })).status, 401, `${method} ${p}`);
    }
    assert.equal((await call('GET', '/nope')).status, 404);
  });

  test('GatewayStub: status of a fresh object, and an ApiError passed through with its field', async () => {
    const s = await status();
    assert.equal(s.state, 'disconnected');
    assert.equal(s.webhook, null);
    const bad = await call('POST', '/connect', { body: { compress: 'gzip' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.field, 'compress');
    assert.match(bad.json.error, /compress|gzip/);
    assert.equal((await status()).state, 'disconnected');
  });

  test('connect through GatewayStub reaches READY with the example as webhook', async () => {
    const res = await call('POST', '/connect', { body: {} });
    assert.equal(res.status, 202, JSON.stringify(res.json));
    assert.deepEqual(res.json, { status: 'connecting' });
    const s = await waitFor(async () => {
      const st = await status();
      return st.state === 'connected' ? st : null;
    }, { timeoutMs: 15_000, message: 'state connected' });
    assert.match(s.sessionId, /^[0-9a-f]{32}$/);
    assert.equal(s.webhook.host, new URL(worker.url).host);
    assert.equal(s.webhook.secretConfigured, true);
    assert.ok(!JSON.stringify(s).includes(BOT_TOKEN));
    assert.ok(!JSON.stringify(s).includes(WEBHOOK_SECRET));
  });

  test('dispatches reach the example\'s /webhook, signed and verified', async () => {
    const sessionId = (await status()).sessionId;
    const sent = [];
    for (const preset of ['guild_message', 'reaction_add', 'dm_message']) {
      sent.push(...(await sim.control('/_sim/dispatch', { preset })).sent);
    }
    assert.equal(sent.length, 3);
    const got = await waitFor(async () => {
      const list = await events();
      return list.length >= 3 ? list : null;
    }, { timeoutMs: 15_000, message: '3 recorded events' });
    assert.equal(got.length, 3);
    const byId = new Map(got.map((e) => [e.eventId, e]));
    for (const event of sent) {
      const recorded = byId.get(`${sessionId}:${event.seq}`);
      assert.ok(recorded, `event ${sessionId}:${event.seq} recorded (got ${[...byId.keys()]})`);
      assert.equal(recorded.eventType, `GATEWAY_${event.type}`);
      const { timestamp } = JSON.parse(recorded.body);
      // The raw d is kept byte for byte; enrichment may only append fields (reactions).
      const prefix = `{"type":"GATEWAY_${event.type}","timestamp":${timestamp},"data":${event.raw.slice(0, -1)}`;
      assert.ok(recorded.body.startsWith(prefix), recorded.body);
      assert.ok(recorded.body.endsWith('}}'));
      // What the example accepted verifies with the official standardwebhooks package too.
      const headers = { 'webhook-id': recorded.eventId, 'webhook-timestamp': recorded.signedAt, 'webhook-signature': recorded.signature };
      assert.deepEqual(new Webhook(WEBHOOK_SECRET).verify(recorded.body, headers), JSON.parse(recorded.body));
    }
    const delivery = (await status()).delivery;
    assert.equal(delivery.pending, 0);
    assert.ok(delivery.delivered >= 3);
  });

  test('/webhook refuses tampered, replayed, mis-signed and stale deliveries with 401', async () => {
    const [original] = await events();
    const count = (await events()).length;
    const fresh = String(Math.floor(Date.now() / 1000));
    const tampered = original.body.replace('"data":{', '"data":{"injected":true,');
    const deliver = (body, { id = `forged:${Math.random()}`, timestamp = fresh, signature = sign(id, timestamp, body) } = {}) =>
      call('POST', '/webhook', {
        token: null,
        body,
        headers: {
          'webhook-id': id,
          'webhook-timestamp': timestamp,
          'webhook-signature': signature,
          'x-discord-gateway-event-id': id,
        },
      });
    const original_ = { id: original.eventId, timestamp: original.signedAt, signature: original.signature };
    // [name, pending answer, the reason the official crate gives]
    const cases = [
      ['tampered body, original signature', deliver(tampered, original_), /signature invalid/],
      ['the original, replayed under a new event id', deliver(original.body, { ...original_, id: 'replayed:1' }), /signature invalid/],
      ['tampered body, fresh timestamp, old signature', deliver(tampered, { signature: original.signature }), /signature invalid/],
      ['wrong signature', deliver(original.body, { signature: `v1,${'A'.repeat(43)}=` }), /signature invalid/],
      ['signed with another secret', deliver(original.body, { signature: sign('x', fresh, original.body, OTHER_SECRET), id: 'x' }), /signature invalid/],
      ['stale timestamp (6 min), valid signature', deliver(original.body, { timestamp: String(Number(fresh) - 6 * 60) }), /too old/],
      ['no signature headers (an unsigned delivery)', call('POST', '/webhook', { token: null, body: original.body, headers: { 'x-discord-gateway-token': BOT_TOKEN } }), /missing header/],
    ];
    for (const [name, pending, reason] of cases) {
      const res = await pending;
      assert.equal(res.status, 401, `${name}: ${JSON.stringify(res.json)}`);
      assert.match(res.json.error, reason, name);
    }
    assert.equal((await events()).length, count, 'nothing refused was recorded');

    // The same checks accept a correctly signed delivery, once per event id.
    assert.equal((await deliver(original.body, { id: 'manual:1' })).status, 200);
    assert.equal((await deliver(original.body, { id: 'manual:1' })).status, 200);
    const after = await events();
    assert.equal(after.length, count + 1);
    assert.equal(after.at(-1).eventId, 'manual:1');
  });

  test('disconnect through GatewayStub', async () => {
    const res = await call('POST', '/disconnect');
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { status: 'disconnected' });
    const s = await status();
    assert.equal(s.state, 'disconnected');
    assert.equal(s.sessionId, null);
  });
});
