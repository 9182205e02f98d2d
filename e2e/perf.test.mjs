// Issue 9 (the per-event hot path): what the object does per event, counted, never timed.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { waitFor } from './harness/index.mjs';
import { deployment, received } from './fixture.mjs';

const CHANNEL = '1300000000000000901';

describe('issue 9: the per-event hot path', () => {
  let d;
  afterEach(() => d?.stop());

  test('issue 9: events are delivered from memory, not read back from storage; after a restart they are', async () => {
    d = await deployment();
    await d.connectReady();
    const { sent } = await d.dispatch({ preset: 'guild_message', count: 30, overrides: { channel_id: CHANNEL } });
    await d.receiver.waitForCount(30);
    const live = await waitFor(async () => {
      const s = await d.status();
      return s.delivery.delivered === 30 && s.delivery.pending === 0 ? s : null;
    }, { message: '30 delivered' });
    assert.equal(live.delivery.eventsReadBack, 0, 'every event was delivered from its in-memory copy');
    assert.deepEqual(received(d.receiver).map(({ body }) => body.data.id), sent.map((e) => e.data.id));

    // Events that wait through a restart exist only in storage: they are read back, once each.
    d.receiver.setHandler(() => ({ status: 503 }));
    const { sent: waiting } = await d.dispatch({ preset: 'guild_message', count: 3, overrides: { channel_id: CHANNEL } });
    await waitFor(async () => ((await d.status()).delivery.failedAttempts > 0 ? true : null), { message: 'a failed attempt' });
    await d.restart({ kill: true });
    d.receiver.clear();
    d.receiver.setHandler(null);
    const after = await waitFor(async () => {
      const s = await d.status();
      return s.delivery.pending === 0 && s.delivery.delivered === 3 ? s : null;
    }, { timeoutMs: 30_000, message: 'the 3 waiting events delivered after the restart' });
    assert.equal(after.delivery.eventsReadBack, 3);
    const ids = received(d.receiver).map(({ body }) => body.data.id);
    assert.deepEqual(ids.filter((id, i) => ids.indexOf(id) === i), waiting.map((e) => e.data.id));
  });

  test('issue 9: text frames are encoded into Wasm memory in one call, byte for byte whatever the characters', async () => {
    d = await deployment();
    await d.connectReady();
    // Two-, three- and four-byte characters (the last are surrogate pairs in a JS string), and a
    // frame long enough that the encoder's bound (3 bytes per UTF-16 unit) matters.
    const contents = ['ünïcödé ✓ 🎉 😀 日本語', '🎉'.repeat(3_000), 'ascii only'];
    const sent = [];
    for (const content of contents) {
      sent.push(...(await d.dispatch({ preset: 'guild_message', overrides: { channel_id: CHANNEL, content } })).sent);
    }
    await d.receiver.waitForCount(sent.length);
    const bodies = d.receiver.requests.map((r) => r.text());
    assert.equal(bodies.length, sent.length, 'each event once');
    sent.forEach((event, i) => {
      const timestamp = JSON.parse(bodies[i]).timestamp;
      assert.equal(bodies[i], `{"type":"GATEWAY_MESSAGE_CREATE","timestamp":${timestamp},"data":${event.raw}}`);
      assert.equal(JSON.parse(bodies[i]).data.content, contents[i]);
    });
  });
});
