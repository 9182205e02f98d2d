// A Chat SDK bot on Cloudflare Workers, fed by discord-gateway-do.
//
//   Discord ──gateway──▶ DiscordGatewayDO ──POST /api/webhooks/discord──▶ this Worker (Chat SDK)
//                              ▲
//                              └── POST /gateway/connect (getGatewayStub().connect())
//
// The gateway POSTs every message and reaction here in the Chat SDK's forwarded-event format,
// with `x-discord-gateway-token: <bot token>`, so the unmodified Discord adapter accepts it.
import { GatewayError, getGatewayStub, type ConnectRequest, type GatewayNamespace } from "../../../client/gateway-stub.ts";
import type { Bot } from "./bot.ts";

export interface Env {
  /** The gateway's Durable Object, bound by script_name (see wrangler.toml). */
  DISCORD_GATEWAY: GatewayNamespace<any>;
  DISCORD_BOT_TOKEN: string;
  DISCORD_PUBLIC_KEY: string;
  DISCORD_APPLICATION_ID: string;
  /** Bearer token for the /gateway/* routes. */
  ADMIN_TOKEN: string;
  /** Optional: another Discord REST API base (tests point it at a local stub). */
  DISCORD_API_URL?: string;
}

const WEBHOOK_PATH = "/api/webhooks/discord";

// The bot module is imported on the first webhook, not at startup: workerd refuses
// `new AbortController()` in global scope (cloudflare/workerd#3657) and the `chat` package creates
// one when it loads. Bundled by wrangler, the dynamic import still ends up in the one bundle.
let bot: Promise<Bot> | undefined;
function getBot(env: Env): Promise<Bot> {
  bot ??= import("./bot.ts").then(
    ({ createBot }) => createBot(env),
    (error) => {
      bot = undefined; // try again on the next request
      throw error;
    },
  );
  return bot;
}

function json(body: unknown, status = 200): Response {
  return Response.json(body, { status });
}

/** Constant-time check of `Authorization: Bearer <ADMIN_TOKEN>`. */
function authorized(request: Request, env: Env): boolean {
  const expected = `Bearer ${env.ADMIN_TOKEN ?? ""}`;
  const given = request.headers.get("authorization") ?? "";
  if (!env.ADMIN_TOKEN) return false;
  let diff = expected.length ^ given.length;
  for (let i = 0; i < expected.length; i++) diff |= expected.charCodeAt(i) ^ (given.charCodeAt(i) || 0);
  return diff === 0;
}

/** The /gateway/* admin routes: connect, status, disconnect of this bot's gateway connection. */
async function gatewayRoute(request: Request, env: Env, path: string): Promise<Response> {
  if (!authorized(request, env)) return json({ error: "unauthorized" }, 401);
  const gateway = getGatewayStub({ namespace: env.DISCORD_GATEWAY });
  try {
    if (path === "/gateway/connect" && request.method === "POST") {
      // Optional JSON body: more connect options (intents, events, compress, shard, delivery).
      const text = await request.text();
      const options: ConnectRequest = text ? JSON.parse(text) : {};
      // The Worker's own credentials go to its own webhook only: a caller may not redirect them
      // (nor sign, which the Chat SDK adapter cannot check). Its options come first, so that
      // nothing in them replaces what is set here.
      for (const field of ["webhookUrl", "webhookSecret", "botToken"] as const) {
        if (field in options) {
          return json({ error: `${field} is set by this Worker: leave it out`, field }, 400);
        }
      }
      return json(
        await gateway.connect({
          ...options,
          botToken: env.DISCORD_BOT_TOKEN,
          webhookUrl: new URL(WEBHOOK_PATH, request.url).href,
        }),
        202,
      );
    }
    if (path === "/gateway/status" && request.method === "GET") return json(await gateway.status());
    if (path === "/gateway/disconnect" && request.method === "POST") return json(await gateway.disconnect());
  } catch (error) {
    if (error instanceof GatewayError) return json({ error: error.message, field: error.field }, error.status);
    if (error instanceof SyntaxError) return json({ error: "the body is not JSON" }, 400);
    throw error;
  }
  return json({ error: "not found" }, 404);
}

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    const { pathname } = new URL(request.url);
    if (pathname === WEBHOOK_PATH && request.method === "POST") {
      const bot = await getBot(env);
      return bot.webhooks.discord(request, { waitUntil: (task) => ctx.waitUntil(task) });
    }
    if (pathname.startsWith("/gateway/")) return gatewayRoute(request, env, pathname);
    return new Response("chat-sdk-bot: Discord events arrive at POST /api/webhooks/discord\n", { status: 404 });
  },
};

/** The part of the Workers execution context used here (no @cloudflare/workers-types needed). */
interface ExecutionContext {
  waitUntil(promise: Promise<unknown>): void;
}
