// startChatApp(): a real Chat SDK bot (npm `chat` + `@chat-adapter/discord` +
// `@chat-adapter/state-memory`) in this process, behind a plain node:http server that turns each
// request into a web Request for `chat.webhooks.discord`. Handlers record what they saw; the
// mention and DM handlers reply (a REST call to `apiUrl`). A mention saying "subscribe"
// subscribes its thread (onSubscribedMessage then fires there); onNewMessage listens for
// NEW_MESSAGE_PATTERN. Nothing leaves 127.0.0.1.
import { Chat } from 'chat';
import { createDiscordAdapter } from '@chat-adapter/discord';
import { createMemoryState } from '@chat-adapter/state-memory';
import { sendReply, serveLocal } from './http-server.mjs';
import { safeJson } from './util.mjs';

export const WEBHOOK_PATH = '/api/webhooks/discord';
/** The pattern of the app's one `onNewMessage` handler. */
export const NEW_MESSAGE_PATTERN = /^!ping\b/;
// Any 64-hex Ed25519 key: only HTTP Interactions are verified with it, forwarded Gateway events
// are authenticated by `x-discord-gateway-token` alone.
const PUBLIC_KEY = 'ab'.repeat(32);

/** A Chat SDK logger that keeps every line (for failure messages) and prints nothing. */
function recordingLogger(lines, prefix = 'chat-sdk') {
  const at = (level) => (message, ...args) => lines.push({ level, prefix, message, args });
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (p) => recordingLogger(lines, `${prefix}:${p}`),
  };
}

/**
 * @param {{botToken: string, applicationId: string, apiUrl: string, userName?: string}} opts
 * @returns {Promise<{url: string, webhookUrl: string, chat: Chat,
 *   requests: {headers: Record<string,string>, body: string, status?: number, response?: string}[],
 *   mentions: any[], directMessages: any[], reactions: any[], subscribedMessages: any[], newMessages: any[],
 *   logs: {level: string, prefix: string, message: string, args: any[]}[], backgroundErrors: string[],
 *   warnings(from?: number): string[], stop(): Promise<void>}>}
 */
export async function startChatApp({ botToken, applicationId, apiUrl, userName = 'sim-bot' }) {
  const logs = [];
  const discord = createDiscordAdapter({
    botToken,
    applicationId,
    publicKey: PUBLIC_KEY,
    apiUrl,
    userName,
    logger: recordingLogger(logs, 'discord'),
  });
  const chat = new Chat({
    userName,
    adapters: { discord },
    state: createMemoryState(),
    logger: recordingLogger(logs),
  });

  const mentions = [];
  const directMessages = [];
  const reactions = [];
  const subscribedMessages = [];
  const newMessages = [];
  const seen = (thread, message) => ({
    threadId: thread.id,
    isDM: thread.isDM,
    messageId: message.id,
    text: message.text,
    authorId: message.author.userId,
    isMention: message.isMention,
  });
  chat.onNewMention(async (thread, message) => {
    // A mention that says "subscribe" makes the bot follow its thread (Chat SDK's idiom): later
    // messages there go to onSubscribedMessage.
    if (/\bsubscribe\b/.test(message.text)) await thread.subscribe();
    mentions.push(seen(thread, message));
    await thread.post(`pong: ${message.text}`);
  });
  chat.onSubscribedMessage(async (thread, message) => {
    subscribedMessages.push(seen(thread, message));
  });
  chat.onNewMessage(NEW_MESSAGE_PATTERN, async (thread, message) => {
    newMessages.push(seen(thread, message));
  });
  chat.onDirectMessage(async (thread, message) => {
    directMessages.push(seen(thread, message));
    await thread.post('got your DM');
  });
  chat.onReaction(async (event) => {
    reactions.push({
      threadId: event.threadId,
      handlerThreadId: event.thread?.id,
      messageId: event.messageId,
      added: event.added,
      userId: event.user.userId,
      rawEmoji: event.rawEmoji,
    });
  });

  const requests = [];
  const background = new Set();
  // Errors of the tasks Chat SDK hands to waitUntil (handlers run there): recorded, and stop()
  // fails when there are any, so a handler that throws cannot pass unseen.
  const backgroundErrors = [];
  const server = await serveLocal(async (req, res, body) => {
    const record = { headers: req.headers, body: body.toString('utf8') };
    requests.push(record);
    try {
      const url = new URL(req.url, `http://${req.headers.host}`);
      if (req.method !== 'POST' || url.pathname !== WEBHOOK_PATH) {
        record.status = 404;
        sendReply(res, 404, 'not found');
        return;
      }
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers)) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
      const request = new Request(url, { method: 'POST', headers, body });
      const response = await chat.webhooks.discord(request, {
        waitUntil: (task) => {
          const p = Promise.resolve(task).catch((err) => {
            backgroundErrors.push(String(err?.stack || err));
          });
          background.add(p);
          p.finally(() => background.delete(p));
        },
      });
      record.status = response.status;
      record.response = await response.text();
      sendReply(res, response.status, record.response, Object.fromEntries(response.headers));
    } catch (err) {
      record.status = 500;
      record.response = String(err?.stack || err);
      if (!res.headersSent) sendReply(res, 500, 'chat app error');
    }
  });
  return {
    url: server.url,
    webhookUrl: server.url + WEBHOOK_PATH,
    chat,
    requests,
    mentions,
    directMessages,
    reactions,
    subscribedMessages,
    newMessages,
    logs,
    backgroundErrors,
    /** Warnings and errors logged since index `from`, one line each (e.g. "Reaction event missing user info"). */
    warnings: (from = 0) =>
      logs
        .slice(from)
        .filter((l) => l.level === 'warn' || l.level === 'error')
        .map((l) => `[${l.prefix}] ${l.message} ${safeJson(l.args, 400)}`),
    /** Waits for the background tasks, stops the server, and throws if a task failed. */
    async stop() {
      await Promise.allSettled([...background]);
      await server.stop();
      if (backgroundErrors.length > 0) {
        throw new Error(`Chat SDK background tasks failed:\n${backgroundErrors.join('\n')}`);
      }
    },
  };
}
