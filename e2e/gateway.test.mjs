// The worker in real workerd, the simulator speaking the real protocol, a real receiver.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sleep, waitFor } from './harness/index.mjs';
import { BOT_TOKEN, deployment, received } from './fixture.mjs';

describe('connect, forward, status, disconnect', () => {
  let d;
  before(async () => {
    d = await deployment();
  });
  after(() => d?.stop());

  test('a fresh object is disconnected and shows no secret', async () => {
    const status = await d.status();
    assert.equal(status.state, 'disconnected');
    assert.equal(status.insecureWebhooksAllowed, true);
    assert.ok(!JSON.stringify(status).includes(BOT_TOKEN));
  });

  test('connect identifies and reaches READY', async () => {
    const res = await d.call('POST', '/connect', {});
    assert.equal(res.status, 202);
    assert.deepEqual(res.json, { status: 'connecting' });
    const status = await d.waitForState('connected');
    assert.match(status.sessionId, /^[0-9a-f]{32}$/);
    assert.ok(status.connectedAt > 0);
    assert.equal(status.heartbeat.intervalMs, 1000);
    const sim = await d.sim.state();
    assert.equal(sim.identifies.length, 1);
    assert.equal(sim.identifies[0].intents, 1 | (1 << 9) | (1 << 10) | (1 << 12) | (1 << 13) | (1 << 15));
    assert.ok(!JSON.stringify(status).includes(BOT_TOKEN));
  });

  test('events are forwarded with the exact Chat SDK headers and body bytes', async () => {
    const before = Date.now();
    const { sent } = await d.dispatch({ preset: 'guild_message' });
    const [event] = sent;
    const request = await d.receiver.waitFor((rs) => rs.find((r) => r.json().data.id === event.data.id));
    assert.equal(request.method, 'POST');
    assert.equal(request.path, '/webhook');
    assert.equal(request.headers['content-type'], 'application/json');
    assert.equal(request.headers['x-discord-gateway-token'], BOT_TOKEN);
    assert.equal(request.headers['x-discord-gateway-event-id'], `${event.sessionId}:${event.seq}`);
    const body = request.text();
    const timestamp = JSON.parse(body).timestamp;
    assert.ok(timestamp >= before - 1000 && timestamp <= Date.now());
    assert.equal(body, `{"type":"GATEWAY_MESSAGE_CREATE","timestamp":${timestamp},"data":${event.raw}}`);
  });

  test('reactions are forwarded; types outside the filter are not', async () => {
    d.receiver.clear();
    await d.dispatch({ preset: 'typing_start' });
    const { sent } = await d.dispatch({ preset: 'reaction_add' });
    await d.dispatch({ preset: 'reaction_remove' });
    await d.receiver.waitForCount(2);
    const types = received(d.receiver).map(({ body }) => body.type);
    assert.deepEqual(types, ['GATEWAY_MESSAGE_REACTION_ADD', 'GATEWAY_MESSAGE_REACTION_REMOVE']);
    // Discord's d is kept byte for byte; enrichment appends only what was missing.
    const reaction = received(d.receiver)[0];
    assert.ok(reaction.request.text().includes(`"data":${sent[0].raw.slice(0, -1)},"user":`));
    assert.equal(reaction.body.data.channel_type, 0);
    assert.ok(!('user' in JSON.parse(sent[0].raw)), 'the raw reaction had no user');
    assert.deepEqual(reaction.body.data.user, sent[0].data.member.user, 'user taken from member.user');
  });

  test('heartbeats carry the last sequence number and are acknowledged', async () => {
    const status = await waitFor(async () => {
      const s = await d.status();
      return s.heartbeat.roundTripMs !== null && s.counters.heartbeatAcks >= 2 ? s : null;
    });
    const sim = await d.sim.state();
    const beats = sim.connections.at(-1).heartbeats;
    assert.ok(beats.length >= 2);
    assert.ok(beats.at(-1) >= 2, `heartbeat d=${beats.at(-1)}`);
    assert.equal(status.counters.zombieConnections, 0);
  });

  test('disconnect closes with 1000 and clears the session', async () => {
    const res = await d.call('POST', '/disconnect');
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { status: 'disconnected' });
    const status = await d.status();
    assert.equal(status.state, 'disconnected');
    assert.equal(status.sessionId, null);
    const sim = await waitFor(async () => {
      const s = await d.sim.state();
      return s.connections.every((c) => !c.open) ? s : null;
    });
    assert.equal(sim.connections.at(-1).closeCodeFromClient, 1000);
  });
});

// Issue 9, `/connect` → READY: a connect that starts a new session sends its GET /gateway/bot
// before it stores the settings (the output gate would hold it until the write is confirmed).
// That head start must cost nothing: one GET /gateway/bot per new session, none when the
// session goes on, and none twice.
describe('issue 9 connect: GET /gateway/bot started before the settings write', () => {
  let d;
  before(async () => {
    d = await deployment();
  });
  after(() => d?.stop());

  const sessionAfter = async (body, previous) => {
    assert.equal((await d.call('POST', '/connect', body)).status, 202);
    return waitFor(async () => {
      const s = await d.status();
      return s.state === 'connected' && s.sessionId !== previous ? s : null;
    }, { message: 'a new READY session' });
  };

  test('issue 9 connect: one GET /gateway/bot per new session, none when the session goes on', async () => {
    const first = await sessionAfter({}, null);
    assert.equal((await d.sim.state()).gatewayBotRequests, 1, 'the first connect asks once');

    // The same credentials: the session goes on, nothing is asked.
    assert.equal((await d.call('POST', '/connect', {})).status, 202);
    assert.equal((await d.status()).sessionId, first.sessionId);

    // Other intents: a new session, asked once more (a request wasted by the connect before
    // would have reached the simulator by the time this one's session is READY).
    const second = await sessionAfter({ intents: 1 | (1 << 9) }, first.sessionId);
    assert.equal((await d.sim.state()).gatewayBotRequests, 2, 'a new session asks once');
    assert.equal((await d.sim.state()).identifies.length, 2);

    // After a disconnect, the next connect is a new session again.
    assert.equal((await d.call('POST', '/disconnect')).status, 200);
    await sessionAfter({ intents: 1 | (1 << 9) }, second.sessionId);
    const sim = await d.sim.state();
    assert.equal(sim.gatewayBotRequests, 3, 'one per new session');
    assert.equal(sim.identifies.length, 3);
  });
});

// Issue 9, fifth pass: a connect that starts a new session, when an earlier GET /gateway/bot
// answer's URL and identify budget are known (and an Identify may go now), opens the socket to
// that URL at once while GET /gateway/bot is asked again; the socket identifies only once the
// answer confirms the URL and the budget. A failed answer leaves it unused: the simulator sees a
// connection that never identified, closed by the client with 1000.
describe('issue 9 connect: the socket opens alongside GET /gateway/bot', () => {
  let d;
  before(async () => {
    d = await deployment();
    await d.connectReady();
  });
  after(() => d?.stop());

  /** Disconnects, then waits out the 5 s between two Identify calls (no early socket before). */
  const disconnectAndWait = async () => {
    assert.equal((await d.call('POST', '/disconnect')).status, 200);
    await sleep(5_100);
  };

  /** The simulator's connections opened after the first `skip`, once none is open. */
  const closedConnectionsAfter = (skip) =>
    waitFor(async () => {
      const conns = (await d.sim.state()).connections.slice(skip);
      return conns.length > 0 && conns.every((c) => !c.open) ? conns : null;
    }, { message: 'the early socket closed' });

  test('issue 9 connect: a reconnect identifies once, on the socket opened with GET /gateway/bot', async () => {
    await disconnectAndWait();
    const before = await d.sim.state();
    await d.connectReady();
    const sim = await d.sim.state();
    assert.equal(sim.gatewayBotRequests, before.gatewayBotRequests + 1, 'asked once');
    assert.equal(sim.upgradeRequests, before.upgradeRequests + 1, 'one socket');
    assert.equal(sim.identifies.length, before.identifies.length + 1, 'one Identify');
  });

  test('issue 9 connect: a failed GET /gateway/bot leaves the early socket unused, then connects', async () => {
    await disconnectAndWait();
    const before = await d.sim.state();
    await d.sim.control('/_sim/config', { gatewayBotFaults: [{ status: 503, retryAfterSecs: 0.2 }] });
    await d.connectReady();
    const sim = await d.sim.state();
    const opened = sim.connections.slice(before.connections.length);
    assert.equal(opened.length, 2, 'the early socket, then the one after the retry');
    assert.equal(opened[0].token, null, 'no Identify on the early socket');
    assert.equal(opened[0].closeCodeFromClient, 1000);
    assert.equal(sim.identifies.length, before.identifies.length + 1, 'one Identify, after the answer');
    assert.equal(sim.identifies.at(-1).connectionId, opened[1].id);
  });

  test('issue 9 connect: a 401 from GET /gateway/bot stops as before and the early socket never identifies', async () => {
    await disconnectAndWait();
    const before = await d.sim.state();
    await d.sim.control('/_sim/config', { gatewayBotFaults: [{ status: 401 }] });
    await d.call('POST', '/connect', {});
    const status = await d.waitForState('stopped');
    assert.equal(status.stopCode, 'authenticationFailed');
    const opened = await closedConnectionsAfter(before.connections.length);
    assert.equal(opened.length, 1, 'the early socket only');
    assert.equal(opened[0].token, null, 'no Identify on it');
    assert.equal(opened[0].closeCodeFromClient, 1000);
    assert.equal((await d.sim.state()).identifies.length, before.identifies.length);
  });
});
