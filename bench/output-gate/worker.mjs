// A Durable Object for bench/output-gate.mjs: one small SQLite write and one fetch, in the
// order asked, timed inside the object from before the first of the two to the fetch's answer.
export class Gate {
  constructor(ctx) {
    this.ctx = ctx;
    this.n = 0;
    ctx.storage.sql.exec('CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v TEXT)');
  }

  async fetch(request) {
    const { target, mode } = await request.json();
    const write = () => this.ctx.storage.sql.exec('INSERT OR REPLACE INTO t VALUES (1, ?)', String(++this.n));
    const start = performance.now();
    let answer;
    if (mode === 'write-then-fetch') {
      write();
      answer = fetch(target);
    } else {
      answer = fetch(target);
      if (mode === 'fetch-then-write') write();
    }
    await (await answer).text();
    return Response.json({ ms: performance.now() - start });
  }
}

export default {
  fetch: (request, env) => env.GATE.get(env.GATE.idFromName('gate')).fetch(request),
};
