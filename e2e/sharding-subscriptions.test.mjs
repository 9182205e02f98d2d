// Issue 12, subscriptions and pull inboxes on a sharded bot: the coordinator owns the bot's
// subscriptions and copies them to every shard object, which stores and delivers what each
// matches; a pull agent reads both shards' logs through one opaque cursor. In the built worker in
// workerd against the simulator, 8 guilds spread over 2 shards by Discord's formula.
import { describe, test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { deployment } from './fixture.mjs';
import { sleep, waitFor } from './harness/index.mjs';
import { agentCall, createPull, events, inbox } from './harness/pull.mjs';

const GUILDS = 8;

async function shardedSim(d, { shards = 2, maxConcurrency = 2 } = {}) {
  await d.sim.control('/_sim/config', {
    shards,
    guilds: GUILDS,
    sessionStartLimit: { total: 1000, remaining: 1000, resetAfterMs: 86_400_000, maxConcurrency },
  });
}

function allReady(d, count, timeoutMs = 60_000) {
  return waitFor(async () => {
    const s = await d.status();
    return s.sharded && s.shardCount === count && s.totals.ready === count && s.state === 'connected' ? s : null;
  }, { timeoutMs, message: `${count} shards ready` });
}

/** The guild ids of the simulator's world, and the shard (of `count`) each is on. */
async function guildsByShard(d, count) {
  const ids = (await d.sim.state()).world.guildIds;
  return ids.map((id, index) => ({ id, index, shard: Number((BigInt(id) >> 22n) % BigInt(count)) }));
}

/** One guild message in each guild of `indexes`; resolves with what the simulator sent. */
async function messages(d, indexes, tag = '') {
  const sent = [];
  for (const g of indexes) {
    sent.push((await d.dispatch({ preset: 'guild_message', guildIndex: g, overrides: { content: `m ${tag} ${g}` } })).sent[0]);
  }
  return sent;
}

/** The message ids `path` of the receiver got. */
function receivedIds(d, path) {
  return d.receiver.requests.filter((r) => r.path === path).map((r) => r.json().data?.id);
}

/** Reads the inbox from `after` (the stored position when undefined) until `want` holds. */
async function readUntil(d, token, after, want, message) {
  return waitFor(async () => {
    const res = await inbox(d, token, { limit: 200, after });
    assert.equal(res.status, 200, JSON.stringify(res.json));
    return want(res.json) ? res.json : null;
  }, { timeoutMs: 30_000, message });
}

const ids = (page) => events(page).map((e) => e.event.data.id);

describe('issue 12: subscriptions and pull inboxes on a sharded bot', () => {
  let d;
  afterEach(() => d?.stop());

  test('issue12 subscriptions: two push tenants owning guilds on different shards each receive exactly their guilds\' events; /status adds up the shards', async () => {
    d = await deployment();
    await shardedSim(d);
    const guilds = await guildsByShard(d, 2);
    const onShard = (s) => guilds.filter((g) => g.shard === s);
    assert.ok(onShard(0).length > 0 && onShard(1).length > 0, 'guilds on both shards');
    // Tenant A exists before the bot is sharded: /connect {shards} carries it into the shards.
    const a = await d.call('POST', '/subscriptions', {
      name: 'tenant-a', kind: 'push', webhookUrl: `${d.receiver.url}/tenant-a`, filter: { guildIds: onShard(0).map((g) => g.id) },
    });
    assert.equal(a.status, 201, JSON.stringify(a.json));
    const connect = await d.call('POST', '/connect', { shards: 'auto' });
    assert.equal(connect.status, 202, JSON.stringify(connect.json));
    await allReady(d, 2);
    // Tenant B is created on the sharded bot: the coordinator sends it to its shards.
    const b = await d.call('POST', '/subscriptions', {
      name: 'tenant-b', kind: 'push', webhookUrl: `${d.receiver.url}/tenant-b`, filter: { guildIds: onShard(1).map((g) => g.id) },
    });
    assert.equal(b.status, 201, JSON.stringify(b.json));
    const sent = await messages(d, guilds.map((g) => g.index), 'first');
    const idsOf = (s) => sent.filter((_, i) => guilds[i].shard === s).map((m) => m.data.id);
    await waitFor(() => (receivedIds(d, '/tenant-a').length >= idsOf(0).length && receivedIds(d, '/tenant-b').length >= idsOf(1).length ? true : null), {
      timeoutMs: 20_000, message: 'both tenants served',
    });
    await waitFor(() => (receivedIds(d, '/webhook').length >= GUILDS ? true : null), { message: 'default got all' });
    await sleep(500);
    assert.deepEqual(receivedIds(d, '/tenant-a').sort(), idsOf(0).sort(), 'tenant A: exactly its guilds');
    assert.deepEqual(receivedIds(d, '/tenant-b').sort(), idsOf(1).sort(), 'tenant B: exactly its guilds');
    // /status on the coordinator adds up each subscription over the shards.
    const status = await waitFor(async () => {
      const s = await d.status();
      const byName = Object.fromEntries((s.subscriptions ?? []).map((x) => [x.name, x]));
      return byName['tenant-a']?.delivered === idsOf(0).length && byName['tenant-b']?.delivered === idsOf(1).length ? byName : null;
    }, { message: 'subscription figures added up' });
    assert.equal(status.default.delivered, GUILDS);
    // Replaced on the coordinator: tenant B now takes shard 0's guilds; deleted: tenant A stops.
    const put = await d.call('PUT', '/subscriptions?subscription=tenant-b', {
      kind: 'push', webhookUrl: `${d.receiver.url}/tenant-b`, filter: { guildIds: onShard(0).map((g) => g.id) },
    });
    assert.equal(put.status, 200, JSON.stringify(put.json));
    assert.equal((await d.call('DELETE', '/subscriptions?subscription=tenant-a')).status, 200);
    const second = await messages(d, guilds.map((g) => g.index), 'second');
    const secondOf = (s) => second.filter((_, i) => guilds[i].shard === s).map((m) => m.data.id);
    await waitFor(() => (receivedIds(d, '/webhook').length >= 2 * GUILDS ? true : null), { message: 'default got the second round' });
    await waitFor(() => (secondOf(0).every((id) => receivedIds(d, '/tenant-b').includes(id)) ? true : null), { message: 'B gets shard 0 now' });
    await sleep(500);
    assert.deepEqual(receivedIds(d, '/tenant-b').filter((id) => second.some((m) => m.data.id === id)).sort(), secondOf(0).sort());
    assert.deepEqual(receivedIds(d, '/tenant-a').sort(), idsOf(0).sort(), 'A deleted: nothing more');
  });

  test('issue12 pull: one cursor across both shards, ack, a runtime kill: nothing twice past the ack, nothing lost; a malformed or foreign cursor is 400', async () => {
    d = await deployment({ heartbeatIntervalMs: 600_000 });
    await shardedSim(d);
    const guilds = await guildsByShard(d, 2);
    assert.equal((await d.call('POST', '/connect', { shards: 'auto' })).status, 202);
    await allReady(d, 2);
    const token = await createPull(d, 'agent', { guildIds: guilds.map((g) => g.id) });
    const other = await createPull(d, 'other');
    const first = await messages(d, guilds.map((g) => g.index), 'first');
    const page = await readUntil(d, token, undefined, (p) => events(p).length >= GUILDS, 'all guilds in one inbox');
    assert.deepEqual(ids(page).sort(), first.map((m) => m.data.id).sort());
    assert.deepEqual([...new Set(events(page).map((e) => e.shard))].sort(), [0, 1], 'from both shards');
    assert.match(page.next_cursor, /^s1\./);
    const times = events(page).map((e) => e.event.timestamp);
    assert.deepEqual(times, [...times].sort((x, y) => x - y), 'merged by receive time');
    // Malformed and foreign cursors.
    for (const after of ['garbage', '12', `${page.next_cursor}x`]) {
      const bad = await inbox(d, token, { after });
      assert.deepEqual([bad.status, bad.json.field], [400, 'after'], after);
    }
    const foreign = await inbox(d, other, { after: page.next_cursor });
    assert.deepEqual([foreign.status, foreign.json.field], [400, 'after'], 'another subscription\'s cursor');
    const numeric = await agentCall(d, token, 'POST', '/v1/ack', { cursor: 3 });
    assert.deepEqual([numeric.status, numeric.json.field], [400, 'cursor']);
    // Reading after next_cursor gives nothing; limit splits across shards without loss.
    assert.deepEqual(events((await inbox(d, token, { after: page.next_cursor })).json), []);
    const small = (await inbox(d, token, { limit: 3 })).json;
    assert.equal(events(small).length, 3);
    const rest = (await inbox(d, token, { limit: 200, after: small.next_cursor })).json;
    assert.deepEqual([...ids(small), ...ids(rest)].sort(), ids(page).sort(), 'the two pages are the whole, once');
    // Ack everything read; /v1/me sums the shards.
    const acked = await agentCall(d, token, 'POST', '/v1/ack', { cursor: page.next_cursor });
    assert.deepEqual([acked.status, acked.json], [200, { cursor: page.next_cursor }]);
    const me = (await agentCall(d, token, 'GET', '/v1/me')).json;
    assert.equal(me.name, 'agent');
    assert.equal(me.lag, 0);
    assert.match(me.cursor, /^s1\./);
    // More events, half of them read and acknowledged; then the runtime dies, and events come
    // while it is down.
    const second = await messages(d, guilds.map((g) => g.index), 'second');
    const secondPage = await readUntil(d, token, undefined, (p) => events(p).length >= GUILDS, 'second round');
    const half = (await inbox(d, token, { limit: GUILDS / 2 })).json;
    assert.equal((await agentCall(d, token, 'POST', '/v1/ack', { cursor: half.next_cursor })).status, 200);
    const meBefore = (await agentCall(d, token, 'GET', '/v1/me')).json;
    assert.equal(meBefore.lag, GUILDS / 2);
    await d.worker.kill();
    await waitFor(async () => ((await d.sim.state()).connections.every((c) => !c.open) ? true : null));
    const third = await messages(d, guilds.map((g) => g.index), 'third');
    await d.restart();
    assert.equal((await agentCall(d, token, 'GET', '/v1/me')).json.cursor, meBefore.cursor, 'every shard kept its acknowledged position');
    const after = await readUntil(d, token, undefined, (p) => events(p).length >= GUILDS / 2 + GUILDS, 'after the kill');
    const got = ids(after);
    assert.equal(new Set(got).size, got.length, 'each once');
    for (const id of ids(half)) assert.ok(!got.includes(id), 'nothing acknowledged comes again');
    for (const id of [...first, ...second, ...third].map((m) => m.data.id)) {
      if (!ids(half).includes(id) && !first.some((m) => m.data.id === id)) assert.ok(got.includes(id), `${id} not lost`);
    }
    assert.equal(ids(secondPage).length, GUILDS);
  });

  test('issue12 pull: a long poll held on the coordinator returns when an event comes on either shard', async () => {
    d = await deployment();
    await shardedSim(d);
    const guilds = await guildsByShard(d, 2);
    assert.equal((await d.call('POST', '/connect', { shards: 'auto' })).status, 202);
    await allReady(d, 2);
    const token = await createPull(d, 'agent');
    for (const shard of [1, 0]) {
      const { next_cursor: cursor } = (await inbox(d, token)).json;
      let ended = false;
      const held = inbox(d, token, { after: cursor, wait: 25 }).finally(() => {
        ended = true;
      });
      await sleep(1000);
      assert.equal(ended, false, 'held while nothing comes');
      const g = guilds.find((x) => x.shard === shard);
      const [sent] = await messages(d, [g.index], `poll ${shard}`);
      const res = await held;
      assert.equal(res.status, 200, JSON.stringify(res.json));
      assert.ok(ids(res.json).includes(sent.data.id), JSON.stringify(res.json));
      assert.ok(events(res.json).every((e) => e.shard === shard || e.event.data?.id !== sent.data.id));
      assert.equal((await agentCall(d, token, 'POST', '/v1/ack', { cursor: res.json.next_cursor })).status, 200);
    }
  });

  test('issue12 pull: a reshard (4011) with a pull subscription loses nothing', async () => {
    d = await deployment();
    await shardedSim(d, { shards: 2, maxConcurrency: 4 });
    const guilds = await guildsByShard(d, 2);
    assert.equal((await d.call('POST', '/connect', { shards: 'auto' })).status, 202);
    await allReady(d, 2);
    const token = await createPull(d, 'agent', { guildIds: guilds.map((g) => g.id) });
    const before = await messages(d, guilds.map((g) => g.index), 'before');
    // Some read and acknowledged before the reshard, the rest not.
    const early = await readUntil(d, token, undefined, (p) => events(p).length >= GUILDS, 'before the reshard');
    const part = (await inbox(d, token, { limit: 3 })).json;
    assert.equal((await agentCall(d, token, 'POST', '/v1/ack', { cursor: part.next_cursor })).status, 200);
    await d.sim.control('/_sim/sharding-required', { shards: 4 });
    const after4 = await allReady(d, 4, 90_000);
    assert.equal(after4.sets.length, 1, 'the old set is stopped');
    const later = await messages(d, guilds.map((g) => g.index), 'later');
    const wanted = [...before, ...later].map((m) => m.data.id).filter((id) => !ids(part).includes(id));
    const seen = new Set();
    let cursor;
    await waitFor(async () => {
      const res = await inbox(d, token, { limit: 200, after: cursor });
      assert.equal(res.status, 200, JSON.stringify(res.json));
      for (const id of ids(res.json)) seen.add(id);
      cursor = res.json.next_cursor;
      return wanted.every((id) => seen.has(id)) ? true : null;
    }, { timeoutMs: 30_000, message: 'every event before and after the reshard' });
    for (const id of ids(part)) assert.ok(!seen.has(id), 'acknowledged before the reshard: not again');
    assert.equal(ids(early).length, GUILDS);
    // Acknowledging drains the old set: it is no longer read.
    assert.equal((await agentCall(d, token, 'POST', '/v1/ack', { cursor })).status, 200);
    assert.equal((await agentCall(d, token, 'GET', '/v1/me')).json.lag, 0);
  });

  test('issue12 talk back with a pull token on a sharded bot keeps the channel rule', async () => {
    d = await deployment();
    await shardedSim(d);
    assert.equal((await d.call('POST', '/connect', { shards: 'auto' })).status, 202);
    await allReady(d, 2);
    const guilds = await guildsByShard(d, 2);
    const [inGuild0, inGuild1] = await messages(d, [guilds[0].index, guilds[1].index], 'talk');
    const token = await createPull(d, 'talker', { channelIds: [inGuild0.data.channel_id] });
    const inside = await agentCall(d, token, 'POST', '/v1/messages', { channel_id: inGuild0.data.channel_id, content: 'hello' });
    assert.equal(inside.status, 200, JSON.stringify(inside.json));
    assert.equal(inside.json.message_ids.length, 1);
    const outside = await agentCall(d, token, 'POST', '/v1/messages', { channel_id: inGuild1.data.channel_id, content: 'no' });
    assert.equal(outside.status, 403, JSON.stringify(outside.json));
    assert.equal(outside.json.field, 'channel_id');
    const reaction = await agentCall(d, token, 'PUT', '/v1/reactions', {
      channel_id: inGuild0.data.channel_id, message_id: inGuild0.data.id, emoji: '👍',
    });
    assert.equal(reaction.status, 200, JSON.stringify(reaction.json));
  });
});
