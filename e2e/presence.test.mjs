// Issue 11, presence: POST /presence goes out as gateway op 3, is shown in /status, survives a
// dropped connection (the resumed session keeps it, as Discord's does) and is sent again in the
// Identify of a new session, also after the runtime restarts.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { waitFor } from './harness/index.mjs';
import { deployment } from './fixture.mjs';

const REQUEST = { status: 'dnd', activities: [{ name: 'the e2e suite', type: 3 }] };
const PRESENCE = { since: null, activities: [{ name: 'the e2e suite', type: 3 }], status: 'dnd', afk: false };

/** The simulator's session with this id (or the attached one), once it shows `presence`. */
async function simSessionWithPresence(d, sessionId) {
  return waitFor(async () => {
    const session = (await d.sim.state()).sessions.find((s) => s.id === sessionId);
    return session && isDeepStrictEqual(session.presence, PRESENCE) ? session : null;
  }, { timeoutMs: 10_000, message: `presence on session ${sessionId}` });
}

describe('issue 11: presence', () => {
  let d;
  after(() => d?.stop());

  test('issue 11 presence: set, then after a resume and after a new session the simulator sees the same presence', async () => {
    d = await deployment();
    const first = await d.connectReady();
    const res = await d.call('POST', '/presence', REQUEST);
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.deepEqual(res.json, { presence: PRESENCE, sent: true });
    const session = await simSessionWithPresence(d, first.sessionId);
    assert.equal(session.presenceUpdates, 1, 'one op 3');
    assert.deepEqual((await d.status()).presence, PRESENCE);

    // A dropped connection: the object resumes the same session, which keeps the presence.
    await d.sim.control('/_sim/drop', {});
    await waitFor(async () => (await d.sim.state()).resumes.some((r) => r.outcome === 'resumed') || null, {
      timeoutMs: 15_000,
      message: 'a resume',
    });
    assert.equal((await d.waitForState('connected')).sessionId, first.sessionId);
    await simSessionWithPresence(d, first.sessionId);

    // A new session: its Identify carries the presence.
    await d.sim.control('/_sim/invalid-session', { resumable: false });
    const fresh = await waitFor(async () => {
      const s = await d.status();
      return s.state === 'connected' && s.sessionId !== first.sessionId ? s : null;
    }, { timeoutMs: 20_000, message: 'a new session' });
    const sim = await d.sim.state();
    assert.equal(sim.identifies.length, 2);
    assert.equal(sim.identifies[0].presence, null, 'none before it was set');
    assert.deepEqual(sim.identifies[1].presence, PRESENCE);
    const renewed = await simSessionWithPresence(d, fresh.sessionId);
    assert.equal(renewed.presenceUpdates, 0, 'carried by Identify, not by another op 3');

    // After the runtime restarts, the object still has it (stored with the session snapshot).
    await d.restart({ kill: true });
    assert.deepEqual((await d.status()).presence, PRESENCE);
  });

  test('issue 11 presence: bad input is a 400 naming the field', async () => {
    d ??= await deployment();
    for (const [body, field] of [
      [{ status: 'busy' }, 'status'],
      [{ status: 'idle', activities: [{ name: '' }] }, 'activities'],
      [{ status: 'idle', game: 'x' }, 'game'],
    ]) {
      const res = await d.call('POST', '/presence', body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.json.field, field, JSON.stringify(res.json));
    }
    assert.equal((await d.call('GET', '/presence')).status, 405);
  });
});
