// Issue 11, talking back over HTTP: POST /v1/messages and PUT/DELETE /v1/reactions through the
// object's REST rate limiter, against the simulator's buckets (admin token; pull subscriptions'
// tokens come with issue 10).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN_TOKEN, BOT_TOKEN, deployment } from './fixture.mjs';
import { TALK_CHANNEL, bucketMinimumMs, postMany, restLog } from './harness/talk.mjs';

describe('issue 11: talking back', () => {
  let d;
  before(async () => {
    d = await deployment();
    await d.connectReady();
  });
  after(() => d?.stop());

  test('issue 11 rate limit: 50 posts to one channel against 5 per 5 s all arrive, in order, with at most one 429', async () => {
    await d.sim.control('/_sim/config', { restMessagesBucket: { limit: 5, windowMs: 5000 } });
    const before = (await restLog(d.sim)).length;
    const { answers, elapsedMs } = await postMany(d, 50);
    for (const [i, answer] of answers.entries()) {
      assert.equal(answer.status, 200, `post ${i}: ${JSON.stringify(answer.json)}`);
      assert.equal(answer.json.message_ids.length, 1);
    }
    const log = (await restLog(d.sim)).slice(before);
    const created = log.filter((e) => e.status === 200);
    assert.deepEqual(created.map((e) => e.content), answers.map((_, i) => `post ${i}`), 'arrival order');
    assert.deepEqual(created.map((e) => e.messageId), answers.map((a) => a.json.message_ids[0]));
    const tooMany = log.filter((e) => e.status === 429);
    assert.ok(tooMany.length <= 1, `429s received: ${tooMany.length}`);
    for (const e of created) assert.deepEqual(e.allowedMentions, { parse: [] }, 'nobody is pinged by default');
    const rest = (await d.status()).rest;
    assert.ok(rest.sent >= 50, JSON.stringify(rest));
    assert.equal(rest.rateLimited, tooMany.length);
    assert.equal(rest.queued, 0);
    assert.equal(rest.halted, false);
    console.log(`# 50 posts: ${elapsedMs} ms; the bucket's minimum ${bucketMinimumMs(50, 5, 5000)} ms; ${tooMany.length} 429`);
  });

  test('issue 11 split: a long reply with a code fence arrives as several messages, the block closed and reopened', async () => {
    const lines = Array.from({ length: 220 }, (_, i) => `let value_${i} = compute(${i}); // line ${i}`);
    const content = `Here is the fix:\n\n\`\`\`rust\n${lines.join('\n')}\n\`\`\`\nThat is all.`;
    assert.ok(content.length > 6000);
    const before = (await restLog(d.sim)).length;
    const res = await d.call('POST', '/v1/messages', { channel_id: TALK_CHANNEL, content, reply_to: '1300000000000000007' });
    assert.equal(res.status, 200, JSON.stringify(res.json));
    const parts = (await restLog(d.sim)).slice(before).filter((e) => e.status === 200);
    assert.equal(parts.length, res.json.message_ids.length);
    assert.ok(parts.length >= 4, `${parts.length} parts`);
    assert.deepEqual(parts.map((p) => p.messageId), res.json.message_ids);
    assert.ok(parts[0].content.startsWith('Here is the fix:'));
    assert.equal(parts[0].messageReference.message_id, '1300000000000000007');
    for (const p of parts.slice(1)) assert.equal(p.messageReference, null, 'only the first part replies');
    for (const [i, p] of parts.entries()) {
      assert.ok([...p.content].length <= 2000, `part ${i} is ${[...p.content].length} long`);
      assert.equal(p.content.split('```').length % 2, 1, `part ${i} leaves a code block open`);
      if (i > 0) assert.ok(p.content.startsWith('```rust\n'), `part ${i} reopens the block: ${p.content.slice(0, 20)}`);
    }
    assert.ok(parts.at(-1).content.endsWith('```\nThat is all.'));
    // Every line arrives once, in order.
    const arrived = parts.flatMap((p) => p.content.split('\n')).filter((l) => l.startsWith('let value_'));
    assert.deepEqual(arrived, lines);
  });

  test('issue 11 reactions: PUT and DELETE reach Discord with the emoji encoded', async () => {
    const before = (await restLog(d.sim)).length;
    const target = { channel_id: TALK_CHANNEL, message_id: '1300000000000000007' };
    assert.equal((await d.call('PUT', '/v1/reactions', { ...target, emoji: '👍' })).status, 200);
    assert.equal((await d.call('DELETE', '/v1/reactions', { ...target, emoji: 'party_blob:1300000000000000009' })).status, 200);
    const log = (await restLog(d.sim)).slice(before);
    assert.deepEqual(log.map((e) => [e.method, e.emoji, e.status]), [
      ['PUT', '👍', 204],
      ['DELETE', 'party_blob:1300000000000000009', 204],
    ]);
  });

  test('issue 11 bad input: 400 naming the field, 405 for a wrong method, 401 without the admin token', async () => {
    const cases = [
      ['POST', '/v1/messages', { content: 'x' }, 'channel_id'],
      ['POST', '/v1/messages', { channel_id: TALK_CHANNEL, content: '' }, 'content'],
      ['POST', '/v1/messages', { channel_id: TALK_CHANNEL, content: 'x', allowed_mentions: 'all' }, 'allowed_mentions'],
      ['PUT', '/v1/reactions', { channel_id: TALK_CHANNEL, message_id: '1', emoji: 'x/../y' }, 'emoji'],
      ['DELETE', '/v1/reactions', { channel_id: TALK_CHANNEL, emoji: '👍' }, 'message_id'],
    ];
    for (const [method, path, body, field] of cases) {
      const res = await d.call(method, path, body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.json.field, field, JSON.stringify(res.json));
    }
    assert.equal((await d.call('GET', '/v1/messages')).status, 405);
    assert.equal((await d.call('POST', '/v1/reactions', {})).status, 405);
    const res = await d.call('POST', '/v1/messages', { channel_id: TALK_CHANNEL, content: 'x' }, { token: `${ADMIN_TOKEN}x`, raw: true });
    assert.equal(res.status, 401);
  });

  test('issue 11 bad token: a bot token Discord refuses gives 502 naming it, never the token', async () => {
    await d.sim.control('/_sim/config', { rejectTokens: [BOT_TOKEN] });
    try {
      const before = (await restLog(d.sim)).length;
      const res = await d.call('POST', '/v1/messages', { channel_id: TALK_CHANNEL, content: 'hello?' });
      assert.equal(res.status, 502, JSON.stringify(res.json));
      assert.match(res.json.error, /401.*bot token was refused/);
      assert.ok(!JSON.stringify(res.json).includes(BOT_TOKEN));
      const log = (await restLog(d.sim)).slice(before);
      assert.deepEqual(log.map((e) => e.status), [401], 'a 401 is not retried');
      const rest = (await d.status()).rest;
      assert.ok(rest.invalidInWindow >= 1, JSON.stringify(rest));
      assert.equal(rest.halted, false);
    } finally {
      await d.sim.control('/_sim/config', { rejectTokens: [] });
    }
  });
});
