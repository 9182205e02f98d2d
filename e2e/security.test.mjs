// Issue 8, items 1 and 2, end to end with real capturing receivers:
// 1. the environment's secrets (DISCORD_BOT_TOKEN, WEBHOOK_SECRET) reach only WEBHOOK_URL or a
//    host in ALLOWED_WEBHOOK_HOSTS, never a webhookUrl given in the /connect body;
// 2. signed deliveries follow Standard Webhooks and verify with the official `standardwebhooks`
//    npm package (not with this project's code); the raw secret travels in no header.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { startReceiver } from './harness/index.mjs';
import { BOT_TOKEN, deployment } from './fixture.mjs';

const ENV_SECRET = 'whsec_ZW52aXJvbm1lbnQtc2VjcmV0LWZvci1lMmUtdGVzdHM=';
const OWN_TOKEN = 'MTIzNDU2Nzg5MDEyMzQ1Njgw.own000.the-callers-own-bot-token';
const OWN_SECRET = 'whsec_Y2FsbGVyLW93bi1zZWNyZXQtZm9yLWUyZS10ZXN0cw==';

/** Every header value of a captured request, joined: where a leaked secret would show. */
const headerText = (request) => JSON.stringify(request.headers);

/** The captured request that carries dispatch `event`. */
const deliveryOf = (receiver, event) =>
  receiver.waitFor((rs) => rs.find((r) => r.json().data?.id === event.data.id), 15_000);

/** The headers the `standardwebhooks` package reads, as the receiver got them. */
const signedHeaders = (request) => ({
  'webhook-id': request.headers['webhook-id'],
  'webhook-timestamp': request.headers['webhook-timestamp'],
  'webhook-signature': request.headers['webhook-signature'],
});

/** Asserts `body` is refused with 400 naming `field`, and the object stayed disconnected. */
async function assertRefused(d, body, field) {
  const res = await d.call('POST', '/connect', body);
  assert.equal(res.status, 400, `${JSON.stringify(body)} → ${JSON.stringify(res.json)}`);
  assert.equal(res.json.field, field, res.json.error);
  assert.ok(!JSON.stringify(res.json).includes(BOT_TOKEN));
  assert.equal((await d.status()).state, 'disconnected', 'a refused connect changes nothing');
}

describe('issue 8 item 1: environment credentials never reach a body webhookUrl that is not allowed', () => {
  let d;
  let attacker;
  before(async () => {
    d = await deployment({ vars: { WEBHOOK_SECRET: ENV_SECRET } });
    attacker = await startReceiver();
  });
  after(async () => {
    await Promise.allSettled([d?.stop(), attacker?.stop()]);
  });

  test('a foreign webhookUrl without its own botToken is 400 botToken, and nothing is sent', async () => {
    await assertRefused(d, { webhookUrl: `${attacker.url}/steal` }, 'botToken');
    // Its own secret does not make the environment's bot token its own.
    await assertRefused(d, { webhookUrl: `${attacker.url}/steal`, webhookSecret: OWN_SECRET }, 'botToken');
    assert.equal(attacker.requests.length, 0);
  });

  test('an empty webhookSecret or botToken is 400, never "unset"', async () => {
    await assertRefused(d, { webhookUrl: `${attacker.url}/steal`, webhookSecret: '' }, 'webhookSecret');
    await assertRefused(d, { webhookSecret: '' }, 'webhookSecret');
    await assertRefused(d, { botToken: '' }, 'botToken');
    assert.equal(attacker.requests.length, 0);
  });

  test('a body that brings its own botToken works anywhere, and gets nothing from the environment', async () => {
    await d.connectReady({ webhookUrl: `${attacker.url}/own`, botToken: OWN_TOKEN });
    const { sent: [event] } = await d.dispatch({ preset: 'guild_message', token: OWN_TOKEN });
    const request = await deliveryOf(attacker, event);
    // Unsigned (the environment's secret is not used): the caller's own token, as Chat SDK wants.
    assert.equal(request.headers['x-discord-gateway-token'], OWN_TOKEN);
    assert.equal(request.headers['webhook-signature'], undefined);
    for (const secret of [BOT_TOKEN, ENV_SECRET, ENV_SECRET.slice('whsec_'.length)]) {
      assert.ok(!headerText(request).includes(secret), 'no environment secret in any header');
      assert.ok(!request.text().includes(secret));
    }
    await d.call('POST', '/disconnect');
  });
});

describe('issue 8 item 1: ALLOWED_WEBHOOK_HOSTS lets the operator send environment credentials to more hosts', () => {
  let d;
  let allowed;
  before(async () => {
    allowed = await startReceiver();
    d = await deployment({
      vars: { WEBHOOK_SECRET: ENV_SECRET, ALLOWED_WEBHOOK_HOSTS: ' *.hooks.example , 127.0.0.1' },
    });
  });
  after(async () => {
    await Promise.allSettled([d?.stop(), allowed?.stop()]);
  });

  test('an exact allowed host receives deliveries signed with the environment secret', async () => {
    await d.connectReady({ webhookUrl: `${allowed.url}/allowed` });
    const { sent: [event] } = await d.dispatch({ preset: 'guild_message' });
    const request = await deliveryOf(allowed, event);
    assert.equal(request.path, '/allowed');
    assert.doesNotThrow(() => new Webhook(ENV_SECRET).verify(request.text(), signedHeaders(request)));
    assert.equal(d.receiver.requests.length, 0, 'it went to the allowed host, not WEBHOOK_URL');
  });

  test('a *. pattern allows the names below it, not the domain itself nor look-alikes', async () => {
    const res = await d.call('POST', '/connect', { webhookUrl: 'https://events.hooks.example/discord' });
    assert.equal(res.status, 202, JSON.stringify(res.json));
    const status = await d.status();
    assert.equal(status.webhook.host, 'events.hooks.example');
    assert.equal(status.webhook.secretConfigured, true, 'the environment secret was filled in');
    for (const webhookUrl of ['https://hooks.example/discord', 'https://events.hooks.example.evil.example/x']) {
      const refused = await d.call('POST', '/connect', { webhookUrl });
      assert.equal(refused.status, 400, webhookUrl);
      assert.equal(refused.json.field, 'botToken');
    }
    await d.call('POST', '/disconnect');
  });
});

describe('issue 8 item 2: signed deliveries are Standard Webhooks', () => {
  let d;
  afterEach(() => d?.stop());

  test('they verify with the official standardwebhooks package; a tampered body or id does not', async () => {
    d = await deployment({ vars: { WEBHOOK_SECRET: ENV_SECRET } });
    const { sessionId } = await d.connectReady();
    const { sent: [event] } = await d.dispatch({ preset: 'guild_message' });
    const request = await deliveryOf(d.receiver, event);
    const headers = signedHeaders(request);
    const body = request.text();

    assert.equal(headers['webhook-id'], `${sessionId}:${event.seq}`);
    assert.equal(request.headers['x-discord-gateway-event-id'], headers['webhook-id']);
    assert.match(headers['webhook-timestamp'], /^\d{10}$/, 'seconds');
    assert.match(headers['webhook-signature'], /^v1,[A-Za-z0-9+/]{43}=$/);
    const wh = new Webhook(ENV_SECRET);
    assert.deepEqual(wh.verify(body, headers), JSON.parse(body));

    assert.throws(() => wh.verify(body.replace('"data":{', '"data":{"injected":1,'), headers), /signature/i);
    assert.throws(() => wh.verify(body, { ...headers, 'webhook-id': `${sessionId}:${event.seq + 1}` }), /signature/i,
      'a captured request replayed under another event id');
    assert.throws(() => new Webhook(OWN_SECRET).verify(body, headers), /signature/i);

    // The secret itself travels nowhere; neither does the bot token.
    assert.equal(request.headers['x-discord-gateway-token'], undefined);
    for (const secret of [ENV_SECRET, ENV_SECRET.slice('whsec_'.length), BOT_TOKEN]) {
      assert.ok(!headerText(request).includes(secret));
    }
  });

  test('"webhookSecret": "generate" answers a new whsec_ secret once, and deliveries verify with it', async () => {
    d = await deployment();
    const res = await d.call('POST', '/connect', { webhookSecret: 'generate' });
    assert.equal(res.status, 202, JSON.stringify(res.json));
    const secret = res.json.webhookSecret;
    assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    const again = await d.call('POST', '/connect', { webhookSecret: 'generate' });
    assert.notEqual(again.json.webhookSecret, secret, 'a new one each time');
    const status = await d.waitForState('connected');
    assert.equal(status.webhook.secretConfigured, true);
    assert.ok(!JSON.stringify(status).includes(again.json.webhookSecret), '/status never shows it');

    const { sent: [event] } = await d.dispatch({ preset: 'guild_message' });
    const request = await deliveryOf(d.receiver, event);
    assert.doesNotThrow(() => new Webhook(again.json.webhookSecret).verify(request.text(), signedHeaders(request)));
    assert.throws(() => new Webhook(secret).verify(request.text(), signedHeaders(request)), /signature/i);
  });
});
