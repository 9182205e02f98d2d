// Issue 10, "one event log, many consumers": the log's positions, and (next) its subscriptions.
// A position is an outbox row id; cursors of pull subscriptions will point at them, so one must
// never be handed out twice, not even after every row left and the object restarted.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { waitFor } from './harness/index.mjs';
import { deployment } from './fixture.mjs';

/** Dispatches one event the receiver refuses with 400, and returns its dead letter. */
async function oneDeadLetter(d) {
  d.receiver.setHandler(() => ({ status: 400 }));
  await d.dispatch({ preset: 'guild_message', count: 1 });
  await waitFor(async () => ((await d.status()).delivery.deadLetters === 1 ? true : null), {
    timeoutMs: 20_000,
    message: 'one dead letter',
  });
  const [letter] = (await d.call('GET', '/dead-letters')).json.deadLetters;
  return letter;
}

describe('issue 10: the event log', () => {
  let d;
  afterEach(() => d?.stop());

  test('issue 10 log: a position is never handed out twice, even after the newest row left and a restart', async () => {
    d = await deployment();
    await d.connectReady();
    const first = await oneDeadLetter(d);
    // The newest row (the only one) leaves; then the runtime dies.
    assert.deepEqual((await d.call('POST', '/dead-letters/drop', { all: true })).json, { affected: 1 });
    assert.equal((await d.status()).delivery.pending, 0, 'nothing stored any more');
    await d.restart({ kill: true });
    await d.waitForState('connected');
    const second = await oneDeadLetter(d);
    assert.notEqual(second.eventId, first.eventId, 'another event');
    assert.ok(second.id > first.id, `position ${second.id} comes after ${first.id}, never again`);
  });
});
