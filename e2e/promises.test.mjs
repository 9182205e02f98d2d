// README promises that had no test (issue 14): one end-to-end test each, in workerd, against the
// simulator and real HTTP receivers. Each test is named after the promise it proves. (Item 10,
// the Chat SDK handlers, lives with the other Chat SDK cases in e2e/chat-sdk.test.mjs.)
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { ROOT, waitFor } from './harness/index.mjs';
import { BOT_TOKEN, deployment } from './fixture.mjs';

const eventIdOf = (request) => request.headers['x-discord-gateway-event-id'];
const idOf = (event) => `${event.sessionId}:${event.seq}`;

/** Polls /status until `predicate(status)` holds; resolves with that status. */
function statusWhen(d, predicate, what, timeoutMs = 15_000) {
  return waitFor(async () => {
    const s = await d.status();
    return predicate(s) ? s : null;
  }, { timeoutMs, intervalMs: 200, message: () => what });
}

/** A promise the test resolves itself: `gate.open()` lets held requests go. */
function gate() {
  let open;
  const opened = new Promise((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

/**
 * The most requests the receiver held at once: the intervals [receivedAt, answeredAt), where an
 * answer at the same millisecond as an arrival counts as earlier (the gateway can only send the
 * next request of a slot after it got the previous answer).
 */
function maxConcurrent(requests) {
  const edges = requests.flatMap((r) => [
    [r.receivedAt, 1],
    [r.answeredAt ?? r.closedAt ?? Infinity, -1],
  ]);
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let max = 0;
  for (const [, step] of edges) {
    now += step;
    max = Math.max(max, now);
  }
  return max;
}

/** `MAX_BODY_BYTES` as `src/api.rs` defines it today (an expression like `16 * 1024`). */
function maxBodyBytes() {
  const source = fs.readFileSync(path.join(ROOT, 'src', 'api.rs'), 'utf8');
  const m = source.match(/pub const MAX_BODY_BYTES: usize = ([0-9_ *]+);/);
  assert.ok(m, 'src/api.rs defines MAX_BODY_BYTES as a product of integers');
  return m[1].split('*').reduce((product, n) => product * Number(n.trim().replaceAll('_', '')), 1);
}

/** `json` (an object) padded with spaces before its closing brace to exactly `size` bytes. */
function paddedJson(json, size) {
  const text = JSON.stringify(json);
  return `${text.slice(0, -1)}${' '.repeat(size - text.length)}}`;
}

describe('README promises (issue 14)', () => {
  let d;
  let release;
  afterEach(async () => {
    release?.();
    release = undefined;
    await d?.stop();
    d = undefined;
  });

  test('issue 14 item 1: delivery.concurrency: never more than 2 requests in flight over 6 channels', async () => {
    d = await deployment();
    await d.connectReady({ delivery: { concurrency: 2 } });
    // Requests are held until all 12 events were dispatched (every channel then has one due),
    // and a while after that, so each channel's event waits for a free slot.
    const dispatched = gate();
    release = dispatched.open;
    d.receiver.setHandler(async () => {
      await dispatched.opened;
      return { status: 200, delayMs: 200 };
    });
    const channels = Array.from({ length: 6 }, (_, i) => `130000000000000080${i}`);
    const sent = [];
    for (const channel_id of [...channels, ...channels]) {
      sent.push(...(await d.dispatch({ preset: 'guild_message', overrides: { channel_id } })).sent);
    }
    await statusWhen(d, (s) => s.delivery.pending === sent.length, 'all 12 stored');
    dispatched.open();
    await statusWhen(d, (s) => s.delivery.delivered === sent.length && s.delivery.pending === 0, 'all 12 delivered', 30_000);
    const requests = d.receiver.requests;
    assert.deepEqual(requests.map(eventIdOf).sort(), sent.map(idOf).sort(), 'each event once');
    assert.equal(maxConcurrent(requests), 2, 'at most 2 at once, and the 2 were used');
  });

  test('issue 14 item 2: delivery.timeoutMs: a receiver that never answers is cut off and retried', async () => {
    d = await deployment();
    await d.connectReady({ delivery: { timeoutMs: 2_000 } });
    const held = gate();
    release = held.open;
    // The first attempt is never answered (until the test ends); later ones are accepted.
    d.receiver.setHandler((req, index) => (index === 0 ? held.opened.then(() => ({ destroy: true })) : { status: 200 }));
    const { sent: [event] } = await d.dispatch({ preset: 'guild_message' });
    const [first, second] = await d.receiver.waitFor((rs) => rs.length >= 2 && rs[0].closedAt !== undefined && rs, 20_000);
    assert.equal(eventIdOf(first), idOf(event));
    assert.equal(eventIdOf(second), idOf(event), 'the same event, attempted again');
    assert.equal(first.answeredAt, undefined, 'the first attempt was never answered');
    // A lower bound only: the gateway gives the receiver the whole timeoutMs.
    assert.ok(first.closedAt - first.receivedAt >= 1_900, `cut off after ${first.closedAt - first.receivedAt} ms, not before timeoutMs`);
    assert.ok(second.receivedAt >= first.closedAt, 'the retry came after the cut-off');
    const status = await statusWhen(d, (s) => s.delivery.delivered === 1 && s.delivery.pending === 0, 'delivered on the retry');
    assert.equal(status.delivery.failedAttempts, 1);
    assert.match(status.delivery.lastError, /timed out/);
  });

  test('issue 14 item 3: a 429 with Retry-After: 3 is retried no sooner than 3 s later', async () => {
    d = await deployment();
    await d.connectReady();
    d.receiver.setHandler((req, index) => (index === 0 ? { status: 429, headers: { 'retry-after': '3' } } : { status: 200 }));
    const { sent: [event] } = await d.dispatch({ preset: 'guild_message' });
    const [first, second] = await d.receiver.waitFor((rs) => rs.length >= 2 && rs, 15_000);
    assert.deepEqual([eventIdOf(first), eventIdOf(second)], [idOf(event), idOf(event)]);
    // A correctness bound (the receiver asked for 3 s), not a speed measurement. The gateway
    // learns of the 429 only once it was answered; 100 ms of slack for clock granularity.
    const gap = second.receivedAt - first.answeredAt;
    assert.ok(gap >= 2_900, `the retry came ${gap} ms after the 429, before Retry-After's 3 s`);
    const status = await statusWhen(d, (s) => s.delivery.delivered === 1 && s.delivery.pending === 0, 'delivered after the 429');
    assert.equal(status.delivery.failedAttempts, 1);
    assert.equal(status.delivery.deadLetters, 0);
  });

  test('issue 14 item 3: a 408 is retried, not dead-lettered', async () => {
    d = await deployment();
    await d.connectReady();
    d.receiver.setHandler((req, index) => (index === 0 ? { status: 408 } : { status: 200 }));
    const { sent: [event] } = await d.dispatch({ preset: 'guild_message' });
    const [first, second] = await d.receiver.waitFor((rs) => rs.length >= 2 && rs, 15_000);
    assert.deepEqual([eventIdOf(first), eventIdOf(second)], [idOf(event), idOf(event)]);
    const status = await statusWhen(d, (s) => s.delivery.delivered === 1 && s.delivery.pending === 0, 'delivered after the 408');
    assert.equal(status.delivery.failedAttempts, 1);
    assert.equal(status.delivery.deadLetters, 0);
    assert.equal(d.receiver.requests.length, 2);
  });

  test('issue 14 item 4: delivery.maxAgeMs: an event that keeps failing is retried until 60 s old, then dead-lettered', async () => {
    // 60 s is the smallest maxAgeMs allowed, so this test takes up to a minute (about 30-60 s:
    // the backoff doubles from 1 s, and an event is given up when its next try would pass 60 s).
    d = await deployment();
    await d.connectReady({ delivery: { maxAgeMs: 60_000 } });
    d.receiver.setHandler(() => ({ status: 503 }));
    const { sent: [event] } = await d.dispatch({ preset: 'guild_message' });
    const status = await statusWhen(d, (s) => s.delivery.deadLetters === 1, 'a dead letter within about a minute', 90_000);
    assert.equal(status.delivery.pending, 0);
    const [letter] = (await d.call('GET', '/dead-letters')).json.deadLetters;
    assert.equal(letter.eventId, idOf(event));
    const attempts = d.receiver.requests.filter((r) => eventIdOf(r) === idOf(event));
    assert.equal(letter.attempts, attempts.length, 'every attempt reached the receiver');
    // 1 s doubling: the first five attempts all fall within 16 s, long before 60 s.
    assert.ok(attempts.length >= 6, `retried ${attempts.length} times before giving up`);
    const span = attempts.at(-1).receivedAt - attempts[0].receivedAt;
    assert.ok(span >= 15_000, `retried for ${span} ms before giving up`);
    assert.match(letter.lastError, /503.*gave up after/);
  });

  test('issue 14 item 5: the newest 1,000 dead letters are kept, the older ones counted as discarded', async () => {
    d = await deployment();
    await d.connectReady();
    d.receiver.setHandler(() => ({ status: 400 }));
    // One channel: dead-lettered one after the other, in event order.
    const { sent } = await d.dispatch({ preset: 'guild_message', count: 1_010 });
    assert.equal(sent.length, 1_010);
    const status = await statusWhen(
      d,
      (s) => s.delivery.pending === 0 && s.delivery.deadLetters + s.delivery.deadLettersDiscarded === 1_010,
      '1,010 events dead-lettered',
      120_000,
    );
    assert.equal(status.delivery.deadLetters, 1_000);
    assert.equal(status.delivery.deadLettersDiscarded, 10);
    const list = (await d.call('GET', '/dead-letters')).json.deadLetters;
    assert.equal(list.length, 1_000);
    assert.deepEqual(list.map((l) => l.eventId), sent.slice(10).map(idOf), 'the newest 1,000, oldest first');
    assert.equal(d.receiver.requests.length, 1_010, 'each was tried once (a 400 is final)');
  });

  test('issue 14 item 6: a full outbox (maxPending 100) refuses new events; the first 100 arrive in order', async () => {
    d = await deployment();
    await d.connectReady({ delivery: { maxPending: 100 } });
    // Down: every request gets a 503 asking for 10 s of quiet, so no retry comes between the
    // overflow and the status read below (a retry would write its own lastError).
    let down = true;
    d.receiver.setHandler((req) => {
      req.accepted = !down;
      return down ? { status: 503, headers: { 'retry-after': '10' } } : { status: 200 };
    });
    const { sent: [first] } = await d.dispatch({ preset: 'guild_message' });
    await statusWhen(d, (s) => s.delivery.failedAttempts === 1, 'the first attempt failed');
    const { sent: more } = await d.dispatch({ preset: 'guild_message', count: 129 });
    const sent = [first, ...more];
    const full = await statusWhen(d, (s) => s.delivery.overflowed === 30, '30 events refused');
    assert.equal(full.delivery.pending, 100);
    assert.match(full.delivery.lastError, /outbox full \(100 pending\)/);
    down = false;
    await statusWhen(d, (s) => s.delivery.delivered === 100 && s.delivery.pending === 0, 'the 100 stored events delivered', 30_000);
    const accepted = d.receiver.requests.filter((r) => r.accepted && r.answeredAt !== undefined);
    assert.deepEqual(accepted.map(eventIdOf), sent.slice(0, 100).map(idOf), 'exactly the first 100, in order');
    const refused = new Set(sent.slice(100).map(idOf));
    assert.ok(!d.receiver.requests.some((r) => refused.has(eventIdOf(r))), 'no refused event was ever sent');
    assert.equal((await d.status()).delivery.overflowed, 30);
  });

  test('issue 14 item 7: the dead-letter routes answer 401 without the admin token, and change nothing', async () => {
    d = await deployment();
    await d.connectReady();
    d.receiver.setHandler(() => ({ status: 400 }));
    const { sent: [event] } = await d.dispatch({ preset: 'guild_message' });
    await statusWhen(d, (s) => s.delivery.deadLetters === 1, 'one dead letter');
    const routes = [
      ['GET', '/dead-letters', undefined],
      ['POST', '/dead-letters/replay', { all: true }],
      ['POST', '/dead-letters/drop', { all: true }],
    ];
    for (const token of [null, 'wrong-admin-token-0123456789']) {
      for (const [method, route, body] of routes) {
        const res = await d.call(method, route, body, { token, raw: true });
        const who = `${method} ${route} with ${token === null ? 'no token' : 'a wrong token'}`;
        assert.equal(res.status, 401, who);
        assert.match(res.json.error, /admin token/, who);
        assert.equal(res.json.deadLetters, undefined, `${who}: lists nothing`);
        // Replay and drop act at once inside the object: a replayed letter would be pending
        // now, a dropped one gone.
        const s = await d.status();
        assert.equal(s.delivery.deadLetters, 1, `${who}: the dead letter is still there`);
        assert.equal(s.delivery.pending, 0, `${who}: nothing was replayed`);
      }
    }
    const list = (await d.call('GET', '/dead-letters')).json.deadLetters;
    assert.deepEqual(list.map((l) => [l.eventId, l.attempts]), [[idOf(event), 1]]);
    assert.equal(d.receiver.requests.length, 1, 'never sent again');
  });

  test('issue 14 item 8: a body over the limit is 413 on /connect and the dead-letter routes', async () => {
    d = await deployment();
    const limit = maxBodyBytes();
    // Bodies each route would take if they were not too large: only the size is wrong.
    const routes = [
      ['/connect', {}, 202],
      ['/dead-letters/replay', { ids: [1] }, 200],
      ['/dead-letters/drop', { ids: [1] }, 200],
    ];
    for (const [route, json] of routes) {
      const res = await d.call('POST', route, paddedJson(json, limit + 1));
      assert.equal(res.status, 413, `${route} with ${limit + 1} bytes: ${JSON.stringify(res.json)}`);
      assert.equal(typeof res.json?.error, 'string', `${route}: the error says why`);
    }
    for (const [route, json, status] of routes) {
      const res = await d.call('POST', route, paddedJson(json, limit));
      assert.equal(res.status, status, `${route} with exactly ${limit} bytes: ${JSON.stringify(res.json)}`);
    }
  });

  test('issue 14 item 9: compress zstd-stream in workerd: the connection uses zstd, events arrive byte for byte', async () => {
    d = await deployment();
    await d.connectReady({ compress: 'zstd-stream' });
    const sim = await d.sim.state();
    assert.deepEqual(sim.connections.map((c) => c.compress), ['zstd-stream']);
    // Several events, one large, so that later messages lean on the stream's shared history.
    const contents = ['zstd ✓ ünïcödé 🎉', 'x'.repeat(20_000), 'zstd again ✓ ünïcödé 🎉'];
    const sent = [];
    for (const content of contents) {
      sent.push(...(await d.dispatch({ preset: 'guild_message', overrides: { content } })).sent);
    }
    for (const event of sent) {
      const request = await d.receiver.waitFor((rs) => rs.find((r) => eventIdOf(r) === idOf(event)));
      const body = request.text();
      const timestamp = JSON.parse(body).timestamp;
      assert.equal(body, `{"type":"GATEWAY_MESSAGE_CREATE","timestamp":${timestamp},"data":${event.raw}}`);
    }
    assert.equal((await d.sim.state()).connections.length, 1, 'no reconnect');
  });

  test('issue 14 item 11: /connect again: a new token or shard starts a new session, delivery changes keep it', async () => {
    d = await deployment();
    const ready = await d.connectReady();
    const sessionId = ready.sessionId;
    assert.ok(sessionId, 'the status names the session');
    const simState = () => d.sim.state();

    // Only delivery settings change: same session, no new connection.
    assert.equal((await d.call('POST', '/connect', { delivery: { concurrency: 2 } })).status, 202);
    const same = await d.status();
    assert.equal(same.state, 'connected', 'the session was not dropped');
    assert.equal(same.sessionId, sessionId);
    // An event dispatched now is delivered under the same session (and shows the object got on).
    const { sent: [event] } = await d.dispatch({ preset: 'guild_message' });
    assert.equal(event.sessionId, sessionId);
    await d.receiver.waitFor((rs) => rs.find((r) => eventIdOf(r) === idOf(event)));
    let sim = await simState();
    assert.equal(sim.identifies.length, 1, 'no new Identify');
    assert.equal(sim.connections.length, 1, 'no new connection');
    assert.equal(sim.connections[0].open, true);

    // A new token: a new session (a body token may go to WEBHOOK_URL, the default webhook).
    const otherToken = 'OTg3NjU0MzIxMDk4NzY1NDMy.e2e001.another-simulated-token';
    assert.equal((await d.call('POST', '/connect', { botToken: otherToken })).status, 202);
    sim = await waitFor(async () => {
      const s = await simState();
      return s.identifies.length === 2 && s.identifies[1].outcome === 'ready' ? s : null;
    }, { message: 'a second Identify' });
    assert.equal(sim.identifies[1].token, `****${otherToken.slice(-4)}`);
    const second = await d.waitForState('connected');
    assert.equal(second.sessionId, sim.identifies[1].sessionId);
    assert.notEqual(second.sessionId, sessionId);

    // A new shard (same token): a new session again.
    assert.equal((await d.call('POST', '/connect', { botToken: otherToken, shard: [1, 2] })).status, 202);
    sim = await waitFor(async () => {
      const s = await simState();
      return s.identifies.length === 3 && s.identifies[2].outcome === 'ready' ? s : null;
    }, { message: 'a third Identify' });
    assert.deepEqual(sim.identifies[2].shard, [1, 2]);
    assert.equal(sim.identifies[2].token, `****${otherToken.slice(-4)}`);
    const third = await waitFor(async () => {
      const s = await d.status();
      return s.state === 'connected' && s.sessionId === sim.identifies[2].sessionId ? s : null;
    }, { message: 'connected on the sharded session' });
    assert.notEqual(third.sessionId, second.sessionId);
    assert.equal(sim.resumes.length, 0, 'never resumed across the changes');
    assert.ok(!JSON.stringify(third).includes(otherToken), 'the status shows no token');
    assert.ok(BOT_TOKEN !== otherToken);
  });
});
