// The delivery guarantee: durable outbox, per-channel order, retries, dead letters.
// (Signed deliveries: e2e/security.test.mjs.)
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { sleep, startReceiver, waitFor } from './harness/index.mjs';
import { BOT_TOKEN, deployment, LONG_HEARTBEAT_MS } from './fixture.mjs';

const CHANNELS = ['1300000000000000701', '1300000000000000702', '1300000000000000703'];

/** Dispatches `count` guild messages at `perSecond`, round-robin over CHANNELS. */
async function stream(d, count, perSecond) {
  const sent = [];
  const start = Date.now();
  for (let i = 0; i < count; i += 1) {
    const channel_id = CHANNELS[i % CHANNELS.length];
    const { sent: [event] } = await d.dispatch({ preset: 'guild_message', overrides: { channel_id, content: `n${i}` } });
    sent.push(event);
    const due = start + ((i + 1) * 1000) / perSecond;
    if (due > Date.now()) await sleep(due - Date.now());
  }
  return sent;
}

const eventIdOf = (request) => request.headers['x-discord-gateway-event-id'];

/** The requests the receiver accepted (answered 200, the answer handed over), in arrival order. */
const acceptedRequests = (receiver) => receiver.requests.filter((r) => r.status === 200 && r.answeredAt !== undefined);

/** Checks every sent event was accepted exactly once (by event id) and in order per channel. */
function assertDeliveredOnceInOrder(receiver, sent) {
  const accepted = acceptedRequests(receiver);
  const counts = new Map();
  for (const r of accepted) counts.set(eventIdOf(r), (counts.get(eventIdOf(r)) ?? 0) + 1);
  for (const event of sent) {
    const count = counts.get(`${event.sessionId}:${event.seq}`) ?? 0;
    assert.equal(count, 1, `event ${event.seq} accepted ${count} times`);
  }
  for (const channel of CHANNELS) {
    const order = accepted.map((r) => r.json().data).filter((m) => m.channel_id === channel).map((m) => m.content);
    const expected = sent.filter((e) => e.data.channel_id === channel).map((e) => e.data.content);
    assert.deepEqual(order, expected, `order in channel ${channel}`);
  }
}

/** A receiver handler that marks which requests it accepted. */
function accepting(decide) {
  return (req, index) => {
    const reply = decide(req, index) ?? { status: 200 };
    req.status = reply.status ?? 200;
    return reply;
  };
}

describe('delivery', () => {
  let d;
  afterEach(() => d?.stop());

  test('a webhook down for 30 s while 10 events/s flow loses nothing, keeps order, no duplicates', async () => {
    d = await deployment();
    await d.connectReady();
    let down = true;
    d.receiver.setHandler(accepting(() => (down ? { status: 503 } : { status: 200 })));
    const sent = await stream(d, 300, 10);
    down = false;
    await waitFor(async () => {
      const s = await d.status();
      return s.delivery.pending === 0 && s.delivery.delivered >= 300 ? s : null;
    }, { timeoutMs: 90_000, intervalMs: 500, message: 'all 300 delivered' });
    assertDeliveredOnceInOrder(d.receiver, sent);
    const status = await d.status();
    assert.ok(status.delivery.failedAttempts > 0);
    assert.equal(status.delivery.deadLetters, 0);
    assert.equal((await d.sim.state()).identifies.length, 1, 'the gateway never noticed');
  });

  test('a webhook taking 5 s per request never delays heartbeats or other channels', async () => {
    d = await deployment();
    await d.connectReady();
    const slow = CHANNELS[0];
    d.receiver.setHandler(accepting((req) => (req.json().data.channel_id === slow ? { status: 200, delayMs: 5000 } : { status: 200 })));
    const sent = await stream(d, 30, 5);
    // Other channels keep flowing while the slow one is held: they finish long before it.
    const fast = sent.filter((e) => e.data.channel_id !== slow);
    await d.receiver.waitFor((rs) => fast.every((e) => rs.some((r) => r.json().data.id === e.data.id)), 10_000);
    const slowDelivered = d.receiver.requests.filter((r) => r.json().data.channel_id === slow).length;
    assert.ok(slowDelivered < 10, `the slow channel is still working through its queue (${slowDelivered}/10)`);
    await waitFor(async () => ((await d.status()).delivery.pending === 0 ? true : null), { timeoutMs: 70_000, intervalMs: 500 });
    assertDeliveredOnceInOrder(d.receiver, sent);
    const status = await d.status();
    assert.equal(status.counters.zombieConnections, 0, 'no missed heartbeat ACK');
    assert.equal(status.reconnectAttempts, 0);
    const sim = await d.sim.state();
    assert.equal(sim.connections.length, 1, 'no reconnect');
    assert.ok(sim.connections[0].heartbeats.length >= 10, 'heartbeats kept going');
  });

  test('SIGKILL mid-stream: after restart every event id is accepted exactly once', async () => {
    // Heartbeats (which also store the sequence number) are minutes apart, so only storing events
    // and removing delivered ones can tell the restarted object where the session got to.
    d = await deployment({ heartbeatIntervalMs: LONG_HEARTBEAT_MS });
    await d.connectReady();
    // The receiver holds n17, so the kill catches a request in flight: the object never sees its
    // answer and must send it again. n18 and n19, on other channels, are answered and must not be
    // sent again, although the oldest event the object still has stored is n17.
    const content = (req) => req.json().data.content;
    const held = (req) => content(req) === 'n17';
    d.receiver.setHandler(accepting((req) => (held(req) ? { status: 200, delayMs: 60_000 } : { status: 200, delayMs: 30 })));
    const first = await stream(d, 20, 20);
    const answered = (rs, event) => rs.some((r) => content(r) === event.data.content && r.answeredAt);
    await d.receiver.waitFor((rs) => rs.some(held) && first.every((e) => e.data.content === 'n17' || answered(rs, e)));
    // Their answers reach the object, which removes them from the outbox: only n17 is left.
    await waitFor(async () => {
      const s = await d.status();
      return s.delivery.delivered === first.length - 1 && s.delivery.pending === 1 ? s : null;
    }, { timeoutMs: 10_000, message: 'every answered event removed from the outbox' });
    await d.worker.kill();
    d.receiver.setHandler(accepting(() => ({ status: 200, delayMs: 30 })));
    const during = await stream(d, 10, 20);
    await d.restart();
    const after = await stream(d, 10, 20);
    const sent = [...first, ...during, ...after];
    await waitFor(() => {
      const ids = new Set(acceptedRequests(d.receiver).map(eventIdOf));
      return sent.every((e) => ids.has(`${e.sessionId}:${e.seq}`)) ? true : null;
    }, { timeoutMs: 30_000, message: 'every event delivered after the restart' });
    // Late duplicates: none can come once the outbox is empty and nothing is in flight.
    await waitFor(async () => {
      const s = await d.status();
      return s.delivery.pending === 0 && s.delivery.inFlight === 0 ? s : null;
    }, { timeoutMs: 30_000, message: 'outbox empty' });
    const heldRequests = d.receiver.requests.filter(held);
    assert.equal(heldRequests.length, 2, 'the request cut off by the kill is sent again, once');
    assert.equal(heldRequests[0].answeredAt, undefined, 'the first one was never answered');
    assertDeliveredOnceInOrder(d.receiver, sent);
    assert.equal((await d.sim.state()).identifies.length, 1, 'resumed, not re-identified');
  });

  test('a 400 dead-letters one event, visible and replayable; others flow', async () => {
    d = await deployment();
    await d.connectReady();
    let reject = true;
    d.receiver.setHandler(accepting((req) => (reject && req.json().data.content === 'poison' ? { status: 400 } : { status: 200 })));
    const { sent: [poison] } = await d.dispatch({ preset: 'guild_message', overrides: { content: 'poison' } });
    const { sent: [after] } = await d.dispatch({ preset: 'guild_message', overrides: { content: 'after' } });
    await d.receiver.waitFor((rs) => rs.some((r) => r.json().data.id === after.data.id));
    const status = await waitFor(async () => {
      const s = await d.status();
      return s.delivery.deadLetters === 1 ? s : null;
    });
    assert.match(status.delivery.lastError, /400/);
    const list = (await d.call('GET', '/dead-letters')).json.deadLetters;
    assert.equal(list.length, 1);
    assert.equal(list[0].eventId, `${poison.sessionId}:${poison.seq}`);
    assert.equal(list[0].eventType, 'MESSAGE_CREATE');
    assert.equal(list[0].attempts, 1);
    reject = false;
    const replay = await d.call('POST', '/dead-letters/replay', { ids: [list[0].id] });
    assert.deepEqual(replay.json, { affected: 1 });
    await d.receiver.waitFor((rs) => rs.filter((r) => r.json().data.id === poison.data.id).length === 2);
    await waitFor(async () => ((await d.status()).delivery.deadLetters === 0 ? true : null));
    // Drop works too.
    reject = true;
    await d.dispatch({ preset: 'guild_message', overrides: { content: 'poison' } });
    await waitFor(async () => ((await d.status()).delivery.deadLetters === 1 ? true : null));
    assert.deepEqual((await d.call('POST', '/dead-letters/drop', { all: true })).json, { affected: 1 });
    assert.equal((await d.call('GET', '/dead-letters')).json.deadLetters.length, 0);
    assert.equal((await d.call('POST', '/dead-letters/replay', { ids: 'all' })).status, 400);
  });

  test('issue 9, cheaper /status: deadLetters is right at once after each write that changes it (dead-lettered, replayed, dropped)', async () => {
    // The object reads its delivery counts from SQLite only after a write (src/durable_object/store.rs,
    // Store::counts); each answer below follows a write, and a status read before it is cached.
    d = await deployment();
    await d.connectReady();
    let reject = true;
    d.receiver.setHandler(accepting((req) => (reject && req.json().data.content === 'poison' ? { status: 400 } : { status: 200 })));
    assert.equal((await d.status()).delivery.deadLetters, 0);
    assert.equal((await d.status()).delivery.deadLetters, 0, 'read twice with no write between');
    const { sent: [poison] } = await d.dispatch({ preset: 'guild_message', overrides: { content: 'poison' } });
    await waitFor(async () => ((await d.status()).delivery.deadLetters === 1 ? true : null), { message: 'dead-lettered' });
    const [dead] = (await d.call('GET', '/dead-letters')).json.deadLetters;
    reject = false;
    assert.deepEqual((await d.call('POST', '/dead-letters/replay', { ids: [dead.id] })).json, { affected: 1 });
    assert.equal((await d.status()).delivery.deadLetters, 0, 'replayed: no dead letter at once');
    await d.receiver.waitFor((rs) => rs.filter((r) => r.json().data.id === poison.data.id).length === 2);
    reject = true;
    await d.dispatch({ preset: 'guild_message', overrides: { content: 'poison' } });
    await waitFor(async () => ((await d.status()).delivery.deadLetters === 1 ? true : null), { message: 'dead-lettered again' });
    assert.deepEqual((await d.call('POST', '/dead-letters/drop', { all: true })).json, { affected: 1 });
    const status = await d.status();
    assert.equal(status.delivery.deadLetters, 0, 'dropped: no dead letter at once');
    assert.equal(status.delivery.oldestPendingAgeMs ?? null, null, 'nothing pending');
  });

  test('garbage answers, dropped connections and redirects cost a retry, never the gateway', async () => {
    d = await deployment();
    await d.connectReady();
    // The redirect points at a live path of the same receiver: following it would deliver there.
    const replies = [{ destroy: true }, { status: 302, headers: { location: `${d.receiver.url}/redirected` } }, { status: 200, body: 'not json at all' }];
    d.receiver.setHandler(accepting((req, index) => (req.path === '/redirected' ? { status: 200 } : replies[index] ?? { status: 200 })));
    const { sent: [event] } = await d.dispatch({ preset: 'guild_message' });
    const status = await waitFor(async () => {
      const s = await d.status();
      return s.delivery.pending === 0 && s.delivery.delivered === 1 ? s : null;
    }, { timeoutMs: 15_000, message: 'delivered after two failed attempts' });
    assert.equal(status.delivery.failedAttempts, 2);
    assert.deepEqual(d.receiver.requests.map((r) => r.path), ['/webhook', '/webhook', '/webhook'], 'the redirect was never followed');
    assert.equal(d.receiver.requests.at(-1).json().data.id, event.data.id);
    assert.equal(status.state, 'connected');
  });

  test('issue 9, delivery path: a webhook that never answers is cut off after delivery.timeoutMs and the event retried', async () => {
    d = await deployment();
    await d.connectReady({ delivery: { timeoutMs: 1000 } });
    // The first request hangs far past the timeout (the receiver would answer 200 after 30 s).
    d.receiver.setHandler(accepting((req, index) => (index === 0 ? { status: 200, delayMs: 30_000 } : { status: 200 })));
    const { sent: [event] } = await d.dispatch({ preset: 'guild_message' });
    const status = await waitFor(async () => {
      const s = await d.status();
      return s.delivery.pending === 0 && s.delivery.delivered === 1 ? s : null;
    }, { timeoutMs: 20_000, message: 'delivered by a second attempt once the first timed out' });
    assert.equal(status.delivery.failedAttempts, 1, 'the hung attempt counted as failed');
    assert.equal(d.receiver.requests.length, 2);
    assert.equal(d.receiver.requests.at(-1).json().data.id, event.data.id);
  });
});

describe('disconnect with events pending', () => {
  let d;
  afterEach(() => d?.stop());

  test('pending events wait (no alarm loop) and are delivered after the next connect', async () => {
    d = await deployment();
    await d.connectReady();
    d.receiver.setHandler(() => ({ status: 503 }));
    const { sent: [event] } = await d.dispatch({ preset: 'guild_message' });
    await d.receiver.waitFor((rs) => rs.length >= 1);
    await d.call('POST', '/disconnect');
    const quiet = d.receiver.requests.length;
    const wakeups = (await d.status()).alarmWakeups;
    await sleep(3000);
    assert.equal(d.receiver.requests.length, quiet, 'nothing is sent while disconnected');
    const status = await d.status();
    assert.equal(status.state, 'disconnected');
    assert.equal(status.delivery.pending, 1, 'the event is kept');
    assert.ok(status.alarmWakeups - wakeups <= 1, `the alarm stays quiet (${status.alarmWakeups - wakeups} wake-ups)`);
    // The next /connect names another webhook: the pending event goes there, answered 200 once.
    const next = await startReceiver();
    try {
      const delivered = status.delivery.delivered;
      await d.connectReady({ botToken: BOT_TOKEN, webhookUrl: `${next.url}/webhook` });
      const arrived = await next.waitFor((rs) => rs.find((r) => r.headers['x-discord-gateway-event-id'] === `${event.sessionId}:${event.seq}`), 15_000);
      assert.equal(arrived.json().data.id, event.data.id);
      const after = await waitFor(async () => {
        const s = await d.status();
        return s.delivery.pending === 0 && s.delivery.inFlight === 0 ? s : null;
      }, { timeoutMs: 15_000, message: 'outbox empty' });
      assert.equal(after.delivery.delivered, delivered + 1, 'delivered rose by one');
      assert.equal(after.delivery.deadLetters, 0, 'no dead letter');
      assert.equal(next.requests.length, 1, 'answered 200 once');
      assert.equal(d.receiver.requests.length, quiet, 'nothing more went to the old webhook');
    } finally {
      await next.stop();
    }
  });
});
