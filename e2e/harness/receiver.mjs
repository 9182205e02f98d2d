// startReceiver(): a local webhook endpoint that records every request and answers as told.
import { performance } from 'node:perf_hooks';
import { sendReply, serveLocal } from './http-server.mjs';
import { waitFor } from './util.mjs';

/**
 * @typedef {{method: string, path: string, headers: Record<string, string|string[]>,
 *            rawBody: Buffer, receivedAt: number, receivedAtHr: number, answeredAt?: number,
 *            closedAt?: number, text(): string, json(): any}} ReceivedRequest
 *   receivedAtHr: performance.now() at arrival (sub-millisecond, this process's clock).
 *   answeredAt: when the whole reply was handed to the connection (unset if it never was).
 *   closedAt: when the connection closed before a reply was handed over (the client gave up, or
 *   the reply was `destroy`).
 * @typedef {{status?: number, headers?: Record<string,string>, body?: string|Buffer|object,
 *            delayMs?: number, destroy?: boolean}} Reply
 *   destroy: drop the TCP connection instead of answering.
 */

/**
 * Starts the receiver on 127.0.0.1 (ephemeral port).
 * Default reply: 200 {"ok":true}. setHandler(fn): fn(req: ReceivedRequest, index) returns a Reply
 * (or a Promise of one, or undefined for the default); setHandler(null) restores the default.
 * @param {{handler?: (req: ReceivedRequest, index: number) => Reply|undefined|Promise<Reply|undefined>}} [opts]
 * @returns {Promise<{url: string, requests: ReceivedRequest[],
 *   waitFor: (predicate: (requests: ReceivedRequest[]) => any, timeoutMs?: number) => Promise<any>,
 *   waitForCount: (n: number, timeoutMs?: number) => Promise<ReceivedRequest[]>,
 *   setHandler: (fn) => void, clear: () => void, stop: () => Promise<void>}>}
 *   waitFor resolves with the predicate's first truthy result, e.g.
 *   `await rx.waitFor((rs) => rs.find((r) => r.json().type === 'GATEWAY_MESSAGE_CREATE'), 5000)`.
 */
export async function startReceiver(opts = {}) {
  const requests = [];
  let handler = opts.handler || null;
  const server = await serveLocal(async (req, res, rawBody) => {
    const rec = {
      method: req.method,
      path: req.url,
      headers: req.headers,
      rawBody,
      receivedAt: Date.now(),
      receivedAtHr: performance.now(),
      text: () => rawBody.toString('utf8'),
      json: () => JSON.parse(rawBody.toString('utf8')),
    };
    const index = requests.length;
    requests.push(rec);
    res.on('finish', () => {
      rec.answeredAt = Date.now();
    });
    res.on('close', () => {
      if (rec.answeredAt === undefined) rec.closedAt ??= Date.now();
    });
    let reply;
    try {
      reply = handler ? await handler(rec, index) : undefined;
    } catch (err) {
      reply = { status: 500, body: { error: String(err) } };
    }
    reply = reply || {};
    if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
    if (reply.destroy) {
      req.socket.destroy();
      return;
    }
    if (res.destroyed) return;
    sendReply(res, reply.status ?? 200, reply.body === undefined ? { ok: true } : reply.body, reply.headers || {});
  });
  return {
    url: server.url,
    requests,
    waitFor: (predicate, timeoutMs = 10_000) =>
      waitFor(() => predicate(requests), {
        timeoutMs,
        intervalMs: 20,
        message: () =>
          `receiver predicate ${predicate.toString().slice(0, 200)} (got ${requests.length} requests: ` +
          requests.slice(-5).map((r) => `${r.method} ${r.path} ${r.text().slice(0, 120)}`).join(' | ') + ')',
      }),
    waitForCount: (n, timeoutMs = 10_000) =>
      waitFor(() => requests.length >= n && requests.slice(0, n), {
        timeoutMs,
        intervalMs: 20,
        message: () => `receiver: ${n} requests (got ${requests.length})`,
      }),
    setHandler(fn) {
      handler = fn || null;
    },
    clear() {
      requests.length = 0;
    },
    stop: server.stop,
  };
}
