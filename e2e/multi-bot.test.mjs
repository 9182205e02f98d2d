// Two bots at once through the main Worker: one object per `?name=`, each with its own bot
// token and webhook, against one simulator (which keys sessions by token). Nothing may cross.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startReceiver, waitFor } from './harness/index.mjs';
import { BOT_TOKEN, deployment } from './fixture.mjs';

const BOTS = {
  a: { token: BOT_TOKEN },
  b: { token: 'MTIzNDU2Nzg5MDEyMzQ1Njc5.e2e001.simulated-bot-token-b' },
};

describe('two bots, two objects, two webhooks', () => {
  let d;
  before(async () => {
    d = await deployment();
    BOTS.a.receiver = d.receiver;
    BOTS.b.receiver = await startReceiver();
  });
  after(async () => {
    await Promise.allSettled([d?.stop(), BOTS.b.receiver?.stop()]);
  });

  test('both connect concurrently, each with its own token and session', async () => {
    const answers = await Promise.all(
      Object.entries(BOTS).map(([name, bot]) =>
        d.call('POST', `/connect?name=${name}`, { botToken: bot.token, webhookUrl: `${bot.receiver.url}/webhook` }),
      ),
    );
    for (const res of answers) assert.equal(res.status, 202, JSON.stringify(res.json));
    const [a, b] = await Promise.all([d.waitForState('connected', 'a'), d.waitForState('connected', 'b')]);
    assert.match(a.sessionId, /^[0-9a-f]{32}$/);
    assert.match(b.sessionId, /^[0-9a-f]{32}$/);
    assert.notEqual(a.sessionId, b.sessionId);
    BOTS.a.sessionId = a.sessionId;
    BOTS.b.sessionId = b.sessionId;
    assert.equal(a.webhook.host, new URL(BOTS.a.receiver.url).host);
    assert.equal(b.webhook.host, new URL(BOTS.b.receiver.url).host);

    // The simulator saw one Identify per token, and each session belongs to its token.
    const sim = await d.sim.state();
    assert.equal(sim.identifies.length, 2);
    const identified = new Map(sim.identifies.map((i) => [i.sessionId, i.token]));
    assert.equal(identified.get(a.sessionId), `****${BOTS.a.token.slice(-4)}`);
    assert.equal(identified.get(b.sessionId), `****${BOTS.b.token.slice(-4)}`);
    // The default object was never touched.
    assert.equal((await d.status()).state, 'disconnected');
  });

  test('each receiver gets exactly its own bot\'s events', async () => {
    const sent = { a: [], b: [] };
    // Interleaved, so that a mix-up could not hide behind ordering.
    for (const preset of ['guild_message', 'reaction_add', 'dm_message']) {
      for (const [name, bot] of Object.entries(BOTS)) {
        const res = await d.dispatch({ preset, token: bot.token });
        assert.equal(res.sent.length, 1);
        assert.equal(res.sent[0].sessionId, bot.sessionId, `${name}'s dispatch went to ${name}'s session`);
        sent[name].push(res.sent[0]);
      }
    }
    for (const [name, bot] of Object.entries(BOTS)) {
      const requests = await bot.receiver.waitForCount(sent[name].length, 15_000);
      const expected = new Map(sent[name].map((e) => [`${bot.sessionId}:${e.seq}`, e]));
      for (const request of requests) {
        assert.equal(request.headers['x-discord-gateway-token'], bot.token, `${name} got its own token`);
        const event = expected.get(request.headers['x-discord-gateway-event-id']);
        assert.ok(event, `${name} got ${request.headers['x-discord-gateway-event-id']}, one of its own events`);
        // Messages carry their own snowflake; reactions point at the channel's last message.
        assert.equal(request.json().data.id, event.data.id);
        assert.equal(request.json().data.message_id, event.data.message_id);
        // The raw d is kept byte for byte; enrichment may only append fields (reactions).
        assert.ok(request.text().includes(`"data":${event.raw.slice(0, -1)}`));
        expected.delete(request.headers['x-discord-gateway-event-id']);
      }
      assert.equal(expected.size, 0, `${name} got every one of its events`);
    }
    // No stray deliveries afterwards (e.g. the other bot's events arriving late).
    const other = { a: 'b', b: 'a' };
    const foreignMessageIds = (name) => new Set(sent[other[name]].map((e) => e.data.id).filter(Boolean));
    await waitFor(async () => {
      const [sa, sb] = await Promise.all([d.status('a'), d.status('b')]);
      return sa.delivery.pending === 0 && sb.delivery.pending === 0;
    }, { message: 'both outboxes drained' });
    for (const [name, bot] of Object.entries(BOTS)) {
      assert.equal(bot.receiver.requests.length, sent[name].length, `${name}: no extra deliveries`);
      for (const request of bot.receiver.requests) {
        assert.ok(request.headers['x-discord-gateway-event-id'].startsWith(`${bot.sessionId}:`));
        const { id } = request.json().data;
        assert.ok(id === undefined || !foreignMessageIds(name).has(id), `${name} got ${other[name]}'s message ${id}`);
      }
    }
  });

  test('both stay connected with their own sessions; one disconnects, the other carries on', async () => {
    const [a, b] = await Promise.all([d.status('a'), d.status('b')]);
    assert.equal(a.state, 'connected');
    assert.equal(b.state, 'connected');
    assert.equal(a.sessionId, BOTS.a.sessionId);
    assert.equal(b.sessionId, BOTS.b.sessionId);
    assert.ok(!JSON.stringify(a).includes(BOTS.a.token) && !JSON.stringify(b).includes(BOTS.b.token));

    assert.equal((await d.call('POST', '/disconnect?name=a')).status, 200);
    assert.equal((await d.status('a')).state, 'disconnected');
    const { sent } = await d.dispatch({ preset: 'guild_message', token: BOTS.b.token });
    const request = await BOTS.b.receiver.waitFor((rs) => rs.find((r) => r.json().data.id === sent[0].data.id));
    assert.equal(request.headers['x-discord-gateway-token'], BOTS.b.token);
    assert.equal((await d.status('b')).state, 'connected');
    await assert.rejects(d.dispatch({ preset: 'guild_message', token: BOTS.a.token }), (err) => err.status === 409);
  });
});
