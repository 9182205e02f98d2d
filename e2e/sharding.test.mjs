// Issue 12: one bot, many shards, one Durable Object per shard, against the simulator.
import { describe, test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { deployment, adminCall } from './fixture.mjs';
import { waitFor } from './harness/index.mjs';
import { allReady, eventIds, messagePerGuild, shardedSim, waitDelivered } from './harness/sharding.mjs';

describe('issue 12: sharded bot', () => {
  let d;
  afterEach(() => d?.stop());

  test('issue12 4 shards, max_concurrency 2: four objects, identifies 5 s apart per bucket, guild events from their shard, /status adds up', async () => {
    d = await deployment();
    await shardedSim(d, { shards: 4, maxConcurrency: 2 });
    const connect = await d.call('POST', '/connect', { shards: 'auto' });
    assert.equal(connect.status, 202, JSON.stringify(connect.json));
    const status = await allReady(d, 4);
    const sim = await d.sim.state();
    const ok = sim.identifies.filter((i) => i.outcome === 'ready');
    assert.deepEqual(ok.map((i) => i.shard[0]).sort(), [0, 1, 2, 3]);
    assert.ok(ok.every((i) => i.shard[1] === 4));
    assert.equal(sim.identifies.filter((i) => i.outcome === 'rate_limited').length, 0, 'no identify was refused');
    for (const bucket of [0, 1]) {
      const times = sim.identifies.filter((i) => i.bucket === bucket).map((i) => i.at).sort((a, b) => a - b);
      for (let k = 1; k < times.length; k += 1) assert.ok(times[k] - times[k - 1] >= 5000, `bucket ${bucket}: ${times}`);
    }
    // Every guild's events come from its shard's session and reach the webhook.
    const sessionOfShard = new Map(sim.sessions.map((s) => [s.shard[0], s.id]));
    const world = sim.world;
    const sent = await messagePerGuild(d, 8);
    for (let g = 0; g < 8; g += 1) {
      const shard = Number((BigInt(world.guildIds[g]) >> 22n) % 4n);
      assert.equal(sent[g].sessionId, sessionOfShard.get(shard), `guild ${g} on shard ${shard}`);
    }
    await waitDelivered(d, sent);
    for (const m of sent) assert.ok(eventIds(d.receiver).includes(`${m.sessionId}:${m.seq}`));
    // /status: per shard, and totals that add up.
    const again = await waitFor(async () => {
      const s = await d.status();
      return s.totals.outboxDepth === 0 ? s : null;
    });
    const shards = again.sets.find((s) => s.primary).shards;
    assert.equal(shards.length, 4);
    assert.equal(again.totals.guilds, shards.reduce((a, s) => a + s.guilds, 0));
    assert.equal(again.totals.guilds, 8);
    assert.ok(shards.every((s) => s.state === 'connected' && s.guilds === 2));
    assert.equal(again.identify.maxConcurrency, 2);
    assert.equal(status.identify.remaining, 996);
    // /disconnect stops every shard.
    assert.equal((await d.call('POST', '/disconnect')).status, 200);
    await waitFor(async () => ((await d.sim.state()).connections.every((c) => !c.open) ? true : null), { message: 'all shards closed' });
    assert.notEqual((await d.status()).sharded, true);
  });

  test('issue12 the entry refuses the internal routes between coordinator and shards', async () => {
    d = await deployment();
    for (const path of ['/internal/identify', '/internal/identify/sent', '/internal/shard/start', '/internal/shard/retire', '/internal/shard/report', '/internal/shard/subscriptions', '/internal/shard/pull']) {
      const res = await adminCall(d.worker, 'POST', path, { body: { generation: 1, shard: 0, count: 2 } });
      assert.equal(res.status, 404, `${path}: ${res.status} ${JSON.stringify(res.json)}`);
      assert.ok(!JSON.stringify(res.json).includes('/internal'), 'not listed');
    }
    const bad = await d.call('POST', '/connect', { shards: 0 });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.field, 'shards');
    const named = await d.call('POST', '/connect?name=bot%2Fshard%2F1%2F0-of-2', {});
    assert.equal(named.status, 400);
    assert.equal(named.json.field, 'name');
  });

  test('issue12 subscriptions go with the shards: those made before a sharded /connect, and those made after', async () => {
    d = await deployment();
    await shardedSim(d, { shards: 2, maxConcurrency: 2 });
    const created = await d.call('POST', '/subscriptions', { name: 'agent', kind: 'pull' });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const connect = await d.call('POST', '/connect', { shards: 'auto' });
    assert.equal(connect.status, 202, `existing subscriptions go with the shards: ${JSON.stringify(connect.json)}`);
    await allReady(d, 2);
    const sub = await d.call('POST', '/subscriptions', { name: 'agent-2', kind: 'pull' });
    assert.equal(sub.status, 201, JSON.stringify(sub.json));
  });

  test('issue12 kill the runtime: every shard resumes by itself, nothing lost', async () => {
    d = await deployment({ heartbeatIntervalMs: 600_000 });
    await shardedSim(d, { shards: 2, maxConcurrency: 2 });
    assert.equal((await d.call('POST', '/connect', { shards: 'auto' })).status, 202);
    await allReady(d, 2);
    const before = await messagePerGuild(d, 4);
    await waitDelivered(d, before);
    await d.worker.kill();
    await waitFor(async () => ((await d.sim.state()).connections.every((c) => !c.open) ? true : null));
    const missed = await messagePerGuild(d, 4);
    await d.restart();
    // No /connect: each shard object's alarm brings it back, and it resumes.
    await waitDelivered(d, missed, 30_000);
    await allReady(d, 2);
    const sim = await d.sim.state();
    assert.equal(sim.identifies.length, 2, 'no new Identify');
    assert.ok(sim.resumes.length >= 2, `resumes: ${sim.resumes.length}`);
  });

  test('issue12 4011 on a 2-shard bot: it reshards to the recommended count, no event lost', async () => {
    d = await deployment();
    await shardedSim(d, { shards: 2, maxConcurrency: 4 });
    assert.equal((await d.call('POST', '/connect', { shards: 'auto' })).status, 202);
    await allReady(d, 2);
    const before = await messagePerGuild(d, 8);
    await d.sim.control('/_sim/sharding-required', { shards: 4 });
    const after4 = await allReady(d, 4, 90_000);
    assert.equal(after4.sets.length, 1, 'the old set is stopped');
    const later = await messagePerGuild(d, 8);
    await waitDelivered(d, [...before, ...later], 30_000);
    const sim = await d.sim.state();
    assert.deepEqual(sim.identifies.filter((i) => i.outcome === 'ready' && i.shard[1] === 4).map((i) => i.shard[0]).sort(), [0, 1, 2, 3]);
  });

  test('issue12 an exhausted session_start_limit: no Identify on any shard, /status says when it resets', async () => {
    d = await deployment();
    const resetAfterMs = 3_600_000;
    await shardedSim(d, { shards: 2, maxConcurrency: 1, remaining: 0, resetAfterMs });
    const t0 = Date.now();
    assert.equal((await d.call('POST', '/connect', { shards: 2 })).status, 202);
    const status = await waitFor(async () => {
      const s = await d.status();
      const shards = s.sets?.[0]?.shards ?? [];
      return shards.length === 2 && shards.every((sh) => sh.phase === 'waiting to fetch gateway info' || sh.phase === 'waiting to open the socket') ? s : null;
    }, { message: 'shards waiting' });
    assert.equal(status.identify.exhausted, true);
    assert.equal(status.identify.remaining, 0);
    assert.ok(Math.abs(status.identify.resetsAt - (t0 + resetAfterMs)) < 60_000, `resetsAt ${status.identify.resetsAt}`);
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal((await d.sim.state()).identifies.length, 0);
  });

  test('issue12 one session start left for two shards: the coordinator grants one, the other waits for the reset', async () => {
    d = await deployment();
    const resetAfterMs = 3_600_000;
    // Both buckets are free and each shard's own GET /gateway/bot says one start is left: only
    // the shared queue keeps the second shard from spending a start that is not there.
    await shardedSim(d, { shards: 2, maxConcurrency: 2, remaining: 1, resetAfterMs });
    assert.equal((await d.call('POST', '/connect', { shards: 2 })).status, 202);
    const status = await waitFor(async () => {
      const s = await d.status();
      const shards = s.sets?.[0]?.shards ?? [];
      return s.totals?.ready === 1 && shards.some((sh) => sh.state === 'connecting') ? s : null;
    }, { message: 'one shard ready, one waiting' });
    assert.equal(status.identify.remaining, 0);
    assert.equal(status.identify.exhausted, true);
    await new Promise((r) => setTimeout(r, 2000));
    const sim = await d.sim.state();
    assert.equal(sim.identifies.length, 1, JSON.stringify(sim.identifies.map((i) => i.shard)));
  });
});
