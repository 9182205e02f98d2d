// Issue 10, "agents that poll", and issue 11, agent tokens: pull subscriptions read
// GET /v1/inbox (long poll), POST /v1/ack and GET /v1/me with their own token, in the built
// worker in workerd against the simulator. The runtime is killed in the middle (same storage):
// no event is lost and cursors stay. Tokens rotate and are revoked (401 at once); an agent that
// fell behind retention sees a gap; long polls beyond the bound are answered 429; an agent
// token talks back only inside its filter (403 elsewhere).
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { sleep, waitFor } from './harness/index.mjs';
import { ADMIN_TOKEN, deployment } from './fixture.mjs';
import { WORLD, agentCall, createPull, events, inbox } from './harness/pull.mjs';
import { TALK_CHANNEL } from './harness/talk.mjs';

/** Reads `token`'s inbox (after its stored cursor) until it holds `count` events. */
async function readUntil(d, token, count, query = {}) {
  return waitFor(
    async () => {
      const res = await inbox(d, token, { limit: 200, ...query });
      assert.equal(res.status, 200, JSON.stringify(res.json));
      return events(res.json).length >= count ? res.json : null;
    },
    { timeoutMs: 20_000, message: `${count} events in the inbox` },
  );
}

describe('issue 10: agents that poll', () => {
  let d;
  let channelAgent; // #general only
  let dmAgent; // direct messages only
  before(async () => {
    d = await deployment();
    await d.connectReady();
    channelAgent = await createPull(d, 'agent-channel', { channelIds: [WORLD.textChannelId] });
    dmAgent = await createPull(d, 'agent-dm', { directMessages: true });
  });
  after(() => d?.stop());

  test('issue 10 pull: two agents each get exactly what their filter names, in log order, as the webhook gets it', async () => {
    await d.dispatch({ preset: 'guild_message', count: 3 });
    await d.dispatch({ preset: 'dm_message', count: 2 });
    await d.dispatch({ preset: 'guild_message', count: 1 });
    const page = await readUntil(d, channelAgent, 4);
    const got = events(page);
    assert.equal(got.length, 4, JSON.stringify(page));
    for (const e of got) {
      assert.equal(e.event.type, 'GATEWAY_MESSAGE_CREATE');
      assert.equal(e.event.data.channel_id, WORLD.textChannelId);
      assert.ok(Number.isInteger(e.event.timestamp));
    }
    const positions = got.map((e) => e.position);
    assert.deepEqual(positions, [...positions].sort((a, b) => a - b), 'log order');
    assert.equal(page.next_cursor, positions.at(-1));
    const dms = events(await readUntil(d, dmAgent, 2));
    assert.equal(dms.length, 2);
    for (const e of dms) assert.equal(e.event.data.channel_id, WORLD.dmChannelId);
    // The same body the webhook got (Chat SDK enrichment included).
    const first = await waitFor(
      () => d.receiver.requests.map((r) => r.json()).find((b) => b.data?.id === got[0].event.data.id) ?? null,
      { message: 'the webhook got it too' },
    );
    assert.deepEqual(got[0].event, first);
  });

  test('issue 10 pull: ack stores the cursor; /v1/me shows name, cursor, lag and filter; an ack past the log is 400', async () => {
    const page = await readUntil(d, channelAgent, 1);
    const me = await agentCall(d, channelAgent, 'GET', '/v1/me');
    assert.equal(me.status, 200, JSON.stringify(me.json));
    assert.equal(me.json.name, 'agent-channel');
    assert.deepEqual(me.json.filter, { channelIds: [WORLD.textChannelId] });
    assert.equal(me.json.lag, events(page).length);
    const acked = await agentCall(d, channelAgent, 'POST', '/v1/ack', { cursor: page.next_cursor });
    assert.deepEqual([acked.status, acked.json], [200, { cursor: page.next_cursor }]);
    const after = (await agentCall(d, channelAgent, 'GET', '/v1/me')).json;
    assert.equal(after.cursor, page.next_cursor);
    assert.equal(after.lag, 0);
    // The ack released its holds: the admin sees it hold nothing more.
    const held = await d.call('GET', '/subscriptions/one?subscription=agent-channel');
    assert.equal(held.json.lag, 0, JSON.stringify(held.json));
    const empty = await inbox(d, channelAgent);
    assert.deepEqual(empty.json, { entries: [], next_cursor: page.next_cursor });
    const beyond = await agentCall(d, channelAgent, 'POST', '/v1/ack', { cursor: page.next_cursor + 1_000_000 });
    assert.equal(beyond.status, 400);
    assert.equal(beyond.json.field, 'cursor');
    const back = await agentCall(d, channelAgent, 'POST', '/v1/ack', { cursor: 0 });
    assert.deepEqual(back.json, { cursor: page.next_cursor }, 'an ack behind the cursor changes nothing');
    for (const [query, field] of [['limit=0', 'limit'], ['limit=201', 'limit'], ['wait=26', 'wait'], ['after=x', 'after']]) {
      const bad = await agentCall(d, channelAgent, 'GET', `/v1/inbox?${query}`);
      assert.deepEqual([bad.status, bad.json.field], [400, field], query);
    }
    const badAck = await agentCall(d, channelAgent, 'POST', '/v1/ack', { cursor: '7' });
    assert.deepEqual([badAck.status, badAck.json.field], [400, 'cursor']);
  });

  test('issue 10 pull: a long poll returns when a message for it is injected (and not for another agent)', async () => {
    const { next_cursor: cursor } = (await inbox(d, channelAgent)).json;
    // An order, not a time: the DM agent's poll ends at its own 10 s timer; the channel agent's
    // poll, asked after it and for 25 s, must come back before it, woken by its event.
    let otherEnded = false;
    const other = inbox(d, dmAgent, { wait: 10, after: 1_000_000 }).finally(() => {
      otherEnded = true;
    });
    await sleep(100);
    const held = inbox(d, channelAgent, { wait: 25 });
    await sleep(500); // the poll is held by now: what it returns comes after it was asked
    await d.dispatch({ preset: 'guild_message', count: 1 });
    const res = await held;
    assert.equal(otherEnded, false, 'woken by the event, not by the end of its wait');
    assert.equal(res.status, 200, JSON.stringify(res.json));
    const got = events(res.json);
    assert.equal(got.length, 1, JSON.stringify(res.json));
    assert.ok(got[0].position > cursor);
    assert.equal(got[0].event.data.channel_id, WORLD.textChannelId);
    assert.deepEqual(events((await other).json), [], 'the DM agent is not given it');
    await agentCall(d, channelAgent, 'POST', '/v1/ack', { cursor: res.json.next_cursor });
  });

  test('issue 10 pull: the runtime killed in the middle loses no event, and cursors stay', async () => {
    const before = (await agentCall(d, channelAgent, 'GET', '/v1/me')).json;
    const dmBefore = (await agentCall(d, dmAgent, 'GET', '/v1/me')).json;
    await d.dispatch({ preset: 'guild_message', count: 3 });
    await waitFor(async () => ((await agentCall(d, channelAgent, 'GET', '/v1/me')).json.lag >= 3 ? true : null), {
      message: 'three stored',
    });
    // Two more on their way when the runtime dies.
    await d.dispatch({ preset: 'guild_message', count: 2 });
    await d.restart({ kill: true });
    await d.waitForState('connected');
    await d.dispatch({ preset: 'guild_message', count: 1 });
    const me = (await agentCall(d, channelAgent, 'GET', '/v1/me')).json;
    assert.equal(me.cursor, before.cursor, 'the cursor is kept');
    assert.equal((await agentCall(d, dmAgent, 'GET', '/v1/me')).json.cursor, dmBefore.cursor);
    const page = await readUntil(d, channelAgent, 6);
    const got = events(page);
    assert.equal(got.length, 6, `all six, none lost: ${JSON.stringify(page)}`);
    const ids = got.map((e) => e.event.data.id);
    assert.equal(new Set(ids).size, 6, 'each once');
    assert.ok(got.every((e) => e.position > before.cursor));
    await agentCall(d, channelAgent, 'POST', '/v1/ack', { cursor: page.next_cursor });
  });

  test('issue 11 agent tokens: talk back only inside the filter (403 naming the channel); presence stays admin-only', async () => {
    const inside = await agentCall(d, channelAgent, 'POST', '/v1/messages', {
      channel_id: WORLD.textChannelId,
      content: 'hello from the agent',
    });
    assert.equal(inside.status, 200, JSON.stringify(inside.json));
    assert.equal(inside.json.message_ids.length, 1);
    const outside = await agentCall(d, channelAgent, 'POST', '/v1/messages', { channel_id: TALK_CHANNEL, content: 'no' });
    assert.equal(outside.status, 403, JSON.stringify(outside.json));
    assert.equal(outside.json.field, 'channel_id');
    assert.match(outside.json.error, new RegExp(TALK_CHANNEL));
    const reaction = await agentCall(d, channelAgent, 'PUT', '/v1/reactions', {
      channel_id: TALK_CHANNEL,
      message_id: '1300000000000000007',
      emoji: '👍',
    });
    assert.equal(reaction.status, 403);
    const presence = await agentCall(d, channelAgent, 'POST', '/presence', { status: 'idle' });
    assert.equal(presence.status, 401, 'presence takes the admin token');
    // The admin token is not a subscription's.
    const admin = await agentCall(d, ADMIN_TOKEN, 'GET', '/v1/inbox');
    assert.equal(admin.status, 401);
  });

  test('issue 10 tokens: a rotated token stops at once and the new one works; a revoked token is 401 everywhere', async () => {
    const cursor = (await agentCall(d, channelAgent, 'GET', '/v1/me')).json.cursor;
    const rotated = await d.call('POST', '/subscriptions/rotate-token?subscription=agent-channel');
    assert.equal(rotated.status, 200, JSON.stringify(rotated.json));
    assert.equal(rotated.json.name, 'agent-channel');
    assert.notEqual(rotated.json.token, channelAgent);
    const old = await inbox(d, channelAgent);
    assert.equal(old.status, 401);
    channelAgent = rotated.json.token;
    const me = await agentCall(d, channelAgent, 'GET', '/v1/me');
    assert.deepEqual([me.status, me.json.cursor], [200, cursor], 'same subscription, same cursor');

    const revoked = await d.call('POST', '/subscriptions/revoke-token?subscription=agent-dm');
    assert.deepEqual([revoked.status, revoked.json], [200, { name: 'agent-dm', revoked: true }]);
    for (const [method, path, body] of [
      ['GET', '/v1/inbox'],
      ['GET', '/v1/me'],
      ['POST', '/v1/ack', { cursor: 0 }],
      ['POST', '/v1/messages', { channel_id: WORLD.dmChannelId, content: 'hi' }],
    ]) {
      const res = await agentCall(d, dmAgent, method, path, body);
      assert.equal(res.status, 401, `${method} ${path}: ${JSON.stringify(res.json)}`);
    }
    for (const [path, status, field] of [
      ['/subscriptions/rotate-token', 400, 'subscription'],
      ['/subscriptions/rotate-token?subscription=nobody', 404, 'subscription'],
      ['/subscriptions/revoke-token?subscription=default', 400, 'subscription'],
    ]) {
      const res = await d.call('POST', path);
      assert.deepEqual([res.status, res.json.field], [status, field], path);
    }
  });

  test('issue 10 pull: long polls beyond the bound (64) are answered 429 with Retry-After', async () => {
    const idle = await createPull(d, 'agent-idle', { channelIds: ['1'] });
    const answers = await Promise.all(Array.from({ length: 70 }, () => inbox(d, idle, { wait: 5 })));
    const held = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status === 429);
    assert.equal(held.length + refused.length, 70, JSON.stringify(answers.map((a) => a.status)));
    assert.ok(held.length <= 64, `${held.length} held`);
    assert.ok(refused.length >= 6, `${refused.length} refused`);
    for (const r of refused) {
      assert.equal(r.headers.get('retry-after'), '1');
      assert.equal(r.json.field, 'wait');
    }
    assert.equal((await inbox(d, idle, { wait: 1 })).status, 200, 'slots are given back');
  });
});

describe('issue 10: retention', () => {
  let d;
  afterEach(() => d?.stop());

  test('issue 10 pull: an agent past retention sees an explicit gap with how many it missed', async () => {
    d = await deployment();
    // At most 100 events wait for one subscription (the outbox's maxPending).
    await d.connectReady({ delivery: { maxPending: 100 } });
    const token = await createPull(d, 'agent-late', { eventTypes: ['MESSAGE_CREATE'] });
    const total = 105;
    for (let sent = 0; sent < total; sent += 15) {
      await d.dispatch({ preset: 'guild_message', count: Math.min(15, total - sent) });
      // The webhook keeps up, so the outbox never refuses one.
      const messages = () => d.receiver.requests.filter((r) => r.json().type === 'GATEWAY_MESSAGE_CREATE').length;
      await waitFor(() => (messages() >= Math.min(sent + 15, total) ? true : null), {
        timeoutMs: 20_000,
        message: 'delivered',
      });
    }
    const res = await inbox(d, token, { limit: 200 });
    assert.equal(res.status, 200, JSON.stringify(res.json));
    const [gap, ...rest] = res.json.entries;
    assert.deepEqual(gap, { type: 'gap', missed: total - 100 });
    assert.equal(rest.length, 100);
    assert.ok(rest.every((e) => e.type === 'event'));
    const me = (await agentCall(d, token, 'GET', '/v1/me')).json;
    assert.equal(me.missed, total - 100);
    const held = await d.call('GET', '/subscriptions/one?subscription=agent-late');
    assert.equal(held.json.lag, 100, 'the oldest were released, not kept');
    await agentCall(d, token, 'POST', '/v1/ack', { cursor: res.json.next_cursor });
    const later = await inbox(d, token);
    assert.deepEqual(later.json.entries, [], 'the gap is behind the cursor now');
    assert.equal((await agentCall(d, token, 'GET', '/v1/me')).json.missed, 0);
  });
});
