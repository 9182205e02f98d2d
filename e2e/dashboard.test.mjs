// Issue 13: the operator's page, GET /admin, in a real headless Chromium (Debian's `chromium`,
// driven by playwright-core) against the Worker in workerd, the simulator and a real receiver.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';
import { ROOT, waitFor } from './harness/index.mjs';
import { ADMIN_TOKEN, deployment } from './fixture.mjs';
import { WORLD, inbox } from './harness/pull.mjs';

const CHROMIUM = process.env.DGD_CHROMIUM || '/usr/bin/chromium';
/** Where the README's screenshot comes from: `DGD_UPDATE_SCREENSHOT=1` writes it into docs/. */
const SCREENSHOT = process.env.DGD_UPDATE_SCREENSHOT === '1'
  ? path.join(ROOT, 'docs', 'admin-page.png')
  : path.join(os.tmpdir(), `dgd-admin-page-${process.pid}.png`);
// The flags this machine needs (no sandbox as root, no background connections to Google).
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

describe('issue 13: the operator page in a real browser', () => {
  let d;
  let browser;
  let page;
  /** Every request the page made: {url, authorization}. */
  const requests = [];
  /** Every dialog the page opened; accepted unless `answers` holds `false` for it. */
  const dialogs = [];
  const answers = [];
  let origin;

  before(async () => {
    d = await deployment();
    await d.connectReady();
    origin = new URL(d.worker.url).origin;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    page.on('request', (r) => requests.push({ url: r.url(), authorization: r.headers().authorization }));
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      if (answers.shift() === false) dialog.dismiss();
      else dialog.accept();
    });
  });
  after(async () => {
    await browser?.close();
    await d?.stop();
  });

  const card = (name) => page.locator(`article.bot[data-bot="${name}"]`);

  test('GET /admin is one self-contained page behind a strict Content-Security-Policy', async () => {
    const response = await page.goto(`${origin}/admin`);
    assert.equal(response.status(), 200);
    const csp = response.headers()['content-security-policy'];
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /connect-src 'self'/);
    assert.equal(response.headers()['x-content-type-options'], 'nosniff');
    const html = await response.text();
    assert.doesNotMatch(html, /https?:\/\//, 'no external script, font or stylesheet');
    assert.doesNotMatch(html, /<script>(?!<\/script>)/, 'no inline script');
    // The page itself needs no token; the API does.
    assert.equal((await fetch(`${origin}/status`)).status, 401);
  });

  test('a wrong token says so plainly and nothing is shown', async () => {
    await page.goto(`${origin}/admin`);
    await page.getByLabel(/Admin token/).fill('not-the-token');
    await page.getByLabel(/Admin token/).press('Enter');
    const error = page.getByRole('alert');
    await error.waitFor();
    assert.match(await error.textContent(), /admin token is wrong/i);
    assert.equal(await page.locator('#login').isVisible(), true, 'back at the login form');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('dgd-admin-token')), null, 'the wrong token is forgotten');
  });

  test('logging in with the keyboard shows the bot connected', async () => {
    await page.goto(`${origin}/admin`);
    await page.keyboard.press('Tab'); // the token field is the first control after the header
    await page.keyboard.type(ADMIN_TOKEN);
    await page.keyboard.press('Enter');
    await card('default').locator('.state', { hasText: 'connected' }).waitFor();
    assert.ok(await card('default').locator('.session').textContent(), 'a session id');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('dgd-admin-token')), ADMIN_TOKEN);
  });

  test('events injected through the simulator move the counters and the sparkline', async () => {
    const chart = card('default').locator('.events-chart');
    const before = Number(await card('default').locator('.events').textContent());
    const totalBefore = Number(await chart.getAttribute('data-total') ?? 0);
    for (let i = 0; i < 5; i += 1) await d.dispatch({ preset: 'guild_message', overrides: { content: `spark ${i}` } });
    await d.receiver.waitFor((rs) => rs.filter((r) => /^spark /.test(r.json().data?.content ?? '')).length === 5);
    await waitFor(async () => Number(await card('default').locator('.events').textContent()) >= before + 5 || null,
      { timeoutMs: 15_000, message: 'events counter on the page' });
    // The sparkline's hour holds them (a minute may turn between two events: count the hour).
    await waitFor(async () => Number(await chart.getAttribute('data-total') ?? 0) >= totalBefore + 5 || null,
      { timeoutMs: 15_000, message: 'sparkline counts the new events' });
    assert.match(await chart.getAttribute('aria-label'), /events per minute: latest \d+, max \d+/);
    assert.equal(await chart.locator('polyline').count(), 1);
    const delivered = card('default').locator('.subscriptions tbody tr').first();
    assert.match(await delivered.locator('th').textContent(), /^default/);
  });

  test('a dead letter is listed with its error, replayed from the page, and delivered', async () => {
    let reject = true;
    d.receiver.setHandler((req) => (reject && req.json().data?.content === 'poison' ? { status: 400 } : { status: 200 }));
    const { sent: [poison] } = await d.dispatch({ preset: 'guild_message', overrides: { content: 'poison' } });
    const details = card('default').locator('details.dead-letters');
    const row = details.locator('tbody tr');
    await waitFor(async () => ((await row.count()) === 1 ? true : null), { timeoutMs: 15_000, message: 'dead letter on the page' });
    await details.locator('summary').click();
    assert.match(await row.textContent(), /MESSAGE_CREATE/);
    assert.match(await row.textContent(), /400/);
    reject = false;
    await row.getByRole('button', { name: 'Replay' }).click();
    await d.receiver.waitFor((rs) => rs.filter((r) => r.json().data?.id === poison.data.id).length === 2, 15_000);
    await waitFor(async () => ((await row.count()) === 0 ? true : null), { timeoutMs: 15_000, message: 'dead letters empty' });
    assert.equal((await d.status()).delivery.deadLetters, 0);
    d.receiver.setHandler(null);
  });

  /** The default bot's card's row of subscription `name`. */
  const subscriptionRow = (name) => card('default').locator(`.subscriptions tbody tr[data-subscription="${name}"]`);
  /** Everything the page keeps in the tab's storage, as one string. */
  const storedByPage = () => page.evaluate(() => JSON.stringify([{ ...sessionStorage }, { ...localStorage }]));

  /** Fills the default card's "New subscription" form and submits it. */
  async function createFromPage({ kind, name, webhookUrl, generateSecret = true, guildIds, channelIds, eventTypes, directMessages }) {
    const form = card('default').locator('details.new-subscription');
    if (!(await form.getAttribute('open'))) await form.locator('summary').click();
    await form.getByRole('radio', { name: kind === 'pull' ? /^Pull/ : /^Push/ }).check();
    await form.getByLabel('Name', { exact: true }).fill(name);
    if (kind === 'push') {
      await form.getByLabel('Webhook URL').fill(webhookUrl);
      await form.getByLabel(/Generate a signing secret/).setChecked(generateSecret);
    }
    if (guildIds) await form.getByLabel('Guild ids').fill(guildIds.join(', '));
    if (channelIds) await form.getByLabel('Channel ids').fill(channelIds.join(' '));
    if (eventTypes) await form.getByLabel('Event types').fill(eventTypes.join(', '));
    await form.getByLabel('Direct messages').setChecked(Boolean(directMessages));
    await form.getByRole('button', { name: 'Create subscription' }).click();
  }

  /** The value in the default card's shown-once box, once it is there and is not `previous`. */
  async function shownOnce(pattern, previous) {
    const box = card('default').locator('.once');
    await box.waitFor({ state: 'visible' });
    const value = await waitFor(async () => {
      const shown = await box.locator('.once-value').textContent();
      return shown && shown !== previous ? shown : null;
    }, { timeoutMs: 10_000, message: 'a new value in the shown-once box' });
    assert.match(value, pattern);
    return value;
  }

  test('issue 13 subscriptions: a pull subscription created from the page shows its token once; it works, rotates and is revoked from the page', async () => {
    await createFromPage({ kind: 'pull', name: 'agent-page', channelIds: [WORLD.textChannelId] });
    const token = await shownOnce(/^dgdp_default_[0-9a-f]{64}$/);
    assert.match(await card('default').locator('.once').textContent(), /shown this once/);
    assert.ok(!(await storedByPage()).includes(token.slice(-64)), 'the token is in no storage of the page');
    const row = subscriptionRow('agent-page');
    await row.waitFor();
    assert.match(await row.textContent(), /pull/);
    assert.match(await row.textContent(), new RegExp(`channels ${WORLD.textChannelId}`));
    assert.equal((await inbox(d, token)).status, 200, 'the token from the page reads the inbox');

    // Gone after a reload: the page never had it anywhere but in that box.
    await page.reload();
    await row.waitFor();
    assert.equal(await card('default').locator('.once').isVisible(), false);
    assert.ok(!(await page.content()).includes(token.slice(-64)), 'the token is gone after a reload');
    assert.ok(!(await storedByPage()).includes(token.slice(-64)));

    // Rotate, after a confirmation: the old token stops, the new one (shown once) works.
    await row.getByRole('button', { name: 'Rotate token of agent-page' }).click();
    assert.match(dialogs.at(-1), /Rotate the token of agent-page\?/);
    const rotated = await shownOnce(/^dgdp_default_[0-9a-f]{64}$/, token);
    assert.notEqual(rotated, token);
    assert.equal((await inbox(d, token)).status, 401, 'the old token stops at once');
    assert.equal((await inbox(d, rotated)).status, 200, 'the new token works');
    assert.ok(!(await storedByPage()).includes(rotated.slice(-64)));
    // Dismissed: gone from the page.
    await card('default').getByRole('button', { name: 'Dismiss' }).click();
    assert.equal(await card('default').locator('.once').isVisible(), false);
    assert.ok(!(await page.content()).includes(rotated.slice(-64)), 'dismissed: not in the page');

    // Revoke, after a confirmation: 401.
    await row.getByRole('button', { name: 'Revoke token of agent-page' }).click();
    assert.match(dialogs.at(-1), /Revoke the token of agent-page\?/);
    await waitFor(async () => ((await inbox(d, rotated)).status === 401 ? true : null), { timeoutMs: 10_000, message: 'revoked token refused' });
  });

  // Before the second bot connects: the simulator sends events to the newest session.
  test('issue 13 subscriptions: a push subscription with a filter counts the events it takes; delete asks first', async () => {
    const hook = `${d.receiver.url}/tenant-page`;
    const once = card('default').locator('.once');
    if (await once.isVisible()) await once.getByRole('button', { name: 'Dismiss' }).click();
    await createFromPage({ kind: 'push', name: 'tenant-page', webhookUrl: hook, guildIds: [WORLD.guildId], eventTypes: ['MESSAGE_CREATE'] });
    await shownOnce(/^whsec_/);
    assert.match(await card('default').locator('.once-title').textContent(), /Signing secret of tenant-page/);
    await card('default').getByRole('button', { name: 'Dismiss' }).click();
    const row = subscriptionRow('tenant-page');
    await row.waitFor();
    assert.match(await row.textContent(), new RegExp(`guilds ${WORLD.guildId} · MESSAGE_CREATE`));
    assert.match(await row.locator('th').textContent(), new RegExp(new URL(hook).host.replace(/\./g, '\\.')));
    const one = (await d.call('GET', '/subscriptions/one?subscription=tenant-page')).json;
    assert.deepEqual(one.filter, { guildIds: [WORLD.guildId], eventTypes: ['MESSAGE_CREATE'] });
    assert.equal(one.secretConfigured, true);

    // A DM is outside its filter; two guild messages are inside. The default webhook takes all three.
    await d.dispatch({ preset: 'dm_message', overrides: { content: 'tenant dm' } });
    await d.dispatch({ preset: 'guild_message', count: 2, overrides: { content: 'tenant guild' } });
    await d.receiver.waitFor((rs) => rs.filter((r) => r.path === '/webhook' && /^tenant /.test(r.json().data?.content ?? '')).length === 3, 15_000);
    // What the subscription took: delivered, still pending, or dead: the page counts it in its row.
    const taken = async () => {
      let sum = 0;
      for (const count of ['delivered', 'pending', 'dead']) sum += Number(await row.locator(`td[data-count="${count}"]`).textContent());
      return sum;
    };
    await waitFor(async () => ((await taken()) >= 2 ? true : null), { timeoutMs: 15_000, message: 'the row counts its events' });
    assert.equal(await taken(), 2, 'the DM was not taken');

    // Delete asks first: refused, nothing happens; accepted, it is gone.
    answers.push(false);
    await row.getByRole('button', { name: 'Delete of tenant-page' }).click();
    assert.match(dialogs.at(-1), /Delete subscription tenant-page of default\?/);
    assert.equal((await d.call('GET', '/subscriptions/one?subscription=tenant-page')).status, 200, 'not deleted without a yes');
    await row.getByRole('button', { name: 'Delete of tenant-page' }).click();
    await row.waitFor({ state: 'detached', timeout: 10_000 });
    assert.equal((await d.call('GET', '/subscriptions/one?subscription=tenant-page')).status, 404);
  });

  test('disconnect asks first; connect brings the bot back; a second bot appears by itself', async () => {
    await card('default').getByRole('button', { name: 'Disconnect', exact: true }).click();
    await card('default').locator('.state', { hasText: 'disconnected' }).waitFor();
    assert.match(dialogs.at(-1), /Disconnect default\?/);
    await card('default').getByRole('button', { name: 'Connect', exact: true }).click();
    await card('default').locator('.state', { hasText: /^connected$/ }).waitFor({ timeout: 15_000 });
    // A bot connected through the API is in the registry; the page lists it without being told.
    assert.equal((await d.call('POST', '/connect?name=second', {})).status, 202);
    await card('second').locator('.state', { hasText: /^connected$/ }).waitFor({ timeout: 15_000 });
    const bots = (await d.call('GET', '/bots')).json.bots.map((b) => b.name);
    assert.deepEqual(bots, ['default', 'second']);
    fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    // Tables scrolled to a button the test clicked: back to their start for the picture.
    await page.evaluate(() => document.querySelectorAll('.scroll').forEach((el) => { el.scrollLeft = 0; }));
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    assert.ok(fs.statSync(SCREENSHOT).size > 10_000, 'a real screenshot');
  });

  test('the page never sends the token to another origin, and its policy blocks trying', async () => {
    assert.ok(requests.length > 10, `the page made ${requests.length} requests`);
    for (const r of requests) {
      assert.equal(new URL(r.url).origin, origin, `request to ${r.url}`);
    }
    assert.ok(requests.some((r) => r.authorization === `Bearer ${ADMIN_TOKEN}`), 'API calls carry the token');
    // Even a script running in the page cannot reach another origin: connect-src 'self'.
    const outcome = await page.evaluate(async (url) => {
      try {
        await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${sessionStorage.getItem('dgd-admin-token')}` } });
        return 'sent';
      } catch (e) {
        return `blocked: ${e.message}`;
      }
    }, `${d.receiver.url}/exfiltrate`);
    assert.match(outcome, /^blocked/);
    assert.equal(d.receiver.requests.filter((r) => r.path === '/exfiltrate').length, 0);
  });

  test('the registry: admin token required, one name forgotten at a time, never all by default', async () => {
    assert.equal((await d.call('GET', '/bots', undefined, { token: 'wrong' })).status, 401);
    assert.equal((await d.call('POST', '/bots', {})).status, 405);
    assert.equal((await d.call('DELETE', '/bots?name=bad name!')).status, 400);
    const unnamed = await d.call('DELETE', '/bots');
    assert.equal(unnamed.status, 400, 'no implicit bot');
    assert.equal(unnamed.json.field, 'name');
    assert.equal((await d.call('DELETE', '/bots?name=second')).status, 204);
    assert.deepEqual((await d.call('GET', '/bots')).json.bots.map((b) => b.name), ['default']);
    assert.equal((await d.status('second')).state, 'connected', 'forgetting a name leaves its bot alone');
  });

  test('useful on a phone: the layout fits a narrow screen', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.reload();
    await card('default').locator('.state').waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling (overflow ${overflow}px)`);
  });
});

// Issue 13 "shards when the bot has several": the page against a real coordinator and its shard
// objects (issue 12), the simulator asking for 2 shards.
describe('issue 13 shards: a sharded bot\'s card in a real browser', () => {
  const SHARDS = 2;
  const GUILDS = 4;
  let d;
  let browser;
  let page;

  before(async () => {
    d = await deployment();
    await d.sim.control('/_sim/config', {
      shards: SHARDS,
      guilds: GUILDS,
      sessionStartLimit: { total: 1000, remaining: 1000, resetAfterMs: 86_400_000, maxConcurrency: SHARDS },
    });
    const connect = await d.call('POST', '/connect', { shards: 'auto' });
    assert.equal(connect.status, 202, JSON.stringify(connect.json));
    await waitFor(async () => {
      const s = await d.status();
      return s.sharded && s.shardCount === SHARDS && s.totals.ready === SHARDS && s.state === 'connected' ? s : null;
    }, { timeoutMs: 60_000, message: `${SHARDS} shards ready` });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  });
  after(async () => {
    await browser?.close();
    await d?.stop();
  });

  const card = () => page.locator('article.bot[data-bot="default"]');
  const shardRows = () => card().locator('section.shards tbody tr');
  const totals = () => card().locator('section.shards tfoot tr');
  /** The primary set's events received, as the totals row prints them. */
  const eventsTotal = async () => Number(await totals().locator('td[data-figure="events"]').textContent());

  test('issue 13 shards: logged in, the card lists 2 shards connected, the totals, events and outbox, and no error', async () => {
    await page.goto(`${new URL(d.worker.url).origin}/admin`);
    await page.getByLabel(/Admin token/).fill(ADMIN_TOKEN);
    await page.getByLabel(/Admin token/).press('Enter');
    await card().locator('.state', { hasText: /^connected$/ }).waitFor({ timeout: 15_000 });
    const section = card().locator('section.shards');
    await section.waitFor({ state: 'visible', timeout: 15_000 });
    assert.match(await section.locator('caption').textContent(), /^Shards/);

    // One row per shard, each connected; the totals say all of them are READY.
    await waitFor(async () => ((await shardRows().count()) === SHARDS ? true : null), { timeoutMs: 15_000, message: 'a row per shard' });
    assert.deepEqual(await shardRows().locator('th').allTextContents(), ['0 of 2', '1 of 2']);
    assert.deepEqual(await shardRows().locator('td[data-state]').allTextContents(), ['connected', 'connected']);
    assert.equal(await totals().locator('th').textContent(), 'Total');
    assert.equal(await totals().locator('td[data-figure="ready"]').textContent(), '2 of 2 ready');
    // Every guild is on one shard: the rows add up to the total, which is every guild.
    const guilds = (await shardRows().locator('td[data-figure="guilds"]').allTextContents()).map(Number);
    assert.equal(guilds.reduce((a, b) => a + b, 0), GUILDS, `guilds per shard: ${guilds}`);
    assert.equal(await totals().locator('td[data-figure="guilds"]').textContent(), String(GUILDS));

    // A guild message in every guild: each shard's events received count them, and so do the totals.
    const before = await eventsTotal();
    const sent = [];
    for (let g = 0; g < GUILDS; g += 1) {
      sent.push((await d.dispatch({ preset: 'guild_message', guildIndex: g, overrides: { content: `shard page ${g}` } })).sent[0]);
    }
    await d.receiver.waitFor((rs) => sent.every((m) => rs.some((r) => r.json().data?.id === m.data.id)), 20_000);
    await waitFor(async () => ((await eventsTotal()) >= before + GUILDS ? true : null), { timeoutMs: 15_000, message: 'the totals count the new events' });
    const perShard = (await shardRows().locator('td[data-figure="events"]').allTextContents()).map(Number);
    assert.ok(perShard.every((n) => Number.isInteger(n) && n > 0), `events per shard: ${perShard}`);
    assert.equal(perShard.reduce((a, b) => a + b, 0), await eventsTotal(), 'the rows add up to the total');
    for (const row of [...await shardRows().all(), totals()]) {
      assert.match(await row.locator('td[data-figure="outbox"]').textContent(), /^\d+$/, 'an outbox depth');
      assert.match(await row.locator('td[data-figure="events-per-second"]').textContent(), /^\d+\.\d\d$/, 'a rate');
    }

    // The shards deliver the default webhook, not the coordinator: its row counts what they delivered.
    const delivered = card().locator('.subscriptions tbody tr[data-subscription="default"] td[data-count="delivered"]');
    await waitFor(async () => (Number(await delivered.textContent()) >= GUILDS ? true : null),
      { timeoutMs: 15_000, message: 'the default subscription counts the shards\' deliveries' });
    const byShards = (await d.status()).sets.flatMap((set) => set.shards).reduce((a, shard) => a + shard.delivered, 0);
    assert.ok(Number(await delivered.textContent()) <= byShards, `page ${await delivered.textContent()}, shards ${byShards}`);

    // No error anywhere: not the page's, not the card's, not the coordinator's.
    assert.equal(await page.locator('#error').isVisible(), false, await page.locator('#error').textContent());
    assert.equal(await card().locator('.stop-reason').isVisible(), false);
    assert.equal(await section.locator('.shard-error').isVisible(), false, await section.locator('.shard-error').textContent());
    // A coordinator has no session or heartbeat of its own: those facts are left out, not shown empty.
    assert.equal(await card().locator('.facts').isVisible(), false);
  });

  test('issue12 dead letters on a sharded bot\'s card: each shard\'s listed with its "<generation>.<shard>.<id>", replayed from the page, delivered', async () => {
    let reject = true;
    d.receiver.setHandler((req) => (reject && req.json().data?.content === 'poison' ? { status: 400 } : { status: 200 }));
    const poison = [];
    for (let g = 0; g < 2; g += 1) poison.push((await d.dispatch({ preset: 'guild_message', guildIndex: g, overrides: { content: 'poison' } })).sent[0]);
    const details = card().locator('details.dead-letters');
    const rows = details.locator('tbody tr');
    await waitFor(async () => ((await rows.count()) === 2 ? true : null), { timeoutMs: 20_000, message: 'two dead letters on the page' });
    await details.locator('summary').click();
    const ids = (await rows.locator('td:first-child').allTextContents()).sort();
    assert.deepEqual(ids.map((id) => id.split('.')[1]), ['0', '1'], `one per shard: ${ids}`);
    reject = false;
    await rows.first().getByRole('button', { name: 'Replay' }).click();
    await waitFor(async () => ((await rows.count()) === 1 ? true : null), { timeoutMs: 15_000, message: 'one replayed' });
    await rows.first().getByRole('button', { name: 'Replay' }).click();
    await d.receiver.waitFor((rs) => poison.every((m) => rs.filter((r) => r.json().data?.id === m.data.id).length === 2), 15_000);
    await waitFor(async () => ((await rows.count()) === 0 ? true : null), { timeoutMs: 15_000, message: 'dead letters empty' });
    assert.equal((await d.status()).totals.deadLetters, 0);
    assert.equal(await page.locator('#error').isVisible(), false, await page.locator('#error').textContent());
    d.receiver.setHandler(null);
  });

  test('issue 12 shards: a tenant\'s row on a sharded bot counts what its shards delivered', async () => {
    const created = await d.call('POST', '/subscriptions', { name: 'tenant', kind: 'push', webhookUrl: `${d.receiver.url}/tenant` });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    for (let g = 0; g < GUILDS; g += 1) await d.dispatch({ preset: 'guild_message', guildIndex: g, overrides: { content: `tenant ${g}` } });
    await d.receiver.waitFor((rs) => rs.filter((r) => r.path === '/tenant').length >= GUILDS, 20_000);
    const delivered = card().locator('.subscriptions tbody tr[data-subscription="tenant"] td[data-count="delivered"]');
    await waitFor(async () => (Number(await delivered.textContent().catch(() => '0')) >= GUILDS ? true : null),
      { timeoutMs: 20_000, message: 'the tenant row counts the shards\' deliveries' });
  });
});
