// startDiscordRest(): a small stand-in for Discord's REST API (https://discord.com/api/v10), so a
// Chat SDK app's own REST calls (thread creation, replies, channel lookups) stay on 127.0.0.1.
// It knows the simulator's world (GET /_sim/state → world) and answers plausibly; every call is
// recorded. Point the adapter at it with `apiUrl: rest.apiUrl`.
import { sendReply, serveLocal } from './http-server.mjs';

/**
 * @typedef {{method: string, path: string, headers: Record<string, any>, body: any, at: number}} RestCall
 * @param {{world: {botId: string, guildId: string, textChannelId: string, threadId: string,
 *                  dmChannelId: string, userId: string}}} opts
 * @returns {Promise<{url: string, apiUrl: string, calls: RestCall[], clear(): void, stop(): Promise<void>}>}
 */
export async function startDiscordRest({ world }) {
  const calls = [];
  let nextId = 1_390_000_000_000_000_000n;
  const snowflake = () => String(nextId++);
  const bot = { id: world.botId, username: 'sim-bot', discriminator: '0', global_name: null, avatar: null, bot: true };

  /** The channels the simulator's world has, as Discord's GET /channels/{id} shows them. */
  const channels = new Map([
    [world.textChannelId, { id: world.textChannelId, type: 0, guild_id: world.guildId, name: 'general', parent_id: null }],
    [world.threadId, { id: world.threadId, type: 11, guild_id: world.guildId, name: 'sim-thread', parent_id: world.textChannelId }],
    [world.dmChannelId, { id: world.dmChannelId, type: 1, recipients: [{ id: world.userId, username: 'sim-user' }] }],
  ]);

  const message = (channelId, body) => ({
    id: snowflake(),
    type: 0,
    channel_id: channelId,
    content: body?.content ?? '',
    embeds: body?.embeds ?? [],
    components: body?.components ?? [],
    attachments: [],
    mentions: [],
    mention_roles: [],
    author: bot,
    timestamp: new Date().toISOString(),
    edited_timestamp: null,
  });

  /** @returns {[number, any]} status and JSON body (undefined: no body). */
  function route(method, path, body) {
    let m;
    if (method === 'GET' && (m = path.match(/^\/channels\/(\d+)$/))) {
      const channel = channels.get(m[1]);
      return channel ? [200, channel] : [404, { message: 'Unknown Channel', code: 10003 }];
    }
    if (method === 'POST' && (m = path.match(/^\/channels\/(\d+)\/messages\/(\d+)\/threads$/))) {
      // Like Discord: a thread started from a message has the message's id.
      const thread = { id: m[2], type: 11, guild_id: world.guildId, parent_id: m[1], name: body?.name ?? 'thread' };
      channels.set(thread.id, thread);
      return [201, thread];
    }
    if (method === 'POST' && (m = path.match(/^\/channels\/(\d+)\/messages$/))) return [200, message(m[1], body)];
    if (method === 'PATCH' && (m = path.match(/^\/channels\/(\d+)\/messages\/(\d+)$/))) {
      return [200, { ...message(m[1], body), id: m[2] }];
    }
    if (method === 'POST' && /^\/channels\/\d+\/typing$/.test(path)) return [204];
    if (/^\/channels\/\d+\/messages\/\d+\/reactions\//.test(path)) return [204];
    if (method === 'GET' && (m = path.match(/^\/users\/(\d+)$/))) {
      return [200, m[1] === world.botId ? bot : { id: m[1], username: 'sim-user', discriminator: '0', global_name: 'Sim User', avatar: null }];
    }
    if (method === 'POST' && path === '/users/@me/channels') return [200, channels.get(world.dmChannelId)];
    return [404, { message: `stub: no route for ${method} ${path}`, code: 0 }];
  }

  const server = await serveLocal((req, res, raw) => {
    const text = raw.toString('utf8');
    let body = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      /* keep the text (multipart uploads) */
    }
    const path = new URL(req.url, 'http://stub').pathname.replace(/^\/api\/v10/, '');
    calls.push({ method: req.method, path, headers: req.headers, body, at: Date.now() });
    const [status, json] = route(req.method, path, body);
    sendReply(res, status, json);
  });
  return {
    url: server.url,
    apiUrl: `${server.url}/api/v10`,
    calls,
    clear: () => void (calls.length = 0),
    stop: server.stop,
  };
}
