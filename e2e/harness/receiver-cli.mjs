// A tiny webhook receiver for ./scripts/run: answers 200 {"ok":true} and prints one line per
// request: time, event type, channel, a short excerpt, event id. First stdout line:
// {"listening":"http://127.0.0.1:PORT"}.  Usage: node receiver-cli.mjs
import { startReceiver } from './receiver.mjs';

const excerpt = (s, n = 60) => {
  const one = String(s).replace(/\s+/g, ' ').trim();
  return one.length > n ? one.slice(0, n - 1) + '…' : one;
};

function describe(req) {
  let body;
  try {
    body = req.json();
  } catch {
    return `${req.method} ${req.path} (not JSON: ${excerpt(req.text(), 40)})`;
  }
  const d = body?.data ?? {};
  const type = String(body?.type ?? '?').replace(/^GATEWAY_/, '');
  const channel = d.channel_id ? `#${d.channel_id}${d.guild_id ? '' : ' (DM)'}` : '-';
  let what = '';
  if (typeof d.content === 'string') what = `${d.author?.username ?? d.author?.id ?? '?'}: "${excerpt(d.content)}"`;
  else if (d.emoji) what = `${d.emoji.name ?? d.emoji.id} by ${d.user_id ?? d.user?.id ?? '?'} on ${d.message_id ?? '?'}`;
  else what = excerpt(JSON.stringify(d), 60);
  return `${type.padEnd(22)} ${channel.padEnd(24)} ${what}`;
}

const rx = await startReceiver();
process.stdout.write(JSON.stringify({ listening: rx.url }) + '\n');
let seen = 0;
setInterval(() => {
  while (seen < rx.requests.length) {
    const req = rx.requests[seen++];
    const t = new Date(req.receivedAt).toISOString().slice(11, 23);
    const id = req.headers['x-discord-gateway-event-id'] ?? req.headers['x-event-id'];
    // Other paths than /webhook are other subscriptions' webhooks (README, "One bot, many tenants").
    const to = req.path === '/webhook' ? '' : `${req.path} `;
    process.stdout.write(`${t} ${to}${describe(req)}${id ? `  [id ${id}]` : ''}\n`);
  }
}, 50);
const stop = async () => {
  await rx.stop();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
