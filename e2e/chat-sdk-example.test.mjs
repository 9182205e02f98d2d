// examples/chat-sdk on real workerd: the example bundled by wrangler (offline) runs beside the
// built gateway Worker in one Miniflare, binding DiscordGatewayDO by scriptName like it would in
// production. Its /gateway/* routes go through client/gateway-stub.ts; its Chat SDK bot replies
// through a local Discord REST stand-in (DISCORD_API_URL), which is how we see a handler fired.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startReceiver, startSim, waitFor } from './harness/index.mjs';
import { bundleWithWrangler, gatewayWorker, startWorkers } from './harness/multi.mjs';
import { startDiscordRest } from './harness/discord-rest.mjs';
import { BOT_TOKEN } from './fixture.mjs';

const ADMIN_TOKEN = 'example-admin-token-0123456789';

describe('examples/chat-sdk: a Chat SDK Worker binding the gateway by script_name', () => {
  let sim;
  let rest;
  let workers;
  let world;
  let outdir;
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

  before(async () => {
    outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgd-chat-sdk-example-'));
    const [{ entry }, simulator] = await Promise.all([
      bundleWithWrangler('examples/chat-sdk', outdir),
      startSim({ heartbeatIntervalMs: 1000 }),
    ]);
    sim = simulator;
    world = (await sim.state()).world;
    rest = await startDiscordRest({ world });
    const gateway = gatewayWorker({ vars: { DISCORD_API_BASE: sim.apiBase, ALLOW_INSECURE_WEBHOOKS: 'true' } });
    const bot = {
      name: 'chat-sdk-bot',
      modules: [{ type: 'ESModule', path: entry }],
      modulesRoot: outdir,
      compatibilityDate: '2026-08-06',
      compatibilityFlags: ['nodejs_compat'],
      bindings: {
        DISCORD_BOT_TOKEN: BOT_TOKEN,
        DISCORD_PUBLIC_KEY: 'ab'.repeat(32),
        DISCORD_APPLICATION_ID: world.applicationId,
        ADMIN_TOKEN,
        DISCORD_API_URL: rest.apiUrl,
      },
      durableObjects: { DISCORD_GATEWAY: { className: 'DiscordGatewayDO', scriptName: gateway.name } },
    };
    workers = await startWorkers({ workers: [bot, gateway] });
  });
  after(async () => {
    await Promise.allSettled([workers?.stop(), sim?.stop(), rest?.stop()]);
    if (outdir) fs.rmSync(outdir, { recursive: true, force: true });
  });

  const call = async (method, p, body, headers = admin) => {
    const res = await workers.fetch(p, {
      method,
      headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json = text;
    try {
      json = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: res.status, json };
  };

  test('the /gateway routes need the admin token', async () => {
    assert.equal((await call('POST', '/gateway/connect', undefined, {})).status, 401);
    assert.equal((await call('GET', '/gateway/status', undefined, { authorization: 'Bearer nope' })).status, 401);
  });

  test('a rejected option comes back through the client as GatewayError {status, field}', async () => {
    const res = await call('POST', '/gateway/connect', { compress: 'gzip' });
    assert.equal(res.status, 400);
    assert.equal(res.json.field, 'compress');
    assert.match(res.json.error, /compress|gzip/);
  });

  test('issue 8 item 1: a caller cannot send the Worker\'s bot token elsewhere (webhookUrl, webhookSecret, botToken are 400)', async () => {
    const attacker = await startReceiver();
    try {
      for (const [field, value] of [['webhookUrl', `${attacker.url}/steal`], ['webhookSecret', ''], ['botToken', 'x']]) {
        const res = await call('POST', '/gateway/connect', { [field]: value });
        assert.equal(res.status, 400, `${field}: ${JSON.stringify(res.json)}`);
        assert.equal(res.json.field, field);
      }
      const status = await call('GET', '/gateway/status');
      assert.equal(status.json.state, 'disconnected');
      assert.equal(attacker.requests.length, 0, 'nothing reached the other URL');
    } finally {
      await attacker.stop();
    }
  });

  test('connect() on the wrapper reaches the Rust object: Identify, then status connected', async () => {
    const res = await call('POST', '/gateway/connect');
    assert.equal(res.status, 202, JSON.stringify(res.json));
    assert.deepEqual(res.json, { status: 'connecting' });
    const simState = await waitFor(async () => {
      const s = await sim.state();
      return s.identifies.length >= 1 ? s : null;
    }, { timeoutMs: 15_000, message: 'the simulator saw an Identify' });
    assert.equal(simState.identifies.length, 1);
    const status = await waitFor(async () => {
      const r = await call('GET', '/gateway/status');
      return r.status === 200 && r.json.state === 'connected' ? r.json : null;
    }, { timeoutMs: 15_000, message: 'GET /gateway/status (getGatewayStub().status()) shows connected' });
    assert.match(status.sessionId, /^[0-9a-f]{32}$/);
    assert.equal(status.webhook.host, new URL(workers.url).host, 'the webhook is the example itself');
    assert.equal(status.webhook.secretConfigured, false);
    assert.equal(status.phase, 'ready');
    assert.equal(typeof status.counters.eventsForwarded, 'number');
    assert.equal(typeof status.delivery.pending, 'number');
    assert.ok(!JSON.stringify(status).includes(BOT_TOKEN));
  });

  test("a guild @mention reaches the example's onNewMention, which replies in a new thread", async () => {
    const { sent } = await sim.control('/_sim/dispatch', { preset: 'guild_mention' });
    const messageId = sent[0].data.id;
    const reply = await waitFor(
      () => rest.calls.find((c) => c.method === 'POST' && c.path === `/channels/${messageId}/messages`),
      {
        timeoutMs: 15_000,
        message: () => `the bot's reply (REST calls so far: ${rest.calls.map((c) => `${c.method} ${c.path}`).join(', ')}; logs: ${workers.logs.slice(-10).join(' | ')})`,
      },
    );
    assert.equal(reply.headers.authorization, `Bot ${BOT_TOKEN}`);
    assert.match(reply.body.content, /^Hi sim-user! You said: .*can you help\?$/);
    assert.ok(rest.calls.some((c) => c.method === 'POST' && c.path === `/channels/${world.textChannelId}/messages/${messageId}/threads`));
  });

  test("a DM reaches the example's onDirectMessage", async () => {
    const before = rest.calls.length;
    await sim.control('/_sim/dispatch', { preset: 'dm_message' });
    const reply = await waitFor(
      () => rest.calls.slice(before).find((c) => c.method === 'POST' && c.path === `/channels/${world.dmChannelId}/messages`),
      { timeoutMs: 15_000, message: 'the DM reply' },
    );
    assert.equal(reply.body.content, 'Thanks for the DM, sim-user!');
  });

  test('disconnect() through the wrapper', async () => {
    const res = await call('POST', '/gateway/disconnect');
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { status: 'disconnected' });
    const status = await call('GET', '/gateway/status');
    assert.equal(status.json.state, 'disconnected');
  });
});
