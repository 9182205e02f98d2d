// Conformance with the real Chat SDK: the built worker (workerd) forwards what the simulator
// dispatches to a real `chat` + `@chat-adapter/discord` app (in this process), whose own REST
// calls go to a local Discord REST stand-in. Each case asserts that the right handler fired with
// the right thread, user and data. See /work/shared/DISCORD.md §2 for the contract.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { waitFor } from './harness/index.mjs';
import { NEW_MESSAGE_PATTERN, startChatApp } from './harness/chat-app.mjs';
import { startDiscordRest } from './harness/discord-rest.mjs';
import { BOT_TOKEN, deployment } from './fixture.mjs';

describe('Chat SDK (chat@4.41 + @chat-adapter/discord) receives the gateway events', () => {
  let d;
  let rest;
  let app;
  let world;

  before(async () => {
    d = await deployment();
    world = (await d.sim.state()).world;
    rest = await startDiscordRest({ world });
    app = await startChatApp({ botToken: BOT_TOKEN, applicationId: world.applicationId, apiUrl: rest.apiUrl });
    // No webhookSecret: an unmodified Chat SDK app compares x-discord-gateway-token with its bot token.
    // The app's own webhook is not WEBHOOK_URL: the body brings the bot token (issue 8 item 1).
    await d.connectReady({ webhookUrl: app.webhookUrl, botToken: BOT_TOKEN });
  });
  after(async () => {
    const [, appStopped] = await Promise.allSettled([d?.stop(), app?.stop(), rest?.stop()]);
    // A handler that threw in the background fails the suite.
    if (appStopped.status === 'rejected') throw appStopped.reason;
  });

  const channelThread = () => `discord:${world.guildId}:${world.textChannelId}`;
  const threadThread = () => `discord:${world.guildId}:${world.textChannelId}:${world.threadId}`;
  const dmThread = () => `discord:@me:${world.dmChannelId}`;

  /** Dispatches one event and waits until the Chat SDK app answered the forwarded request. */
  async function dispatchAndDeliver(body) {
    const logsFrom = app.logs.length;
    const { sent } = await d.dispatch(body);
    assert.equal(sent.length, 1, `the simulator sent ${JSON.stringify(body)}`);
    const [event] = sent;
    // Matched by event id, not by body: the worker may enrich `data` (user, channel_type, thread).
    const eventId = `${event.sessionId}:${event.seq}`;
    const request = await waitFor(
      () => app.requests.find((r) => r.status !== undefined && r.headers['x-discord-gateway-event-id'] === eventId),
      { timeoutMs: 10_000, message: `the worker delivered ${event.type} (${eventId}) to the Chat SDK app` },
    );
    assert.equal(JSON.parse(request.body).type, `GATEWAY_${event.type}`);
    assert.equal(request.status, 200, `Chat SDK answered ${request.status}: ${request.response}`);
    return { event, request, logsFrom };
  }

  /** Waits (bounded) for a handler record; fails with the adapter's warnings when none came. */
  function handlerFired(list, from, predicate, what, { request, logsFrom }) {
    return waitFor(() => list.slice(from).find(predicate), {
      timeoutMs: 3_000,
      message: () =>
        `${what} did not fire. Delivered: ${request.body.slice(0, 600)}; ` +
        `adapter warnings: ${app.warnings(logsFrom).join(' | ') || 'none'}`,
    });
  }

  test('a guild @mention fires onNewMention in the thread the adapter opened', async () => {
    const from = app.mentions.length;
    const delivery = await dispatchAndDeliver({ preset: 'guild_mention' });
    const { event } = delivery;
    const seen = await handlerFired(app.mentions, from, (m) => m.messageId === event.data.id, 'onNewMention', delivery);
    // The adapter starts a Discord thread on the message (id = message id) and routes there.
    assert.equal(seen.threadId, `${channelThread()}:${event.data.id}`);
    assert.equal(seen.authorId, world.userId);
    assert.equal(seen.isMention, true);
    assert.match(seen.text, /can you help\?/);
    const calls = rest.calls.map((c) => `${c.method} ${c.path}`);
    assert.ok(calls.includes(`POST /channels/${world.textChannelId}/messages/${event.data.id}/threads`), calls.join(', '));
    const reply = rest.calls.find((c) => c.method === 'POST' && c.path === `/channels/${event.data.id}/messages`);
    assert.ok(reply, `the bot's reply went to the new thread: ${calls.join(', ')}`);
    assert.equal(reply.headers.authorization, `Bot ${BOT_TOKEN}`);
    assert.match(reply.body.content, /^pong: /);
  });

  test('an @mention inside a thread fires onNewMention there, with no REST lookup', async () => {
    const from = app.mentions.length;
    const callsFrom = rest.calls.length;
    const delivery = await dispatchAndDeliver({
      preset: 'guild_mention',
      overrides: { channel_id: world.threadId, channel_type: 11 },
    });
    const { event } = delivery;
    const seen = await handlerFired(app.mentions, from, (m) => m.messageId === event.data.id, 'onNewMention (thread)', delivery);
    assert.equal(seen.threadId, threadThread());
    const calls = rest.calls.slice(callsFrom).map((c) => `${c.method} ${c.path}`);
    // Without data.thread the adapter GETs /channels/{thread} for every thread message.
    assert.deepEqual(calls, [`POST /channels/${world.threadId}/messages`], 'only the reply');
  });

  test('a DM fires onDirectMessage', async () => {
    const from = app.directMessages.length;
    const delivery = await dispatchAndDeliver({ preset: 'dm_message' });
    const { event } = delivery;
    const seen = await handlerFired(app.directMessages, from, (m) => m.messageId === event.data.id, 'onDirectMessage', delivery);
    assert.equal(seen.threadId, dmThread());
    assert.equal(seen.isDM, true);
    assert.equal(seen.authorId, world.userId);
    assert.equal(seen.text, 'hello in a DM');
    assert.ok(rest.calls.some((c) => c.method === 'POST' && c.path === `/channels/${world.dmChannelId}/messages`));
  });

  test('issue 14 item 10: a message in a thread the bot subscribed to fires onSubscribedMessage', async () => {
    // The bot subscribes (thread.subscribe()) when a mention asks it to: here, in the sim's thread.
    const mention = await dispatchAndDeliver({
      preset: 'guild_mention',
      overrides: { channel_id: world.threadId, channel_type: 11, content: `<@${world.botId}> subscribe to this thread` },
    });
    await handlerFired(app.mentions, 0, (m) => m.messageId === mention.event.data.id, 'onNewMention (subscribe)', mention);
    const from = app.subscribedMessages.length;
    const mentionsFrom = app.mentions.length;
    const delivery = await dispatchAndDeliver({ preset: 'thread_message' });
    const { event } = delivery;
    const seen = await handlerFired(app.subscribedMessages, from, (m) => m.messageId === event.data.id, 'onSubscribedMessage', delivery);
    assert.equal(seen.threadId, threadThread());
    assert.equal(seen.text, 'hello in a thread');
    assert.equal(seen.authorId, world.userId);
    assert.equal(app.mentions.length, mentionsFrom, 'no other handler took it');
  });

  test('issue 14 item 10: a message matching a registered onNewMessage pattern fires it', async () => {
    const from = app.newMessages.length;
    // In order on one channel: the first does not match the pattern, the second does.
    const other = await dispatchAndDeliver({ preset: 'guild_message', overrides: { content: 'no command here' } });
    const delivery = await dispatchAndDeliver({ preset: 'guild_message', overrides: { content: '!ping the bot' } });
    const { event } = delivery;
    const seen = await handlerFired(app.newMessages, from, (m) => m.messageId === event.data.id, `onNewMessage(${NEW_MESSAGE_PATTERN})`, delivery);
    assert.equal(seen.threadId, channelThread());
    assert.equal(seen.text, '!ping the bot');
    assert.equal(seen.authorId, world.userId);
    assert.ok(!app.newMessages.some((m) => m.messageId === other.event.data.id), 'the message without the pattern fired nothing');
  });

  const reactionCases = [
    { name: 'guild channel, add', body: { preset: 'reaction_add' }, added: true, thread: channelThread },
    { name: 'guild channel, remove', body: { preset: 'reaction_remove' }, added: false, thread: channelThread },
    { name: 'thread, add', body: { preset: 'thread_reaction_add' }, added: true, thread: threadThread },
    {
      name: 'thread, remove',
      // There is no thread_reaction_remove preset: a guild removal, moved into the thread.
      body: () => ({ preset: 'reaction_remove', overrides: { channel_id: world.threadId } }),
      added: false,
      thread: threadThread,
    },
    { name: 'DM, add', body: { preset: 'dm_reaction_add' }, added: true, thread: dmThread },
    { name: 'DM, remove', body: { preset: 'dm_reaction_remove' }, added: false, thread: dmThread },
  ];
  for (const c of reactionCases) {
    test(`reaction (${c.name}) fires onReaction with the user and thread`, async () => {
      const from = app.reactions.length;
      const body = typeof c.body === 'function' ? c.body() : c.body;
      const delivery = await dispatchAndDeliver(body);
      const { event } = delivery;
      const seen = await handlerFired(
        app.reactions,
        from,
        (r) => r.messageId === event.data.message_id && r.added === c.added,
        `onReaction (${c.name})`,
        delivery,
      );
      assert.equal(seen.userId, world.userId, 'the reacting user');
      assert.equal(seen.added, c.added);
      assert.equal(seen.rawEmoji, '👍');
      assert.equal(seen.threadId, c.thread(), 'the thread the reaction belongs to');
      assert.equal(seen.handlerThreadId, c.thread());
    });
  }

  test('forwarded reactions carry what the adapter reads: user, channel_type, thread', () => {
    // @chat-adapter/discord reads data.user ?? data.member.user and drops the event without one;
    // it places a reaction in a thread from data.thread {id, parent_id}, else from a thread
    // data.channel_type plus a REST lookup, else it takes the thread for a plain channel.
    // Chat SDK's own forwarder adds channel_type, thread and user (enrichForwardedReaction).
    const expected = {
      [world.textChannelId]: { channel_type: 0 },
      [world.threadId]: { channel_type: 11, thread: { id: world.threadId, parent_id: world.textChannelId } },
      [world.dmChannelId]: { channel_type: 1 },
    };
    const reactions = app.requests
      .map((r) => JSON.parse(r.body))
      .filter((b) => /^GATEWAY_MESSAGE_REACTION_(ADD|REMOVE)$/.test(b.type));
    assert.ok(reactions.length >= 6, `got ${reactions.length} reactions`);
    const problems = [];
    for (const { type, data } of reactions) {
      const want = expected[data.channel_id];
      const where = `${type} in ${data.channel_id}`;
      const user = data.user ?? data.member?.user;
      if (user?.id !== world.userId) problems.push(`${where}: no user (user=${JSON.stringify(data.user)}, member=${!!data.member})`);
      if (data.channel_type !== want.channel_type) problems.push(`${where}: channel_type=${data.channel_type}`);
      if (want.thread && JSON.stringify(data.thread) !== JSON.stringify(want.thread)) {
        problems.push(`${where}: thread=${JSON.stringify(data.thread)}`);
      }
    }
    assert.deepEqual(problems, []);
  });

  test('a wrong x-discord-gateway-token gets 401 and fires nothing', async () => {
    const counts = [app.mentions.length, app.directMessages.length, app.reactions.length];
    const body = JSON.stringify({
      type: 'GATEWAY_MESSAGE_CREATE',
      timestamp: Date.now(),
      data: { id: '1', channel_id: world.dmChannelId, content: 'forged', mentions: [], attachments: [], author: { id: '2', username: 'x' } },
    });
    const res = await fetch(app.webhookUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-discord-gateway-token': `${BOT_TOKEN}x` },
      body,
    });
    assert.equal(res.status, 401);
    assert.equal(await res.text(), 'Invalid gateway token');
    assert.deepEqual([app.mentions.length, app.directMessages.length, app.reactions.length], counts);
  });

  test('every delivery carried the bot token and was accepted', async () => {
    const forwarded = app.requests.filter((r) => r.headers['x-discord-gateway-event-id']);
    assert.ok(forwarded.length >= 8);
    for (const r of forwarded) {
      assert.equal(r.headers['x-discord-gateway-token'], BOT_TOKEN);
      assert.equal(r.status, 200, r.response);
    }
    const status = await d.status();
    assert.equal(status.delivery.deadLetters, 0);
    assert.equal(status.delivery.failedAttempts, 0);
  });
});
