// Shared by e2e/talk.test.mjs and bench/ratelimit.mjs (issue 11): posts to one channel through
// POST /v1/messages against the simulator's create-message bucket, and what the simulator saw.
import { sleep } from './util.mjs';

/** The simulator's channel used for talking back. */
export const TALK_CHANNEL = '1300000000000000042';

/**
 * Starts `count` POST /v1/messages to one channel, the i-th `staggerMs * i` after the first (so
 * they reach the object in order without waiting for each other), and waits for every answer.
 * Resolves with {answers: [{status, json}], elapsedMs}, elapsed from the first request.
 */
export async function postMany(d, count, { staggerMs = 40, channel = TALK_CHANNEL } = {}) {
  const started = Date.now();
  const pending = [];
  for (let i = 0; i < count; i += 1) {
    pending.push(d.call('POST', '/v1/messages', { channel_id: channel, content: `post ${i}` }));
    if (staggerMs) await sleep(staggerMs);
  }
  const answers = await Promise.all(pending);
  return { answers, elapsedMs: Date.now() - started };
}

/** The simulator's REST log: every create-message and reaction request with its answer. */
export async function restLog(sim) {
  return (await sim.control('/_sim/rest')).requests;
}

/**
 * The least time `count` requests can take against a bucket of `limit` per `windowMs` opened by
 * the first one: every full window but the last must pass.
 */
export function bucketMinimumMs(count, limit, windowMs) {
  return (Math.ceil(count / limit) - 1) * windowMs;
}
