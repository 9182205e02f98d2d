// Issue 12 on a sharded bot, through its coordinator: presence on every shard, growing with
// Discord's recommendation without a 4011, and every shard's dead letters in one place.
import { describe, test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { deployment } from './fixture.mjs';
import { waitFor, sleep } from './harness/index.mjs';
import { allReady, messagePerGuild, shardedSim, waitDelivered } from './harness/sharding.mjs';

const REQUEST = { status: 'dnd', activities: [{ name: 'every shard', type: 3 }] };
const PRESENCE = { since: null, activities: [{ name: 'every shard', type: 3 }], status: 'dnd', afk: false };

/** The simulator's latest session of each shard of a set of `count`, once each shows PRESENCE. */
function sessionsWithPresence(d, count) {
  return waitFor(async () => {
    const sessions = (await d.sim.state()).sessions.filter((s) => s.shard[1] === count);
    const latest = [...Array(count).keys()].map((id) => sessions.filter((s) => s.shard[0] === id).at(-1));
    return latest.every((s) => s && isDeepStrictEqual(s.presence, PRESENCE)) ? latest : null;
  }, { timeoutMs: 15_000, message: `presence on the ${count} shards' sessions` });
}

describe('issue 12: a sharded bot through its coordinator', () => {
  let d;
  afterEach(() => d?.stop());

  test('issue12 presence across shards: POST /presence reaches every shard session as op 3; bad input is a 400 naming the field', async () => {
    d = await deployment();
    await shardedSim(d, { shards: 2, maxConcurrency: 2 });
    assert.equal((await d.call('POST', '/connect', { shards: 'auto' })).status, 202);
    await allReady(d, 2);
    const res = await d.call('POST', '/presence', REQUEST);
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.deepEqual(res.json.presence, PRESENCE);
    assert.equal(res.json.sent, true);
    assert.deepEqual(res.json.shards.map((s) => [s.shard, s.sent]), [[0, true], [1, true]]);
    const sessions = await sessionsWithPresence(d, 2);
    assert.ok(sessions.every((s) => s.presenceUpdates === 1), 'one op 3 on each shard');
    assert.deepEqual((await d.status()).presence, PRESENCE);
    const bad = await d.call('POST', '/presence', { status: 'busy' });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.field, 'status');
  });

  test('issue12 growth: with "auto", a larger recommendation (no 4011) reshards to it, the presence goes with the new set, no event lost, the old set\'s dead letters stay reachable', async () => {
    d = await deployment();
    await shardedSim(d, { shards: 2, maxConcurrency: 4 });
    const connect = await d.call('POST', '/connect', { shards: 'auto', reshardCheckMs: 2000 });
    assert.equal(connect.status, 202, JSON.stringify(connect.json));
    const two = await allReady(d, 2);
    assert.equal(two.reshardCheckMs, 2000);
    assert.equal((await d.call('POST', '/presence', REQUEST)).status, 200);
    // A dead letter in the old set: it stays reachable after the set is retired.
    let down = true;
    d.receiver.setHandler((req) => (down && req.json().data?.content === 'poison' ? { status: 400 } : { status: 200 }));
    const [poison] = await messagePerGuild(d, 1, { content: 'poison' });
    await waitFor(async () => ((await d.status()).totals.deadLetters === 1 ? true : null), { message: 'a dead letter in the old set' });
    const before = await messagePerGuild(d, 8);
    // Discord now recommends 4; nothing closes the sessions.
    await d.sim.control('/_sim/config', { shards: 4 });
    const four = await allReady(d, 4, 90_000);
    assert.equal(four.sets.length, 1, 'the old set is stopped');
    assert.equal(four.retiredSets.length, 1, 'and listed as retired');
    assert.equal(four.totals.deadLetters, 1, 'its dead letter counts');
    const [old] = (await d.call('GET', '/dead-letters')).json.deadLetters;
    assert.equal(old?.eventId, `${poison.sessionId}:${poison.seq}`);
    assert.equal(old.generation, four.retiredSets[0].generation);
    down = false;
    assert.deepEqual((await d.call('POST', '/dead-letters/replay', { ids: [old.id] })).json, { affected: 1 });
    await d.receiver.waitFor((rs) => rs.filter((r) => r.json().data?.id === poison.data.id).length === 2, 20_000);
    const later = await messagePerGuild(d, 8);
    await waitDelivered(d, [...before, ...later], 30_000);
    const sim = await d.sim.state();
    assert.ok(sim.connections.every((c) => c.closeCodeFromServer !== 4011), 'no 4011');
    const identified = sim.identifies.filter((i) => i.outcome === 'ready' && i.shard[1] === 4);
    assert.deepEqual(identified.map((i) => i.shard[0]).sort(), [0, 1, 2, 3]);
    assert.ok(identified.every((i) => isDeepStrictEqual(i.presence, PRESENCE)), 'the new set identifies with the presence');
  });

  test('issue12 growth: a fixed shard count never reshards on its own', async () => {
    d = await deployment();
    await shardedSim(d, { shards: 2, maxConcurrency: 4 });
    assert.equal((await d.call('POST', '/connect', { shards: 2, reshardCheckMs: 1000 })).status, 202);
    await allReady(d, 2);
    await d.sim.control('/_sim/config', { shards: 4 });
    await sleep(4000);
    assert.equal((await d.sim.state()).identifies.filter((i) => i.shard[1] === 4).length, 0, 'no shard of a set of 4 identified');
    const status = await d.status();
    assert.equal(status.shardCount, 2);
    assert.equal(status.nextReshardCheckAt, null);
    const bad = await d.call('POST', '/connect', { shards: 'auto', reshardCheckMs: 10 });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.field, 'reshardCheckMs');
  });

  test('issue12 dead letters of a 2-shard bot: listed through the entry with their shard, replayed to the right shard, delivered', async () => {
    d = await deployment();
    await shardedSim(d, { shards: 2, maxConcurrency: 2 });
    assert.equal((await d.call('POST', '/connect', { shards: 'auto' })).status, 202);
    await allReady(d, 2);
    let down = true;
    d.receiver.setHandler((req) => (down && req.json().data?.content === 'poison' ? { status: 400 } : { status: 200 }));
    const poison = await messagePerGuild(d, 4, { content: 'poison' });
    const status = await waitFor(async () => {
      const s = await d.status();
      return s.totals.deadLetters === 4 ? s : null;
    }, { timeoutMs: 20_000, message: 'four dead letters' });
    const perShard = status.sets[0].shards.map((s) => s.deadLetters);
    assert.deepEqual(perShard, [2, 2], 'dead letters on both shards');
    const list = (await d.call('GET', '/dead-letters')).json.deadLetters;
    assert.equal(list.length, 4);
    assert.deepEqual([...new Set(list.map((l) => l.shard))].sort(), [0, 1]);
    for (const letter of list) assert.equal(letter.id, `${letter.generation}.${letter.shard}.${letter.id.split('.')[2]}`);
    assert.deepEqual(
      list.map((l) => l.eventId).sort(),
      poison.map((m) => `${m.sessionId}:${m.seq}`).sort(),
    );
    assert.equal((await d.call('GET', '/dead-letters?subscription=default')).json.deadLetters.length, 4);
    const unknown = await d.call('GET', '/dead-letters?subscription=nope');
    assert.ok(unknown.status >= 400 && unknown.status < 500, `${unknown.status}`);
    const bad = await d.call('POST', '/dead-letters/replay', { ids: [list[0].id.split('.')[2] * 1] });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.field, 'ids');
    down = false;
    const replay = await d.call('POST', '/dead-letters/replay', { ids: list.map((l) => l.id) });
    assert.deepEqual(replay.json, { affected: 4 });
    await d.receiver.waitFor((rs) => poison.every((m) => rs.filter((r) => r.json().data?.id === m.data.id).length === 2), 20_000);
    await waitFor(async () => ((await d.status()).totals.deadLetters === 0 ? true : null), { message: 'no dead letters left' });
    // Drop, by all.
    down = true;
    await messagePerGuild(d, 2, { content: 'poison' });
    await waitFor(async () => ((await d.status()).totals.deadLetters === 2 ? true : null), { message: 'two new dead letters' });
    assert.deepEqual((await d.call('POST', '/dead-letters/drop', { all: true })).json, { affected: 2 });
    assert.equal((await d.call('GET', '/dead-letters')).json.deadLetters.length, 0);
  });
});
