// Issue 9, "deletes in batches": delivered events leave the outbox in batches (one DELETE and one
// snapshot write per batch), yet no row is left behind: a batch is flushed by its own timer even
// when nothing else happens, so a crash after that resends nothing. "Inserts coalesced": the
// events the socket hands over in one turn are stored by one multi-row INSERT per 12 of them.
// Counted, never timed.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { sleep, waitFor } from './harness/index.mjs';
import { deployment, received } from './fixture.mjs';

const CHANNELS = ['1300000000000000911', '1300000000000000912', '1300000000000000913'];

describe('issue 9: deletes in batches', () => {
  let d;
  afterEach(() => d?.stop());

  test('issue 9 deletes in batches: delivered rows are deleted with nothing else happening; a crash afterwards resends none', async () => {
    d = await deployment();
    await d.connectReady();
    const sent = [];
    for (const channel of CHANNELS) {
      const { sent: some } = await d.dispatch({ preset: 'guild_message', count: 20, overrides: { channel_id: channel } });
      sent.push(...some);
    }
    await d.receiver.waitForCount(sent.length);
    // No /status and no other call here: /status would flush the batch itself. The object only
    // has its flush timer (100 ms) to delete the delivered rows; give it ample time.
    await sleep(3_000);
    await d.restart({ kill: true });
    d.receiver.clear();
    const after = await d.status();
    assert.equal(after.delivery.pending, 0, 'no delivered event was left in the outbox');
    // Still none arrives once the restarted object has settled (it would start at once).
    await d.waitForState('connected');
    await sleep(500);
    assert.deepEqual(received(d.receiver).map(({ body }) => body.data.id), [], 'nothing was sent again');
  });

  test('issue 9 deletes in batches: a burst costs one row inserted and one deleted per event; /status is right at once', async () => {
    d = await deployment();
    await d.connectReady();
    const { storageRowsWritten: rowsBefore, storageWriteStatements: statementsBefore } = (await d.status()).delivery;
    const sent = [];
    for (const channel of CHANNELS) {
      const { sent: some } = await d.dispatch({ preset: 'guild_message', count: 100, overrides: { channel_id: channel } });
      sent.push(...some);
    }
    await d.receiver.waitForCount(sent.length, 30_000);
    const s = await waitFor(async () => {
      const st = await d.status();
      return st.delivery.delivered === sent.length && st.delivery.inFlight === 0 ? st : null;
    }, { message: `${sent.length} delivered` });
    assert.equal(s.delivery.pending, 0);
    assert.equal(s.delivery.oldestPendingAgeMs ?? null, null, 'no pending event is reported once all are delivered');
    // Rows: one inserted and one deleted per event, the snapshot now and then.
    const rows = (s.delivery.storageRowsWritten - rowsBefore) / sent.length;
    assert.ok(rows <= 2.1, `rows written per event: ${rows}`);
    // Statements: inserts and deletes both by the batch, never one delete per event (that
    // alone would make 1 per event).
    const statements = (s.delivery.storageWriteStatements - statementsBefore) / sent.length;
    assert.ok(statements < 1, `write statements per event: ${statements}`);
  });

  test('issue 9 inserts coalesced: a burst is stored by far fewer statements than events, each delivered once and in order', async () => {
    d = await deployment();
    await d.connectReady();
    const { storageWriteStatements: before } = (await d.status()).delivery;
    const sent = [];
    for (const channel of CHANNELS) {
      const { sent: some } = await d.dispatch({ preset: 'guild_message', count: 100, overrides: { channel_id: channel } });
      sent.push(...some);
    }
    await d.receiver.waitForCount(sent.length, 30_000);
    const s = await waitFor(async () => {
      const st = await d.status();
      return st.delivery.delivered === sent.length && st.delivery.inFlight === 0 ? st : null;
    }, { message: `${sent.length} delivered` });
    // One INSERT per event and a DELETE per batch would be more than 1 per event; the frames of
    // a dispatch arrive back to back, so their rows share statements (up to 12 a statement).
    const statements = (s.delivery.storageWriteStatements - before) / sent.length;
    assert.ok(statements < 0.5, `write statements per event: ${statements}`);
    const got = received(d.receiver, 'GATEWAY_MESSAGE_CREATE').map(({ body }) => body.data);
    assert.equal(got.length, sent.length, 'each event delivered once');
    for (const channel of CHANNELS) {
      assert.deepEqual(
        got.filter((m) => m.channel_id === channel).map((m) => m.id),
        sent.filter((e) => e.data.channel_id === channel).map((e) => e.data.id),
        `channel ${channel} in order`,
      );
    }
  });
});
