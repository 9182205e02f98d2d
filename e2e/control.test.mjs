// Admin auth and input validation on the control routes.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startWorker } from './harness/index.mjs';
import { ADMIN_TOKEN, BOT_TOKEN, deployment } from './fixture.mjs';

describe('admin auth', () => {
  let d;
  before(async () => {
    d = await deployment();
  });
  after(() => d?.stop());

  for (const [method, path] of [['POST', '/connect'], ['POST', '/disconnect'], ['GET', '/status']]) {
    test(`${method} ${path} without a token or with a wrong one is 401`, async () => {
      for (const token of [null, 'wrong-token', `${ADMIN_TOKEN}x`, ADMIN_TOKEN.slice(0, -1)]) {
        const res = await d.call(method, path, undefined, { token, raw: true });
        assert.equal(res.status, 401, `token ${token}`);
        assert.equal(res.headers.get('www-authenticate'), 'Bearer');
        assert.match(res.json.error, /admin token/);
      }
    });
  }

  test('unknown routes and wrong methods are answered clearly', async () => {
    const notFound = await d.call('GET', '/nope');
    assert.equal(notFound.status, 404);
    assert.match(notFound.json.error, /POST \/connect, .*GET \/status, .*POST \/dead-letters\/drop/, 'issue 10: the 404 lists the route table');
    // Issue 10, one route table: a 405 names the methods the path takes, in `Allow` too.
    const getConnect = await d.call('GET', '/connect', undefined, { raw: true });
    assert.equal(getConnect.status, 405);
    assert.equal(getConnect.headers.get('allow'), 'POST');
    const postStatus = await d.call('POST', '/status', undefined, { raw: true });
    assert.equal(postStatus.status, 405);
    assert.equal(postStatus.headers.get('allow'), 'GET');
    assert.equal(postStatus.json.error, 'use GET for /status');
    assert.equal((await d.call('GET', '/status?name=bad name!')).status, 400);
  });

  test('malformed /connect bodies are 400 with the reason and the field', async () => {
    const cases = [
      ['{not json', null, /not a valid connect request/],
      [{ botToken: 42 }, null, /invalid type/],
      [{ surprise: true }, null, /unknown field/],
      [{ intents: ['GUILD_MESAGES'] }, 'intents', /not a Discord intent/],
      [{ intents: 1 << 30 }, 'intents', /not Discord intents/],
      [{ events: [] }, 'events', /at least one/],
      [{ compress: 'gzip' }, 'compress', /zlib-stream/],
      [{ shard: [3, 2] }, 'shard', /below count/],
      [{ botToken: 'x' }, 'botToken', /does not look like/],
      [{ webhookSecret: 'short' }, 'webhookSecret', /whsec_/],
    ];
    for (const [body, field, message] of cases) {
      const res = await d.call('POST', '/connect', body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.json.field ?? null, field, JSON.stringify(res.json));
      assert.match(res.json.error, message);
      assert.ok(!JSON.stringify(res.json).includes(BOT_TOKEN));
    }
    assert.equal((await d.status()).state, 'disconnected', 'a bad request changes nothing');
  });
});

describe('webhook URL policy', () => {
  let d;
  before(async () => {
    d = await deployment({ vars: { ALLOW_INSECURE_WEBHOOKS: 'false' } });
  });
  after(() => d?.stop());

  test('http, credentials, private, loopback and link-local hosts are refused', async () => {
    const cases = [
      ['http://hooks.example.com/x', /https/],
      ['https://user:s3cr3tPW@hooks.example.com/x', /credentials/],
      ['https://127.0.0.1/x', /loopback/],
      ['https://localhost/x', /localhost|loopback/],
      ['https://10.1.2.3/x', /private/],
      ['https://192.168.0.1/x', /private/],
      ['https://169.254.169.254/latest', /link-local/],
      ['https://[::1]/x', /loopback/],
      ['https://[fd00::1]/x', /private|unique/],
      ['https://printer.local/x', /local/],
      ['ftp://hooks.example.com', /https/],
      ['not a url', /./],
    ];
    for (const [webhookUrl, message] of cases) {
      const res = await d.call('POST', '/connect', { webhookUrl });
      assert.equal(res.status, 400, webhookUrl);
      assert.equal(res.json.field, 'webhookUrl');
      assert.match(res.json.error, message, webhookUrl);
      assert.ok(!res.json.error.includes('s3cr3tPW'), 'credentials are never echoed');
    }
    const status = await d.status();
    assert.equal(status.insecureWebhooksAllowed, false);
  });

  test('issue 9, IDNA lever: a webhookUrl with a Unicode host is a 400 asking for its punycode (xn--) form', async () => {
    for (const webhookUrl of ['https://café.example/hook', 'https://bücher.example:8443/x?y=1']) {
      const res = await d.call('POST', '/connect', { webhookUrl });
      assert.equal(res.status, 400, webhookUrl);
      assert.equal(res.json.field, 'webhookUrl');
      assert.match(res.json.error, /webhookUrl host is not ASCII: .*punycode.*xn--/, webhookUrl);
    }
    // The punycode form passes the URL policy: what is refused next is the missing botToken.
    const res = await d.call('POST', '/connect', { webhookUrl: 'https://xn--caf-dma.example/hook' });
    assert.equal(res.status, 400);
    assert.equal(res.json.field, 'botToken', JSON.stringify(res.json));
    assert.equal((await d.status()).state, 'disconnected');
  });
});

test('without GATEWAY_ADMIN_TOKEN the routes answer 503 and stay closed', async () => {
  const worker = await startWorker({ vars: { ALLOW_INSECURE_WEBHOOKS: 'true' } });
  try {
    for (const [method, path] of [['POST', '/connect'], ['GET', '/status']]) {
      const res = await worker.fetch(path, { method, headers: { authorization: 'Bearer anything' } });
      assert.equal(res.status, 503);
      assert.match((await res.json()).error, /GATEWAY_ADMIN_TOKEN is not set/);
    }
  } finally {
    await worker.stop();
  }
});
