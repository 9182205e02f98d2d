// Pull subscriptions (issue 10) from a test's or benchmark's side: create one, call the pull
// routes with its token. Shared by e2e/inbox.test.mjs and bench/inbox.mjs.
import { callWithToken } from './http-client.mjs';

/** The simulator's world (sim/src/presets.rs): its guild, `#general` and the DM channel. */
export const WORLD = {
  guildId: '1290000000000000100',
  textChannelId: '1290000000000000102',
  dmChannelId: '1290000000000000200',
};

/** Creates the pull subscription `name` with `filter` (admin); resolves with its token. */
export async function createPull(d, name, filter = {}) {
  const res = await d.call('POST', '/subscriptions', { name, kind: 'pull', filter });
  if (res.status !== 201 || typeof res.json?.token !== 'string') {
    throw new Error(`creating ${name} answered ${res.status}: ${JSON.stringify(res.json)}`);
  }
  return res.json.token;
}

/** A pull route with `token`: resolves with {status, json, headers}. */
export function agentCall(d, token, method, path, body) {
  return callWithToken(d.worker, method, path, { body, token });
}

/** `GET /v1/inbox` with `token` and the query `{after, limit, wait}`. */
export function inbox(d, token, query = {}) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
  const search = params.toString() ? `?${params}` : '';
  return agentCall(d, token, 'GET', `/v1/inbox${search}`);
}

/** The events of an inbox page (gaps left out). */
export function events(page) {
  return page.entries.filter((e) => e.type === 'event');
}
