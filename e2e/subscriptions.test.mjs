// Issue 10, "one event log, many consumers": the log's positions, and (next) its subscriptions.
// A position is an outbox row id; cursors of pull subscriptions will point at them, so one must
// never be handed out twice, not even after every row left and the object restarted.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, test } from 'node:test';
import { waitFor } from './harness/index.mjs';
import { deployment } from './fixture.mjs';

/** The object's SQLite file in a storage dir (the gateway object's folder). */
function objectDatabase(dir) {
  const folder = path.join(dir, 'do', '-DiscordGatewayDO');
  return path.join(folder, fs.readdirSync(folder).find((f) => f.endsWith('.sqlite') && f !== 'metadata.sqlite'));
}

/** Dispatches one event the receiver refuses with 400, and returns its dead letter. */
async function oneDeadLetter(d) {
  d.receiver.setHandler(() => ({ status: 400 }));
  await d.dispatch({ preset: 'guild_message', count: 1 });
  await waitFor(async () => ((await d.status()).delivery.deadLetters === 1 ? true : null), {
    timeoutMs: 20_000,
    message: 'one dead letter',
  });
  const [letter] = (await d.call('GET', '/dead-letters')).json.deadLetters;
  return letter;
}

describe('issue 10: the event log', () => {
  let d;
  afterEach(() => d?.stop());

  test('issue 10 log: a position is never handed out twice, even after the newest row left and a restart', async () => {
    d = await deployment();
    await d.connectReady();
    const first = await oneDeadLetter(d);
    // The newest row (the only one) leaves; then the runtime dies.
    assert.deepEqual((await d.call('POST', '/dead-letters/drop', { all: true })).json, { affected: 1 });
    assert.equal((await d.status()).delivery.pending, 0, 'nothing stored any more');
    await d.restart({ kill: true });
    await d.waitForState('connected');
    const second = await oneDeadLetter(d);
    assert.notEqual(second.eventId, first.eventId, 'another event');
    assert.ok(second.id > first.id, `position ${second.id} comes after ${first.id}, never again`);
  });
});

/** The subscription listing by name. */
async function listing(d) {
  const res = await d.call('GET', '/subscriptions');
  assert.equal(res.status, 200, JSON.stringify(res.json));
  return Object.fromEntries(res.json.subscriptions.map((s) => [s.name, s]));
}

describe('issue 10: subscriptions in the object', () => {
  let d;
  let dir;
  afterEach(async () => {
    await d?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  test('issue 10 admin: create, list, read, replace and delete subscriptions; a secret or token is shown once, never again', async () => {
    d = await deployment();
    await d.connectReady();
    const hook = `${d.receiver.url}/tenant-a`;
    const push = await d.call('POST', '/subscriptions', {
      name: 'tenant-a',
      kind: 'push',
      webhookUrl: hook,
      webhookSecret: 'generate',
      filter: { guildIds: ['1290000000000000100'] },
    });
    assert.equal(push.status, 201, JSON.stringify(push.json));
    assert.match(push.json.webhookSecret, /^whsec_/);
    assert.equal(push.json.token, undefined);
    assert.equal(push.json.secretConfigured, true);
    const pull = await d.call('POST', '/subscriptions', { name: 'agent-1', kind: 'pull', filter: { directMessages: true } });
    assert.equal(pull.status, 201, JSON.stringify(pull.json));
    assert.match(pull.json.token, /^dgdp_default_[0-9a-f]{64}$/);

    // Bad input: 400 naming the field; a taken name: 409.
    const refused = [
      [{ name: 'tenant-a', kind: 'pull' }, 409, 'name'],
      [{ name: 'x', kind: 'poll' }, 400, 'kind'],
      [{ name: 'x', kind: 'push', webhookUrl: 'ftp://a.example' }, 400, 'webhookUrl'],
      [{ name: 'x', kind: 'pull', filter: { guildIds: ['abc'] } }, 400, 'filter.guildIds[0]'],
      [{ name: 'default', kind: 'pull' }, 400, 'name'],
    ];
    for (const [body, status, field] of refused) {
      const res = await d.call('POST', '/subscriptions', body);
      assert.equal(res.status, status, JSON.stringify(body));
      assert.equal(res.json.field, field, JSON.stringify(res.json));
    }

    const raw = await d.call('GET', '/subscriptions', undefined, { raw: true });
    const text = JSON.stringify(raw.json);
    for (const secret of [push.json.webhookSecret, pull.json.token, pull.json.token.slice(-64), hook]) {
      assert.ok(!text.includes(secret), 'no secret, token or URL is ever listed');
    }
    assert.deepEqual(raw.json.subscriptions.map((s) => s.name), ['default', 'tenant-a', 'agent-1']);
    const one = await d.call('GET', '/subscriptions/one?subscription=tenant-a');
    assert.equal(one.status, 200);
    assert.deepEqual(one.json.filter, { guildIds: ['1290000000000000100'] });
    assert.equal(one.json.webhookHost, new URL(hook).host);
    assert.equal((await d.call('GET', '/subscriptions/one?subscription=nope')).status, 404);
    assert.equal((await d.call('GET', '/subscriptions/one')).json.field, 'subscription');

    // Replace: same kind, the name from the query.
    const replaced = await d.call('PUT', '/subscriptions?subscription=tenant-a', {
      kind: 'push',
      webhookUrl: hook,
      filter: { channelIds: ['1290000000000000102'] },
    });
    assert.equal(replaced.status, 200, JSON.stringify(replaced.json));
    assert.equal(replaced.json.secretConfigured, false, 'a replace is whole: no secret given, none kept');
    assert.equal((await d.call('PUT', '/subscriptions?subscription=tenant-a', { kind: 'pull' })).json.field, 'kind');
    assert.equal((await d.call('PUT', '/subscriptions?subscription=default', { kind: 'push', webhookUrl: hook })).json.field, 'subscription');

    // Delete: the name is required; default stays.
    assert.equal((await d.call('DELETE', '/subscriptions')).json.field, 'subscription');
    assert.equal((await d.call('DELETE', '/subscriptions?subscription=default')).status, 400);
    assert.deepEqual((await d.call('DELETE', '/subscriptions?subscription=tenant-a')).json, { deleted: 'tenant-a' });
    assert.equal((await d.call('DELETE', '/subscriptions?subscription=tenant-a')).status, 404);

    // Kept across a restart.
    await d.restart({ kill: true });
    const after = await listing(d);
    assert.deepEqual(Object.keys(after), ['default', 'agent-1']);
    assert.deepEqual(after['agent-1'].filter, { directMessages: true });
  });

  test('issue 10 holders: an event is held by the subscriptions it matches; the last release removes it, deleting a subscription releases its events', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgd-subs-'));
    d = await deployment({ persistDir: dir });
    await d.connectReady();
    const guild = '1290000000000000100';
    for (const [name, filter] of [
      ['in-guild', { guildIds: [guild] }],
      ['everything', {}],
      ['elsewhere', { guildIds: ['42'] }],
    ]) {
      assert.equal((await d.call('POST', '/subscriptions', { name, kind: 'pull', filter })).status, 201);
    }
    await d.dispatch({ preset: 'guild_message', count: 4 });
    await waitFor(async () => (d.receiver.requests.length >= 4 ? true : null), { message: 'default delivered all 4' });
    await waitFor(async () => ((await listing(d)).default.lag === 0 ? true : null), { message: 'default released all 4' });
    let subs = await listing(d);
    assert.equal(subs['in-guild'].lag, 4, 'held by the matching pull subscriptions after default delivered');
    assert.equal(subs.everything.lag, 4);
    assert.equal(subs.elsewhere.lag, 0, 'a filter that does not match holds nothing');

    // After a restart default does not deliver them again: it released them.
    await d.restart({ kill: true });
    await d.waitForState('connected');
    subs = await listing(d);
    assert.equal(subs['in-guild'].lag, 4);
    assert.deepEqual((await d.call('DELETE', '/subscriptions?subscription=in-guild')).json, { deleted: 'in-guild' });
    assert.equal((await listing(d)).everything.lag, 4, 'still held by the other one');
    assert.deepEqual((await d.call('DELETE', '/subscriptions?subscription=everything')).json, { deleted: 'everything' });
    assert.equal(d.receiver.requests.length, 4, 'nothing delivered twice');
    await d.stop();
    const db = new DatabaseSync(objectDatabase(dir));
    try {
      assert.equal(db.prepare('SELECT COUNT(*) AS n FROM outbox').get().n, 0, 'no holder left: the events left the log');
      assert.equal(db.prepare('SELECT COUNT(*) AS n FROM deliveries').get().n, 0);
      assert.deepEqual(
        db.prepare('SELECT name FROM subscriptions ORDER BY id').all().map((r) => r.name),
        ['default', 'elsewhere'],
      );
    } finally {
      db.close();
    }
    d = undefined;
  });
});
