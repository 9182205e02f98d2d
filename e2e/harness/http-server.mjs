// The node:http pieces of the local stand-ins (receiver, Discord REST stub, chat app): a server on
// 127.0.0.1 that hands over each request with its body read, and a writer for one reply.
import http from 'node:http';

/**
 * Starts a server on 127.0.0.1 (ephemeral port). `onRequest(req, res, body)` is called once the
 * request's body (a Buffer) has been read. stop() drops the open connections and closes.
 * @param {(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => any} onRequest
 * @returns {Promise<{url: string, server: http.Server, stop(): Promise<void>}>}
 */
export async function serveLocal(onRequest) {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => onRequest(req, res, Buffer.concat(chunks)));
  });
  const sockets = new Set();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    server,
    stop: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * Writes one reply. `body` undefined: none; a string or Buffer: as is; anything else: as JSON,
 * with content-type application/json unless `headers` has a 'content-type'.
 */
export function sendReply(res, status, body, headers = {}) {
  if (body === undefined) return res.writeHead(status, headers).end();
  const h = { ...headers };
  if (!Buffer.isBuffer(body) && typeof body !== 'string') {
    body = JSON.stringify(body);
    h['content-type'] ??= 'application/json';
  }
  return res.writeHead(status, h).end(body);
}
