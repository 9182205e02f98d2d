// Reconnects, resumes and stops, driven by the simulator's fault controls.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { sleep, waitFor } from './harness/index.mjs';
import { deployment, LONG_HEARTBEAT_MS, received } from './fixture.mjs';

/** Message ids the receiver got, in arrival order. */
function deliveredIds(receiver) {
  return received(receiver, 'GATEWAY_MESSAGE_CREATE').map(({ body }) => body.data.id);
}

describe('resume and stop', () => {
  let d;
  afterEach(() => d?.stop());

  test('op 7 resumes on resume_gateway_url and loses no event', async () => {
    d = await deployment();
    const first = await d.connectReady();
    const a = (await d.dispatch({ preset: 'guild_message' })).sent[0];
    await d.sim.control('/_sim/reconnect', {});
    // Events that happen while we reconnect are buffered by Discord and replayed on resume.
    const b = (await d.dispatch({ preset: 'guild_message' })).sent[0];
    const c = (await d.dispatch({ preset: 'guild_message' })).sent[0];
    await d.receiver.waitFor(() => deliveredIds(d.receiver).length >= 3);
    assert.deepEqual(deliveredIds(d.receiver), [a.data.id, b.data.id, c.data.id]);
    const status = await d.waitForState('connected');
    assert.equal(status.sessionId, first.sessionId);
    const sim = await d.sim.state();
    assert.equal(sim.identifies.length, 1, 'no new Identify');
    assert.equal(sim.resumes.length, 1);
    assert.equal(sim.resumes[0].path, '/resume');
    assert.equal(sim.connections[0].closeCodeFromClient, 4000);
  });

  test('op 9 resumable resumes; op 9 not resumable identifies anew', async () => {
    d = await deployment();
    const first = await d.connectReady();
    await d.sim.control('/_sim/invalid-session', { resumable: true });
    await waitFor(async () => (await d.sim.state()).resumes.length === 1 || null);
    assert.equal((await d.waitForState('connected')).sessionId, first.sessionId);

    await d.sim.control('/_sim/invalid-session', { resumable: false });
    const fresh = await waitFor(async () => {
      const s = await d.status();
      return s.state === 'connected' && s.sessionId !== first.sessionId ? s : null;
    }, { timeoutMs: 20_000 });
    assert.ok(fresh.sessionId);
    const sim = await d.sim.state();
    assert.equal(sim.identifies.length, 2);
    const gap = sim.identifies[1].at - sim.identifies[0].at;
    assert.ok(gap >= 1000, `re-identified ${gap} ms after op 9`);
    const { sent } = await d.dispatch({ preset: 'dm_message' });
    await d.receiver.waitFor((rs) => rs.find((r) => r.json().data.id === sent[0].data.id));
  });

  for (const [code, words] of [
    [4004, /rejected the bot token/],
    [4014, /a privileged intent is not enabled for this bot in the Discord developer portal/],
  ]) {
    test(`close ${code} stops with the reason and never reconnects`, async () => {
      d = await deployment();
      await d.connectReady();
      await d.sim.control('/_sim/close', { code });
      const status = await d.waitForState('stopped');
      assert.match(status.stopReason, words);
      assert.equal(status.lastClose.code, code);
      assert.equal(status.waiting, null);
      const connections = (await d.sim.state()).connections.length;
      await sleep(3000);
      assert.equal((await d.sim.state()).connections.length, connections, 'no reconnect attempt');
      assert.equal((await d.status()).state, 'stopped');
      // An explicit connect starts again.
      await d.connectReady();
    });
  }

  test('a disallowed privileged intent at Identify stops with 4014', async () => {
    d = await deployment();
    await d.sim.control('/_sim/config', { privilegedIntentsAllowed: { [(await import('./fixture.mjs')).BOT_TOKEN]: 0 } });
    await d.call('POST', '/connect', {});
    const status = await d.waitForState('stopped');
    assert.equal(status.stopCode, 'disallowedIntents');
    // Without MESSAGE_CONTENT it works.
    await d.connectReady({ intents: ['GUILDS', 'GUILD_MESSAGES', 'DIRECT_MESSAGES'] });
  });

  test('a rejected token on /gateway/bot stops with the reason', async () => {
    d = await deployment();
    await d.sim.control('/_sim/config', { rejectTokens: [(await import('./fixture.mjs')).BOT_TOKEN] });
    await d.call('POST', '/connect', {});
    const status = await d.waitForState('stopped');
    assert.equal(status.stopCode, 'authenticationFailed');
    assert.equal((await d.sim.state()).upgradeRequests, 0);
  });

  test('zombie connection (no ACKs) is closed and resumed', async () => {
    d = await deployment();
    const first = await d.connectReady();
    await d.sim.control('/_sim/acks', { paused: true });
    await waitFor(async () => ((await d.status()).counters.zombieConnections >= 1 ? true : null), { timeoutMs: 10_000 });
    await d.sim.control('/_sim/acks', { paused: false });
    await waitFor(async () => ((await d.sim.state()).resumes.length >= 1 ? true : null), { timeoutMs: 10_000 });
    assert.equal((await d.waitForState('connected')).sessionId, first.sessionId);
    const sim = await d.sim.state();
    assert.notEqual(sim.connections[0].closeCodeFromClient, 1000);
  });

  test('a dropped TCP connection is resumed', async () => {
    d = await deployment();
    const first = await d.connectReady();
    await d.sim.control('/_sim/drop', {});
    const { sent } = await d.dispatch({ preset: 'guild_message' });
    await d.receiver.waitFor((rs) => rs.find((r) => r.json().data.id === sent[0].data.id), 15_000);
    assert.equal((await d.waitForState('connected')).sessionId, first.sessionId);
  });
});

describe('bad frames', () => {
  let d;
  afterEach(() => d?.stop());

  // Frames over the 32 MiB limit: e2e/protocol.test.mjs (item 11), which asserts the counter.
  test('malformed and unknown frames are counted and skipped, a 2 MiB frame (under the limit) is read; forwarding continues', async () => {
    d = await deployment();
    await d.connectReady();
    for (const text of ['not json', '{"op":"x"}', '{"op":42,"d":null}', '{"op":0,"t":"MESSAGE_CREATE"}', '[]']) {
      await d.sim.control('/_sim/raw', { text });
    }
    await d.sim.control('/_sim/raw', { binaryBase64: Buffer.from('garbage').toString('base64') });
    await d.sim.control('/_sim/oversize', { bytes: 2 * 1024 * 1024 });
    const { sent } = await d.dispatch({ preset: 'guild_message' });
    await d.receiver.waitFor((rs) => rs.find((r) => r.json().data.id === sent[0].data.id));
    const status = await d.status();
    assert.equal(status.state, 'connected');
    assert.equal(status.counters.malformedFrames, 4);
    assert.equal(status.counters.unknownOpcodes, 1);
    assert.equal(status.counters.unexpectedBinaryFrames, 1);
    assert.equal(status.counters.oversizeFrames, 0, 'a 2 MiB frame is under the limit');
    assert.equal(status.counters.sizeFailures, 0);
    assert.equal((await d.sim.state()).identifies.length, 1, 'the session survived');
  });
});

describe('zlib-stream transport compression', () => {
  let d;
  afterEach(() => d?.stop());

  test('compressed frames split at awkward boundaries are decoded and forwarded', async () => {
    d = await deployment();
    await d.sim.control('/_sim/config', { zlibSplit: { every: 3 } });
    await d.connectReady({ compress: 'zlib-stream' });
    const sim = await d.sim.state();
    assert.match(sim.connections[0].query, /compress=zlib-stream/);
    const { sent } = await d.dispatch({ preset: 'guild_message' });
    const request = await d.receiver.waitFor((rs) => rs.find((r) => r.json().data.id === sent[0].data.id));
    assert.ok(request.text().endsWith(`"data":${sent[0].raw}}`));
  });
});

describe('restart of the runtime', () => {
  let d;
  afterEach(() => d?.stop());

  test('killed and restarted on the same storage, it resumes by itself within seconds and forwards the replay', async () => {
    // The next heartbeat is minutes away: the restart watch, not the heartbeat, brings it back.
    d = await deployment({ heartbeatIntervalMs: LONG_HEARTBEAT_MS });
    const first = await d.connectReady();
    const before = (await d.dispatch({ preset: 'guild_message' })).sent[0];
    await d.receiver.waitFor((rs) => rs.find((r) => r.json().data.id === before.data.id));
    // Killed only once the object has recorded the delivery: a kill before that may resend it
    // (at least once, same event id; delivered rows are deleted in batches, issue 9).
    await waitFor(async () => ((await d.status()).delivery.delivered >= 1 ? true : null), { message: 'delivery recorded' });
    await d.worker.kill();
    // Discord keeps the session and buffers what happens meanwhile.
    await waitFor(async () => ((await d.sim.state()).connections.every((c) => !c.open) ? true : null));
    const missed = [];
    for (let i = 0; i < 3; i += 1) missed.push((await d.dispatch({ preset: 'guild_message' })).sent[0]);
    await d.restart();
    // No /connect: the alarm brings the object back.
    await d.receiver.waitFor(() => missed.every((m) => deliveredIds(d.receiver).includes(m.data.id)), 15_000);
    const status = await d.waitForState('connected');
    assert.equal(status.sessionId, first.sessionId);
    const sim = await d.sim.state();
    assert.equal(sim.identifies.length, 1);
    assert.ok(sim.resumes.length >= 1);
    const ids = deliveredIds(d.receiver);
    assert.equal(new Set(ids).size, ids.length, 'no duplicates');
  });

  test('what GUILD_CREATE taught survives a restart that resumes: thread reactions keep their thread', async () => {
    d = await deployment({ heartbeatIntervalMs: LONG_HEARTBEAT_MS });
    await d.connectReady();
    const { world } = await d.sim.state();
    const reactionInThread = async () => {
      d.receiver.clear();
      await d.dispatch({ preset: 'thread_reaction_add' });
      await d.receiver.waitFor(() => received(d.receiver, 'GATEWAY_MESSAGE_REACTION_ADD').length > 0);
      return received(d.receiver, 'GATEWAY_MESSAGE_REACTION_ADD')[0].body.data;
    };
    assert.deepEqual((await reactionInThread()).thread, { id: world.threadId, parent_id: world.textChannelId });
    await d.restart({ kill: true });
    await d.waitForState('connected');
    assert.equal((await d.sim.state()).identifies.length, 1, 'resumed: Discord sent no GUILD_CREATE again');
    const after = await reactionInThread();
    assert.deepEqual(after.thread, { id: world.threadId, parent_id: world.textChannelId });
    assert.equal(after.channel_type, 11);
  });
});
