// Issue 10, "storage migrations": a database stored by the first release (e2e/fixtures/
// release-0.1-outbox, made by e2e/fixtures/make-release-fixture.mjs from that build), holding
// pending events and dead letters, is upgraded by this build in its constructor without losing
// one: every pending event is delivered with its id and body as they were, the dead letters are
// listed and replayable, and /status shows the new schema version.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, test } from 'node:test';
import { waitFor } from './harness/index.mjs';
import { deployment } from './fixture.mjs';

const FIXTURE = path.join(import.meta.dirname, 'fixtures', 'release-0.1-outbox');
/** The schema version this build brings a database to (src/schema.rs, CURRENT_VERSION). */
const SCHEMA_VERSION = 3;

const EVENT_ID = 'x-discord-gateway-event-id';

/** A copy of the fixture's storage in a fresh temp dir. */
function copyFixture() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgd-upgrade-'));
  fs.cpSync(path.join(FIXTURE, 'persist'), dir, { recursive: true });
  return dir;
}

/** The object's SQLite file in a storage dir (the one that is not Miniflare's metadata). */
function objectDatabase(dir) {
  // The gateway object's folder (after a run, the bot registry has one beside it).
  const folder = path.join(dir, 'do', '-DiscordGatewayDO');
  return path.join(folder, fs.readdirSync(folder).find((f) => f.endsWith('.sqlite') && f !== 'metadata.sqlite'));
}

/**
 * What a database's schema is, to compare two: each of our tables (workerd's `_cf_` ones and
 * SQLite's left out) with its kind (rowid or not), columns (name, type, NOT NULL, default, key
 * position), indexes (unique, why made), the recorded version, the `default` subscription and
 * the AUTOINCREMENT counter.
 */
function schemaOf(file) {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    const tables = db
      .prepare("SELECT name, wr FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' ORDER BY name")
      .all();
    return {
      tables: tables.map((t) => ({
        name: t.name,
        withoutRowid: t.wr,
        columns: db.prepare('SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid').all(t.name).map((c) => ({ ...c })),
        indexes: db.prepare('SELECT "unique", origin, partial FROM pragma_index_list(?) ORDER BY origin, "unique"').all(t.name).map((i) => ({ ...i })),
      })),
      version: db.prepare('SELECT id, version FROM schema_version').all().map((r) => ({ ...r })),
      subscriptions: db.prepare("SELECT id, name, kind, definition FROM subscriptions WHERE name = 'default'").all().map((r) => ({ ...r })),
      sequence: db.prepare("SELECT name, seq FROM sqlite_sequence WHERE name = 'subscriptions'").all().map((r) => ({ ...r })),
    };
  } finally {
    db.close();
  }
}

describe('issue 10: storage migrations', () => {
  let d;
  let dir;
  afterEach(async () => {
    await d?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('issue 10 storage migrations: the release-0.1 database with pending events and dead letters upgrades without losing one', async () => {
    const expected = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'expected.json'), 'utf8'));
    assert.ok(expected.pending.length > 0 && expected.deadLetters.length > 0, 'the fixture holds both');
    dir = copyFixture();
    d = await deployment({ persistDir: dir });

    // Before any connect: the object opened (and migrated) the stored database.
    const before = await d.call('GET', '/status');
    assert.equal(before.status, 200, JSON.stringify(before.json));
    assert.equal(before.json.schemaVersion, SCHEMA_VERSION);
    assert.equal(before.json.delivery.pending, expected.pending.length, 'every pending event is still there');
    assert.equal(before.json.delivery.deadLetters, expected.deadLetters.length, 'every dead letter is still there');

    const bodyOf = (id) => d.receiver.requests.filter((r) => r.headers[EVENT_ID] === id).map((r) => r.text());
    await d.connectReady();
    await waitFor(() => (expected.pending.every((e) => bodyOf(e.eventId).length > 0) ? true : null), {
      timeoutMs: 20_000,
      message: 'every pending event delivered',
    });
    for (const e of expected.pending) assert.deepEqual(bodyOf(e.eventId), [e.body], `pending ${e.eventId}: once, body as stored`);

    const list = (await d.call('GET', '/dead-letters')).json.deadLetters;
    assert.deepEqual(list.map((l) => l.eventId), expected.deadLetters.map((e) => e.eventId), 'the dead letters are listed');
    const replay = await d.call('POST', '/dead-letters/replay', { all: true });
    assert.deepEqual(replay.json, { affected: expected.deadLetters.length });
    await waitFor(() => (expected.deadLetters.every((e) => bodyOf(e.eventId).length > 0) ? true : null), {
      timeoutMs: 20_000,
      message: 'every replayed dead letter delivered',
    });
    for (const e of expected.deadLetters) assert.deepEqual(bodyOf(e.eventId), [e.body], `dead letter ${e.eventId}: body as stored`);

    const after = await waitFor(async () => {
      const s = await d.status();
      return s.delivery.pending === 0 && s.delivery.inFlight === 0 ? s : null;
    }, { message: 'outbox empty' });
    assert.equal(after.delivery.deadLetters, 0);
    assert.equal(after.schemaVersion, SCHEMA_VERSION);

    // A restart on the upgraded database finds it current and keeps it so.
    await d.restart();
    assert.equal((await d.status()).schemaVersion, SCHEMA_VERSION);

    // Version 3: the webhook is the `default` subscription; delivery state left the log rows.
    await d.worker.stop();
    const db = new DatabaseSync(objectDatabase(dir));
    try {
      const subscriptions = db.prepare('SELECT id, name, kind FROM subscriptions').all();
      assert.deepEqual(subscriptions.map((s) => [s.id, s.name, s.kind]), [[1, 'default', 'push']]);
      const columns = db.prepare('PRAGMA table_info(outbox)').all().map((c) => c.name);
      assert.ok(columns.includes('holders') && !columns.includes('dead') && !columns.includes('attempts'), columns.join());
      assert.equal(db.prepare('SELECT COUNT(*) AS n FROM deliveries').get().n, 0, 'every delivery done, none left behind');
    } finally {
      db.close();
    }
  });

  test('issue 10 storage migrations: version 3 moves the retries and dead letters to the default subscription', async () => {
    const expected = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'expected.json'), 'utf8'));
    dir = copyFixture();
    const stored = new DatabaseSync(objectDatabase(dir));
    const states = stored.prepare('SELECT id, attempts, dead, last_error FROM outbox WHERE attempts > 0 OR dead = 1 ORDER BY id').all();
    stored.close();
    d = await deployment({ persistDir: dir });
    assert.equal((await d.status()).schemaVersion, SCHEMA_VERSION);
    const list = (await d.call('GET', '/dead-letters')).json.deadLetters;
    assert.deepEqual(list.map((l) => l.eventId), expected.deadLetters.map((e) => e.eventId));
    await d.worker.stop();
    const db = new DatabaseSync(objectDatabase(dir));
    try {
      const moved = db.prepare('SELECT position, attempts, dead, last_error FROM deliveries WHERE subscription = 1 ORDER BY position').all();
      assert.deepEqual(
        moved.map((m) => [m.position, m.attempts, m.dead, m.last_error]),
        states.map((s) => [s.id, s.attempts, s.dead, s.last_error]),
        'each retry and dead letter, as it was',
      );
      assert.ok(moved.some((m) => m.dead === 1));
    } finally {
      db.close();
    }
  });

  test('issue 9 runtime start: a new database gets in one step the tables the first release gets from the migrations', async () => {
    // The first release's database, upgraded step by step.
    dir = copyFixture();
    d = await deployment({ persistDir: dir });
    assert.equal((await d.status()).schemaVersion, SCHEMA_VERSION);
    await d.stop();
    d = null;
    const upgraded = schemaOf(objectDatabase(dir));
    // A new object's database: the current schema in one step. It answers, connects, stores
    // an event, and a restarted object finds it current.
    const fresh = fs.mkdtempSync(path.join(os.tmpdir(), 'dgd-new-'));
    try {
      d = await deployment({ persistDir: fresh });
      assert.equal((await d.status()).schemaVersion, SCHEMA_VERSION);
      await d.connectReady();
      await d.dispatch({ preset: 'guild_message', overrides: { content: 'after a new database' } });
      await waitFor(() => (d.receiver.requests.some((r) => r.text().includes('after a new database')) ? true : null), {
        message: 'an event delivered from the new database',
      });
      await d.restart();
      const status = await d.status();
      assert.equal(status.schemaVersion, SCHEMA_VERSION);
      await d.stop();
      d = null;
      assert.deepEqual(schemaOf(objectDatabase(fresh)), upgraded, 'the same tables, columns, keys and rows of schema');
    } finally {
      fs.rmSync(fresh, { recursive: true, force: true });
    }
  });

  test('issue 10 storage migrations: a new database starts at the current version', async () => {
    d = await deployment();
    assert.equal((await d.status()).schemaVersion, SCHEMA_VERSION);
  });

  test('issue 10 storage migrations: a database newer than the build is refused with 503 and left as it is', async () => {
    dir = copyFixture();
    const file = objectDatabase(dir);
    const db = new DatabaseSync(file);
    db.exec(`CREATE TABLE schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
             INSERT INTO schema_version VALUES (1, ${SCHEMA_VERSION + 1});`);
    const OUTBOX = 'SELECT id, dead, attempts, body FROM outbox ORDER BY id';
    const stored = db.prepare(OUTBOX).all();
    db.close();
    d = await deployment({ persistDir: dir });
    const res = await d.call('GET', '/status');
    assert.equal(res.status, 503);
    assert.match(res.json.error, new RegExp(`schema version ${SCHEMA_VERSION + 1}, newer than this build knows \\(${SCHEMA_VERSION}\\)`));
    assert.equal((await d.call('POST', '/connect', {})).status, 503, 'no route works on it');
    await d.worker.stop();
    const again = new DatabaseSync(file);
    try {
      assert.deepEqual(again.prepare('SELECT version FROM schema_version').all().map((r) => r.version), [SCHEMA_VERSION + 1], 'not downgraded');
      assert.deepEqual(again.prepare(OUTBOX).all(), stored, 'nothing deleted or changed');
    } finally {
      again.close();
    }
  });
});
