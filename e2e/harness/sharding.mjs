// Helpers of the sharded-bot tests (issue 12): the simulator's sharding settings, waiting for a
// coordinator's shards, and guild messages that reach the webhook.
import { waitFor } from './util.mjs';

const DAY = 86_400_000;

/** Makes the simulator recommend `shards` with this session start limit. */
export async function shardedSim(d, { shards, maxConcurrency, guilds = 8, remaining = 1000, resetAfterMs = DAY }) {
  await d.sim.control('/_sim/config', {
    shards,
    guilds,
    sessionStartLimit: { total: 1000, remaining, resetAfterMs, maxConcurrency },
  });
}

/** The coordinator's /status once every shard of the primary set is READY. */
export function allReady(d, count, timeoutMs = 60_000) {
  return waitFor(async () => {
    const s = await d.status();
    return s.sharded && s.shardCount === count && s.totals.ready === count && s.state === 'connected' ? s : null;
  }, { timeoutMs, message: `${count} shards ready` });
}

/** The `x-discord-gateway-event-id` of every request the receiver got. */
export function eventIds(receiver) {
  return receiver.requests.map((r) => r.headers['x-discord-gateway-event-id']);
}

/** Injects one guild message in each guild; resolves with what the sim sent. */
export async function messagePerGuild(d, guilds, overrides) {
  const sent = [];
  for (let g = 0; g < guilds; g += 1) sent.push((await d.dispatch({ preset: 'guild_message', guildIndex: g, overrides })).sent[0]);
  return sent;
}

/** Resolves once the receiver got every one of `sent`. */
export async function waitDelivered(d, sent, timeoutMs = 20_000) {
  await d.receiver.waitFor((rs) => sent.every((m) => rs.some((r) => r.json().data?.id === m.data.id)), timeoutMs);
}
