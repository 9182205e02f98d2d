// The Chat SDK bot: one Chat instance, Discord adapter, handlers.
import { Chat } from "chat";
import { createDiscordAdapter } from "@chat-adapter/discord";
import { createMemoryState } from "@chat-adapter/state-memory";
import type { Env } from "./index.ts";

export function createBot(env: Env) {
  const bot = new Chat({
    userName: "chat-sdk-bot",
    adapters: {
      discord: createDiscordAdapter({
        botToken: env.DISCORD_BOT_TOKEN,
        publicKey: env.DISCORD_PUBLIC_KEY,
        applicationId: env.DISCORD_APPLICATION_ID,
        apiUrl: env.DISCORD_API_URL || undefined,
      }),
    },
    // In-memory state lives as long as the isolate: fine for a demo. Use a persistent state
    // adapter (e.g. @chat-adapter/state-redis) for subscriptions and de-duplication that last.
    state: createMemoryState(),
  });

  // @mention in a channel: the adapter opens a Discord thread on the message; reply there.
  bot.onNewMention(async (thread, message) => {
    await thread.subscribe();
    await thread.post(`Hi ${message.author.userName}! You said: ${message.text}`);
  });

  // Follow-ups in threads the bot subscribed to.
  bot.onSubscribedMessage(async (thread, message) => {
    await thread.post(`Still listening. You said: ${message.text}`);
  });

  // Direct messages.
  bot.onDirectMessage(async (thread, message) => {
    await thread.post(`Thanks for the DM, ${message.author.userName}!`);
  });

  // Reactions, added and removed.
  bot.onReaction(async (event) => {
    console.log(`${event.user.userName ?? event.user.userId} ${event.added ? "added" : "removed"} ${event.rawEmoji} in ${event.threadId}`);
  });

  return bot;
}

export type Bot = ReturnType<typeof createBot>;
