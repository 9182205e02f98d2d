// Protocol rules of issue 8 (items 9-13), end to end: the built worker in workerd against the
// simulator, with a real receiver.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { waitFor } from './harness/index.mjs';
import { deployment, received } from './fixture.mjs';

/** Message ids the receiver got, in arrival order. */
function deliveredIds(receiver) {
  return received(receiver, 'GATEWAY_MESSAGE_CREATE').map(({ body }) => body.data.id);
}

describe('protocol (issue 8, items 9-13)', () => {
  let d;
  afterEach(() => d?.stop());

  test('item 9: a refused resume host falls back to the gateway URL, still resumes, loses nothing', async () => {
    d = await deployment();
    const first = await d.connectReady();
    const a = (await d.dispatch({ preset: 'guild_message' })).sent[0];
    await d.receiver.waitFor(() => deliveredIds(d.receiver).length >= 1);
    await d.sim.control('/_sim/config', { refuseResumeHost: true });
    await d.sim.control('/_sim/reconnect', {});
    // Discord keeps these for the resume.
    const b = (await d.dispatch({ preset: 'guild_message' })).sent[0];
    const c = (await d.dispatch({ preset: 'guild_message' })).sent[0];
    await d.receiver.waitFor(() => deliveredIds(d.receiver).length >= 3, 20_000);
    assert.deepEqual(deliveredIds(d.receiver), [a.data.id, b.data.id, c.data.id]);
    const status = await d.waitForState('connected');
    assert.equal(status.sessionId, first.sessionId, 'the same session');
    const sim = await d.sim.state();
    assert.equal(sim.identifies.length, 1, 'no new Identify');
    assert.equal(sim.resumes.length, 1);
    assert.equal(sim.resumes[0].path, '/', 'resumed on the gateway URL');
    assert.equal(sim.resumes[0].outcome, 'resumed');
    assert.equal(status.lastFailure.reason, 'the gateway refused the WebSocket upgrade with HTTP 503');
  });

  test('item 10: a 401 on the WebSocket upgrade is retried with backoff, not a stop', async () => {
    d = await deployment();
    await d.sim.control('/_sim/config', { upgradeFaults: [{ status: 401 }] });
    const status = await d.connectReady();
    assert.equal(status.stopCode, null);
    assert.equal(status.lastFailure.reason, 'the gateway refused the WebSocket upgrade with HTTP 401');
    const sim = await d.sim.state();
    assert.equal(sim.upgradeRequests, 2, 'refused once, then connected');
    assert.equal(sim.identifies.length, 1);
  });

  test('item 11: a message over the 32 MiB limit starts a new session instead of resuming into the same replay', async () => {
    d = await deployment();
    const first = await d.connectReady();
    await d.sim.control('/_sim/oversize', { bytes: 33 * 1024 * 1024 });
    const fresh = await waitFor(async () => {
      const s = await d.status();
      return s.state === 'connected' && s.sessionId !== first.sessionId ? s : null;
    }, { timeoutMs: 30_000, message: 'a new session' });
    assert.equal(fresh.counters.sizeFailures, 1);
    assert.equal(fresh.lastClose.code, 1009);
    assert.match(fresh.lastFailure.reason, /over the 33554432-byte limit/);
    const sim = await d.sim.state();
    assert.equal(sim.resumes.length, 0, 'never resumed into the replay of the oversize message');
    assert.equal(sim.identifies.length, 2);
    const { sent } = await d.dispatch({ preset: 'guild_message' });
    await d.receiver.waitFor((rs) => rs.find((r) => r.json().data.id === sent[0].data.id));
    assert.equal((await d.status()).counters.sizeFailures, 1, 'no loop');
  });

  test('item 13: changing compress on a live session keeps its transport until the session ends', async () => {
    d = await deployment();
    const first = await d.connectReady();
    await d.connectReady({ compress: 'zlib-stream' });
    let sim = await d.sim.state();
    assert.equal(sim.connections.length, 1, 'the live connection stays');
    await d.sim.control('/_sim/reconnect', {});
    await waitFor(async () => ((await d.sim.state()).resumes.length === 1 ? true : null));
    assert.equal((await d.waitForState('connected')).sessionId, first.sessionId);
    sim = await d.sim.state();
    assert.doesNotMatch(sim.connections[1].query, /compress/, 'resumed with the query the session was opened with');
    // A new session takes the new setting.
    await d.sim.control('/_sim/invalid-session', { resumable: false });
    await waitFor(async () => ((await d.sim.state()).identifies.length === 2 ? true : null), { timeoutMs: 20_000 });
    sim = await d.sim.state();
    assert.match(sim.connections.at(-1).query, /compress=zlib-stream/);
    const { sent } = await d.dispatch({ preset: 'guild_message' });
    await d.receiver.waitFor((rs) => rs.find((r) => r.json().data.id === sent[0].data.id));
  });
});
