// The runtime floor for bench/forwarding.mjs: the least a JavaScript Durable Object can do to
// forward Discord Gateway events, run in the same workerd as the Rust gateway.
//
// MinimalForwarder: connect to the gateway, Identify, heartbeat, POST each MESSAGE_CREATE to the
// webhook. No storage, no retries, no ordering: every POST starts as soon as its frame arrives.
// DurableForwarder: the same with one SQLite insert before each POST and one delete after it
// (the "naive durable floor" of issue 9: a statement per event per table, nothing coalesced).
//
// Routes (the Worker sends /minimal/* and /durable/* to the object of that kind, /baseline/* to
// the BASELINE service binding (another build of the Rust Worker, when the bench has one),
// /extra/* to the EXTRA service binding (a forwarder built outside the repo, DGD_EXTRA_FORWARDER,
// which answers these same routes), everything else to the GATEWAY service binding, the Rust
// Worker, so one workerd serves all):
//   POST /<kind>/connect {gateway, token, webhook, apiBase, poll}  answers once the connect has
//        started (apiBase unused here); the bench then polls /status for `ready`, as it polls
//        every forwarder (without `poll`, the answer waits for READY: the protocol before that)
//   POST /<kind>/disconnect
//   GET  /<kind>/status  → {delivered, failed, rowsWritten, ready}  (ready: READY arrived)

const INTENTS = (1 << 0) | (1 << 9) | (1 << 12) | (1 << 15); // GUILDS, GUILD_MESSAGES, DIRECT_MESSAGES, MESSAGE_CONTENT

/** One gateway connection forwarding MESSAGE_CREATE; `durable` adds the insert/delete pair. */
class Forwarder {
  constructor(ctx, env, durable) {
    this.ctx = ctx;
    this.durable = durable;
    this.ws = null;
    this.ready = false;
    this.beat = null;
    this.seq = null;
    this.delivered = 0;
    this.failed = 0;
    this.rowsWritten = 0;
    if (durable) {
      ctx.storage.sql.exec('CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
    }
  }

  async fetch(request) {
    const action = new URL(request.url).pathname.split('/')[2];
    if (action === 'connect' && request.method === 'POST') {
      const body = await request.json();
      const connecting = this.connect(body);
      if (!body.poll) {
        await connecting;
        return Response.json({ ok: true });
      }
      // Observed like every forwarder: the bench polls `ready` (a failure shows as no READY).
      connecting.catch((err) => console.error(`connect failed: ${err}`));
      return Response.json({ ok: true });
    }
    if (action === 'disconnect' && request.method === 'POST') {
      this.disconnect();
      return Response.json({ ok: true });
    }
    if (action === 'status') {
      return Response.json({ delivered: this.delivered, failed: this.failed, rowsWritten: this.rowsWritten, connected: this.ws !== null, ready: this.ready });
    }
    return new Response('not found', { status: 404 });
  }

  async connect({ gateway, token, webhook }) {
    this.disconnect();
    const url = `${gateway.replace(/^ws/, 'http')}/?v=10&encoding=json`;
    const res = await fetch(url, { headers: { Upgrade: 'websocket' } });
    const ws = res.webSocket;
    if (!ws) throw new Error(`gateway answered ${res.status} without a WebSocket`);
    ws.accept();
    this.ws = ws;
    const headers = { 'content-type': 'application/json', 'x-discord-gateway-token': token };
    await new Promise((resolve, reject) => {
      ws.addEventListener('close', () => reject(new Error('gateway closed before READY')));
      ws.addEventListener('message', (message) => {
        const frame = JSON.parse(message.data);
        if (frame.s != null) this.seq = frame.s;
        if (frame.op === 10) {
          this.beat = setInterval(() => ws.send(JSON.stringify({ op: 1, d: this.seq })), frame.d.heartbeat_interval);
          ws.send(JSON.stringify({ op: 2, d: { token, intents: INTENTS, properties: { os: 'linux', browser: 'minimal', device: 'minimal' } } }));
        } else if (frame.op === 1) {
          ws.send(JSON.stringify({ op: 1, d: this.seq }));
        } else if (frame.op === 0 && frame.t === 'READY') {
          this.ready = true;
          resolve();
        } else if (frame.op === 0 && frame.t === 'MESSAGE_CREATE') {
          const body = `{"type":"GATEWAY_MESSAGE_CREATE","timestamp":${Date.now()},"data":${JSON.stringify(frame.d)}}`;
          this.forward(frame.s, webhook, headers, body);
        }
      });
    });
  }

  forward(seq, webhook, headers, body) {
    const sql = this.durable ? this.ctx.storage.sql : null;
    if (sql) {
      sql.exec('INSERT INTO outbox (id, body) VALUES (?, ?)', seq, body);
      this.rowsWritten += 1;
    }
    fetch(webhook, { method: 'POST', headers, body })
      .then((res) => res.arrayBuffer())
      .then(
        () => {
          this.delivered += 1;
          if (sql) {
            sql.exec('DELETE FROM outbox WHERE id = ?', seq);
            this.rowsWritten += 1;
          }
        },
        () => {
          this.failed += 1;
        },
      );
  }

  disconnect() {
    this.ready = false;
    clearInterval(this.beat);
    this.beat = null;
    if (this.ws) this.ws.close(1000);
    this.ws = null;
  }
}

/** No storage at all. */
export class MinimalForwarder extends Forwarder {
  constructor(ctx, env) {
    super(ctx, env, false);
  }
}

/** One SQLite insert before each POST, one delete after it. */
export class DurableForwarder extends Forwarder {
  constructor(ctx, env) {
    super(ctx, env, true);
  }
}

export default {
  fetch(request, env) {
    const url = new URL(request.url);
    const kind = url.pathname.split('/')[1];
    if (kind === 'baseline' && env.BASELINE) {
      // Another build of the gateway (bench/forwarding.mjs with DGD_BASELINE_BUILD_DIR).
      url.pathname = url.pathname.slice('/baseline'.length);
      return env.BASELINE.fetch(new Request(url, request));
    }
    if (kind === 'extra' && env.EXTRA) return env.EXTRA.fetch(request);
    const namespace = kind === 'minimal' ? env.MINIMAL : kind === 'durable' ? env.DURABLE : null;
    if (!namespace) return env.GATEWAY.fetch(request);
    return namespace.get(namespace.idFromName('bench')).fetch(request);
  },
};
