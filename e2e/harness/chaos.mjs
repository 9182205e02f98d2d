// runChaos(): a seeded storm of gateway, runtime and webhook faults over a steady message stream,
// against a whole local deployment (simulator, receiver, the built worker in workerd). Used by
// e2e/chaos.test.mjs (short, in scripts/test) and bench/chaos.mjs (long runs).
//
// Faults, one every 2-6 s (seeded): op 7, dropped TCP, a zombie connection (ACKs withheld for
// 3 heartbeats), op 9 resumable and not, close 4000, SIGKILL of the runtime and restart on the
// same storage, the webhook answering 503 or taking 2 s per request for a while, the webhook
// dropping connections. Then the storm stops and everything must arrive.
import assert from 'node:assert/strict';
import { deployment } from '../fixture.mjs';
import { sleep, waitFor } from './util.mjs';

export const CHAOS_CHANNELS = Array.from({ length: 6 }, (_, i) => `13000000000000009${String(i).padStart(2, '0')}`);

/** mulberry32: a small seeded generator, so a failing run replays by its seed. */
export function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FAULTS = ['op7', 'drop', 'zombie', 'op9-resumable', 'op9-new-session', 'close-4000', 'kill', 'webhook-down', 'webhook-slow', 'webhook-drops'];

/**
 * Runs one seeded storm and waits until every event that must arrive has arrived (or `drainMs`).
 * @param {{seed: number, seconds: number, eventsPerSecond?: number, drainMs?: number,
 *          log?: (line: string) => void}} opts
 * @returns {Promise<{seed, sent: object[], required: object[], accepted: object[], faults: string[],
 *                    missing: object[], status: object, sim: object, alarmWakeups: number[]}>}
 */
export async function runChaos({ seed, seconds, eventsPerSecond = 20, drainMs = 120_000, log = () => {} }) {
  const random = seededRandom(seed);
  const pick = (list) => list[Math.floor(random() * list.length)];
  const d = await deployment({ heartbeatIntervalMs: 1000 });
  const faults = [];
  const sent = [];
  const discarded = new Set();
  let webhook = 'ok';
  let restarting = false;
  const accepted = [];
  d.receiver.setHandler((req) => {
    const mode = webhook;
    if (mode === 'down') return { status: 503 };
    if (mode === 'drops' && random() < 0.5) return { destroy: true };
    const reply = mode === 'slow' ? { status: 200, delayMs: 2000 } : { status: 200 };
    req.accepted = true;
    return reply;
  });
  const alarmWakeups = [];
  try {
    await d.connectReady();
    const end = Date.now() + seconds * 1000;

    // The message stream: round-robin over the channels at a steady rate.
    const stream = (async () => {
      let i = 0;
      const start = Date.now();
      while (Date.now() < end) {
        const channel_id = CHAOS_CHANNELS[i % CHAOS_CHANNELS.length];
        try {
          const res = await d.dispatch({ preset: 'guild_message', overrides: { channel_id, content: `s${seed}-m${i}` } });
          for (const event of res.sent ?? []) sent.push(event);
        } catch {
          // 409: no session at this moment (between an op 9 and the next Identify): not sent.
        }
        i += 1;
        const due = start + (i * 1000) / eventsPerSecond;
        if (due > Date.now()) await sleep(due - Date.now());
      }
    })();

    // The storm.
    const storm = (async () => {
      while (Date.now() < end - 2000) {
        await sleep(2000 + random() * 4000);
        if (Date.now() >= end - 2000) break;
        const fault = pick(FAULTS);
        faults.push(fault);
        log(`seed ${seed} +${Math.round((Date.now() - end) / 1000 + seconds)} s: ${fault}`);
        const sim = (path, body = {}) => d.sim.control(path, body).catch(() => null);
        switch (fault) {
          case 'op7':
            await sim('/_sim/reconnect');
            break;
          case 'drop':
            await sim('/_sim/drop');
            break;
          case 'zombie':
            await sim('/_sim/acks', { paused: true });
            await sleep(3500);
            await sim('/_sim/acks', { paused: false });
            break;
          case 'op9-resumable':
            await sim('/_sim/invalid-session', { resumable: true });
            break;
          case 'op9-new-session': {
            const res = await sim('/_sim/invalid-session', { resumable: false });
            for (const id of res?.discarded ?? []) discarded.add(id);
            break;
          }
          case 'close-4000':
            await sim('/_sim/close', { code: 4000, reason: 'chaos' });
            break;
          case 'kill':
            restarting = true;
            try {
              alarmWakeups.push((await d.status().catch(() => ({}))).alarmWakeups);
              await d.restart({ kill: true });
            } finally {
              restarting = false;
            }
            break;
          case 'webhook-down':
          case 'webhook-slow':
          case 'webhook-drops':
            webhook = { 'webhook-down': 'down', 'webhook-slow': 'slow', 'webhook-drops': 'drops' }[fault];
            await sleep(3000 + random() * 5000);
            webhook = 'ok';
            break;
          default:
            throw new Error(`unknown fault ${fault}`);
        }
      }
    })();
    await Promise.all([stream, storm]);
    webhook = 'ok';
    void restarting;

    // Everything Discord delivered, or could still replay, must arrive: only events buffered in a
    // session that op 9 ended before they reached the bot are lost (as with Discord).
    const required = sent.filter((e) => e.delivered || !discarded.has(e.sessionId));
    const acceptedIds = () => {
      accepted.length = 0;
      for (const r of d.receiver.requests) if (r.accepted && r.answeredAt !== undefined) accepted.push(r);
      return new Set(accepted.map((r) => r.json().data.id));
    };
    let missing = [];
    try {
      await waitFor(() => {
        const ids = acceptedIds();
        missing = required.filter((e) => !ids.has(e.data.id));
        return missing.length === 0;
      }, { timeoutMs: drainMs, intervalMs: 250, message: () => `seed ${seed}: ${missing.length} of ${required.length} events not delivered` });
    } catch {
      acceptedIds();
    }
    // The last fault may have just begun a pause (op 9 asks for 1-5 s before identifying anew):
    // the object must be connected again within a bound, not at this very moment.
    const status = await waitFor(async () => {
      const s = await d.status();
      return s.state === 'connected' ? s : null;
    }, { timeoutMs: 30_000, intervalMs: 250 }).catch(() => d.status().catch((e) => ({ error: String(e) })));
    const sim = await d.sim.state();
    return { seed, sent, required, accepted: [...accepted], faults, missing, status, sim, alarmWakeups };
  } finally {
    await d.stop();
  }
}

const eventIdOf = (request) => request.headers['x-discord-gateway-event-id'];

/** Checks one run's outcome; every failure says the seed, so it replays. */
export function assertChaosOutcome(run) {
  const { seed, required, accepted, missing, status, faults } = run;
  const context = `seed ${seed}, faults ${faults.join(' ')}; status ${JSON.stringify({ state: status.state, phase: status.phase, waiting: status.waiting, delivery: status.delivery, alarmWakeups: status.alarmWakeups })}`;
  assert.equal(missing.length, 0, `${missing.length} of ${required.length} events lost (first: ${missing[0]?.data.content}); ${context}`);
  // A duplicate only ever carries the same event id.
  const idOfMessage = new Map();
  for (const r of accepted) {
    const message = r.json().data.id;
    const eventId = eventIdOf(r);
    assert.equal(idOfMessage.get(message) ?? eventId, eventId, `message ${message} arrived under two event ids; ${context}`);
    idOfMessage.set(message, eventId);
  }
  // Order per channel: the first arrival of each message follows the order it was sent in.
  for (const channel of CHAOS_CHANNELS) {
    const seen = new Set();
    const arrived = [];
    for (const r of accepted) {
      const data = r.json().data;
      if (data.channel_id === channel && !seen.has(data.id)) {
        seen.add(data.id);
        arrived.push(data.content);
      }
    }
    const expected = run.sent.filter((e) => e.data.channel_id === channel && seen.has(e.data.id)).map((e) => e.data.content);
    assert.deepEqual(arrived, expected, `order in channel ${channel}; ${context}`);
  }
  assert.equal(status.state, 'connected', `connected at the end; ${context}`);
}

