/**
 * A typed client for discord-gateway-do, for JavaScript/TypeScript Workers that bind its
 * Durable Object (`DiscordGatewayDO`) by `script_name`:
 *
 *   # wrangler.toml of your Worker
 *   [[durable_objects.bindings]]
 *   name = "DISCORD_GATEWAY"
 *   class_name = "DiscordGatewayDO"
 *   script_name = "discord-gateway-do"
 *
 *   const gateway = getGatewayStub({ namespace: env.DISCORD_GATEWAY });
 *   await gateway.connect({ botToken: env.DISCORD_BOT_TOKEN, webhookUrl: "https://bot.example/api/webhooks/discord" });
 *   const status = await gateway.status();
 *
 * Why a wrapper object and not JS RPC: the Durable Object is written in Rust, and JS RPC cannot
 * reach methods of a Rust class; it speaks its control API as fetch routes (`POST /connect`,
 * `POST /disconnect`, `GET /status`, ...). And even for a JS class, an RPC method named
 * `connect` would be unreachable through a stub, because `stub.connect()` is the TCP sockets
 * API (`connect(address)` → `Socket`). So this returns a plain object whose methods call
 * `stub.fetch`. Types mirror `src/api.rs` (the source of truth) field for field.
 *
 * Plain TypeScript, no dependencies, no `@cloudflare/workers-types` needed: the namespace is
 * typed structurally, so `env.DISCORD_GATEWAY` of any workers-types version fits.
 */

// ---- requests ---------------------------------------------------------------------------------

/** An intent name, as in Discord's docs (`GUILDS`, `MESSAGE_CONTENT`, ...). */
export type IntentName =
  | "GUILDS" | "GUILD_MEMBERS" | "GUILD_MODERATION" | "GUILD_EXPRESSIONS" | "GUILD_INTEGRATIONS"
  | "GUILD_WEBHOOKS" | "GUILD_INVITES" | "GUILD_VOICE_STATES" | "GUILD_PRESENCES" | "GUILD_MESSAGES"
  | "GUILD_MESSAGE_REACTIONS" | "GUILD_MESSAGE_TYPING" | "DIRECT_MESSAGES" | "DIRECT_MESSAGE_REACTIONS"
  | "DIRECT_MESSAGE_TYPING" | "MESSAGE_CONTENT" | "GUILD_SCHEDULED_EVENTS"
  | "AUTO_MODERATION_CONFIGURATION" | "AUTO_MODERATION_EXECUTION" | "GUILD_MESSAGE_POLLS"
  | "DIRECT_MESSAGE_POLLS";

/** Delivery tuning; every field optional. */
export interface DeliveryOptions {
  /** Per-request timeout, 1 s to 5 min; default 60 s. */
  timeoutMs?: number;
  /** Events older than this are dead-lettered instead of retried, 1 min to 7 days; default 24 h. */
  maxAgeMs?: number;
  /** Channels delivered at once, 1 to 5; default 4. */
  concurrency?: number;
  /** Pending events kept at most, 100 to 250,000; default 100,000. */
  maxPending?: number;
}

/** `POST /connect`. The object needs `botToken` and `webhookUrl` in the end. */
export interface ConnectRequest {
  /** The bot token (with or without the `Bot ` prefix). */
  botToken?: string;
  /** Where events are POSTed (https; http only with `ALLOW_INSECURE_WEBHOOKS`). */
  webhookUrl?: string;
  /**
   * Signs each delivery the Standard Webhooks way (`webhook-id`, `webhook-timestamp`,
   * `webhook-signature`; verify with the `standardwebhooks` package): `whsec_` and the base64 of
   * 24-64 random bytes, or `"generate"` for a new one, returned once in `ConnectResponse`.
   * Leave it out for an unmodified Chat SDK app: unsigned deliveries carry the bot token in
   * `x-discord-gateway-token`, which is what the adapter checks.
   */
  webhookSecret?: string;
  /** Bit set (e.g. `46593`) or names; default: guilds, messages and reactions in guilds and DMs, content. */
  intents?: number | IntentName[];
  /** Dispatch types to forward (e.g. `["MESSAGE_CREATE"]`), or `["*"]`; default: messages and reactions. */
  events?: string[];
  /** Transport compression; default `"none"`. */
  compress?: "none" | "zlib-stream" | "zstd-stream";
  /** `[id, count]` of this one object (sharding by hand; see `shards` instead). */
  shard?: [number, number];
  /**
   * `"auto"` (Discord's recommended count) or 1 to 16384: more than one makes this object the
   * bot's coordinator, running one Durable Object per shard (README, "Large bots").
   */
  shards?: "auto" | number;
  /** Delivery tuning. */
  delivery?: DeliveryOptions;
}

/** `202` answer to `POST /connect`. */
export interface ConnectResponse {
  status: "connecting";
  /** The secret generated for `webhookSecret: "generate"`, shown this once. */
  webhookSecret?: string;
}

/** `200` answer to `POST /disconnect`. */
export interface DisconnectResponse {
  status: "disconnected";
}

// ---- status -----------------------------------------------------------------------------------

/** The coarse connection state. */
export type ConnectionState = "disconnected" | "connecting" | "connected" | "stopped";

/** Why the engine stopped reconnecting, until an explicit connect. */
export type StopCode =
  | "authenticationFailed" | "invalidShard" | "shardingRequired" | "invalidApiVersion"
  | "invalidIntents" | "disallowedIntents";

/** Why the engine is waiting before its next attempt. */
export type WaitReason =
  | "backoff" | "retryAfter" | "identifyBudget" | "identifyConcurrency" | "identifyGrant" | "reconnectCeiling"
  | "invalidSession";

/** The last close of the gateway socket. */
export interface LastClose {
  code: number;
  reason: string;
  /** ms since epoch. */
  at: number;
}

/** A pending wait. */
export interface Waiting {
  /** When the next attempt starts (ms since epoch). */
  until: number;
  reason: WaitReason;
}

/** Heartbeat health. */
export interface HeartbeatStatus {
  intervalMs: number | null;
  roundTripMs: number | null;
  lastAckAt: number | null;
}

/** What is known of the bot's Identify budget (1000 per 24 h). */
export interface IdentifyBudget {
  total: number | null;
  remaining: number | null;
  /** ms since epoch. */
  resetsAt: number | null;
  lastIdentifyAt: number | null;
}

/** The last attempt that failed without a close from Discord. */
export interface LastFailure {
  reason: string;
  /** ms since epoch. */
  at: number;
}

/** Running totals since the engine was created. */
export interface Counters {
  framesReceived: number;
  eventsReceived: number;
  eventsForwarded: number;
  duplicatesSkipped: number;
  malformedFrames: number;
  unknownOpcodes: number;
  oversizeFrames: number;
  /** Messages too big to receive (close 1009): each ended the session and started a new one. */
  sizeFailures: number;
  unexpectedBinaryFrames: number;
  corruptStreams: number;
  staleInputs: number;
  heartbeatsSent: number;
  heartbeatAcks: number;
  zombieConnections: number;
  identifiesSent: number;
  resumesSent: number;
  reconnects: number;
  sendsRefused: number;
}

/** What the status shows of the webhook: its host, never the whole URL. */
export interface WebhookSummary {
  host: string;
  secretConfigured: boolean;
  /**
   * The secret was stored before signatures followed Standard Webhooks: it still signs, as the
   * key `"whsec_" + base64(old secret)`; connect again with a `whsec_` secret to replace it.
   */
  legacySecret?: boolean;
}

/** How delivery to the webhook is going. */
export interface DeliveryStatus {
  /** Events waiting in the outbox (in flight included). */
  pending: number;
  inFlight: number;
  oldestPendingAgeMs: number | null;
  delivered: number;
  failedAttempts: number;
  deadLetters: number;
  deadLettersDiscarded: number;
  overflowed: number;
  storageRowsWritten: number;
  /** Events read back from storage to deliver them (after a restart, or beyond what is kept in memory). */
  eventsReadBack: number;
  /** The last failure, without URL or secret. */
  lastError: string | null;
}

/** `200` answer to `GET /status`. Never contains a token or secret. */
export interface GatewayStatus {
  state: ConnectionState;
  /** What exactly the engine is doing, e.g. "idle", "identifying", "ready", "waiting to open the socket". */
  phase: string;
  sessionId: string | null;
  sequence: number | null;
  /** When the current session became ready (ms since epoch). */
  connectedAt: number | null;
  /** Failed attempts since the last READY or RESUMED. */
  reconnectAttempts: number;
  lastClose: LastClose | null;
  /** The last failed attempt or size failure, in words (e.g. an upgrade refused with HTTP 401). */
  lastFailure: LastFailure | null;
  stopCode: StopCode | null;
  /** The stop reason in words a user can act on. */
  stopReason: string | null;
  waiting: Waiting | null;
  heartbeat: HeartbeatStatus;
  identifyBudget: IdentifyBudget;
  counters: Counters;
  /** The talk-back routes' Discord REST rate limiter. */
  rest: RestStatus;
  /** The bot's presence as last set with `setPresence` (op 3's `d`), or null. */
  presence: PresenceResponse["presence"] | null;
  webhook: WebhookSummary | null;
  delivery: DeliveryStatus;
  insecureWebhooksAllowed: boolean;
  /** Alarm firings since this instance of the object started (each one is billed). */
  alarmWakeups: number;
  /** The version of the object's stored schema (README, "Storage and upgrades"). */
  schemaVersion: number;
}

// ---- dead letters -----------------------------------------------------------------------------

/** An event given up on, kept for replay. */
export interface DeadLetter {
  /**
   * Its outbox id; pass it to replay or drop it. On a sharded bot (issue 12) the string
   * `"<generation>.<shard>.<id>"`, which names the shard object that holds it.
   */
  id: number | string;
  /** On a sharded bot: the shard that holds it. */
  shard?: number;
  /** On a sharded bot: the generation of that shard's set. */
  generation?: number;
  /** `x-discord-gateway-event-id`. */
  eventId: string;
  eventType: string;
  channelId: string;
  createdAt: number;
  attempts: number;
  lastError: string;
}

/**
 * Body of the replay and drop routes: some dead letters by id (at least one, at most 1,000), or
 * every one with `{ all: true }`. Nothing else selects them all.
 */
export type DeadLetterSelection = { ids: (number | string)[] } | { all: true };

/** `200` answer to `GET /dead-letters`. */
export interface DeadLetterList {
  deadLetters: DeadLetter[];
}

/** `200` answer to the replay and drop routes. */
export interface DeadLetterOutcome {
  affected: number;
}

// ---- subscriptions (issue 10) ------------------------------------------------------------------

/** Which events a subscription receives; every field may be left out (an empty filter: all). */
export interface SubscriptionFilter {
  guildIds?: string[];
  /** A thread matches when its parent channel is named. */
  channelIds?: string[];
  eventTypes?: string[];
  directMessages?: boolean;
}

/** Body of `createSubscription` and `replaceSubscription`. */
export interface SubscriptionRequest {
  name?: string;
  kind: "push" | "pull";
  /** Push only. */
  webhookUrl?: string;
  /** Push only: a `whsec_` secret, or `"generate"` (the answer shows it once). */
  webhookSecret?: string;
  filter?: SubscriptionFilter;
}

/** A subscription as the admin API shows it (never its secret, URL or token). */
export interface SubscriptionView {
  name: string;
  kind: "push" | "pull";
  webhookHost?: string;
  secretConfigured?: boolean;
  filter: SubscriptionFilter;
}

/** How one subscription is doing. */
export interface SubscriptionCounts {
  pending: number;
  inFlight: number;
  deadLetters: number;
  delivered: number;
  failedAttempts: number;
  lastError: string | null;
  /** Events of the log it still holds. */
  lag: number;
}

export type SubscriptionListing = SubscriptionView & SubscriptionCounts;

/** `201` answer to `createSubscription` (`200` to `replaceSubscription`): shown once. */
export interface SubscriptionCreated extends SubscriptionView {
  webhookSecret?: string;
  /** Pull: the bearer token of `GET /v1/inbox`; stored as a hash only. */
  token?: string;
}

// ---- talking back ------------------------------------------------------------------------------

/**
 * Body of `POST /v1/messages`. Content over 2,000 characters is split into several messages, in
 * order (paragraph, line, then word boundaries; a cut code block is closed and reopened).
 * `allowed_mentions` defaults to `{ parse: [] }`: nobody is pinged unless you ask.
 */
export interface MessageRequest {
  channel_id: string;
  content: string;
  /** A message to reply to (the first message of a split reply is the reply). */
  reply_to?: string;
  /** Discord's `allowed_mentions` object. */
  allowed_mentions?: { parse?: ("users" | "roles" | "everyone")[]; users?: string[]; roles?: string[]; replied_user?: boolean };
}

/** `200` answer to `POST /v1/messages`: the created messages, in order. */
export interface MessagesResponse {
  message_ids: string[];
}

/** Body of `PUT`/`DELETE /v1/reactions`: a unicode emoji (`"👍"`) or a custom one as `"name:id"`. */
export interface ReactionRequest {
  channel_id: string;
  message_id: string;
  emoji: string;
}

/** What `status()` shows of the Discord REST rate limiter. */
export interface RestStatus {
  queued: number;
  inFlight: number;
  /** Requests sent to Discord, retries included. */
  sent: number;
  /** `429`s received. */
  rateLimited: number;
  /** `401`/`403`/`429` answers in the last 10 minutes (Discord bans an IP range at 10,000). */
  invalidInWindow: number;
  /** Sending stopped at 5,000 invalid answers in the window, until the count falls. */
  halted: boolean;
  haltedReason: string | null;
  buckets: number;
}

/** Body of `POST /presence`: sent as gateway op 3 now (when connected) and with every Identify. */
export interface PresenceRequest {
  status: "online" | "idle" | "dnd" | "invisible";
  /** At most 5; `type` 0 playing, 1 streaming, 2 listening, 3 watching, 4 custom, 5 competing. */
  activities?: { name: string; type?: number; state?: string; url?: string }[];
  afk?: boolean;
}

/** `200` answer to `POST /presence`: op 3's `d`, and whether it went out now. */
export interface PresenceResponse {
  presence: { since: null; activities: PresenceRequest["activities"]; status: string; afk: boolean };
  sent: boolean;
}

// ---- errors -----------------------------------------------------------------------------------

/** The object answered with an error: `{"error": "...", "field"?: "..."}` and a status code. */
export class GatewayError extends Error {
  /** The HTTP status (400 for a bad request, 413, 503, ...). */
  readonly status: number;
  /** The request field at fault, when one is (e.g. `"webhookUrl"`). */
  readonly field: string | undefined;

  constructor(status: number, message: string, field?: string) {
    super(message);
    this.name = "GatewayError";
    this.status = status;
    this.field = field;
  }
}

// ---- the client -------------------------------------------------------------------------------

/** A Durable Object location hint (`"wnam"`, `"enam"`, `"weur"`, ...). */
export type LocationHint = "wnam" | "enam" | "sam" | "weur" | "eeur" | "apac" | "oc" | "afr" | "me" | (string & {});

/** The part of a Durable Object stub this client uses. */
export interface GatewayObjectStub {
  fetch(input: string, init?: RequestInit): Promise<Response>;
}

/** The part of `DurableObjectNamespace` this client uses (structural: any workers-types fits). */
export interface GatewayNamespace<Id = unknown> {
  idFromName(name: string): Id;
  get(id: Id, options?: { locationHint?: LocationHint }): GatewayObjectStub;
}

export interface GatewayStubOptions<Id = unknown> {
  /** The binding, e.g. `env.DISCORD_GATEWAY`. */
  namespace: GatewayNamespace<Id>;
  /** Which object: one per bot (or per shard). Default `"default"`. */
  name?: string;
  /** Where to create the object the first time (ignored once it exists). */
  locationHint?: LocationHint;
}

/** One gateway connection's control API. */
export interface GatewayStub {
  /** Starts (or restarts with new settings) the connection; resolves once accepted, not connected. */
  connect(request?: ConnectRequest): Promise<ConnectResponse>;
  /** Closes the connection and forgets the session. */
  disconnect(): Promise<DisconnectResponse>;
  status(): Promise<GatewayStatus>;
  deadLetters(): Promise<DeadLetterList>;
  /** Sends dead letters again: `{ ids: [...] }`, or `{ all: true }` for every one. */
  replayDeadLetters(selection: DeadLetterSelection): Promise<DeadLetterOutcome>;
  /** Forgets dead letters: `{ ids: [...] }`, or `{ all: true }` for every one. */
  dropDeadLetters(selection: DeadLetterSelection): Promise<DeadLetterOutcome>;
  /** Every subscription, `default` first, with its counts. */
  subscriptions(): Promise<{ subscriptions: SubscriptionListing[] }>;
  /** Creates a push or pull subscription. */
  createSubscription(request: SubscriptionRequest): Promise<SubscriptionCreated>;
  /** One subscription by name. */
  subscription(name: string): Promise<SubscriptionListing>;
  /** Replaces a subscription's definition (same kind). */
  replaceSubscription(name: string, request: SubscriptionRequest): Promise<SubscriptionCreated>;
  /** Deletes a subscription (not `default`), releasing its events. */
  deleteSubscription(name: string): Promise<{ deleted: string }>;
  /** Posts a message as the bot (split when long), through the bot's REST rate limiter. */
  sendMessage(request: MessageRequest): Promise<MessagesResponse>;
  /** Adds the bot's reaction to a message. */
  addReaction(request: ReactionRequest): Promise<{ ok: true }>;
  /** Removes the bot's reaction from a message. */
  removeReaction(request: ReactionRequest): Promise<{ ok: true }>;
  /** Sets the bot's presence (kept for every new session, shown in `status()`). */
  setPresence(request: PresenceRequest): Promise<PresenceResponse>;
  /** A pull subscription's events after its cursor (with its token; long poll with `wait`). */
  inbox(token: string, query?: InboxQuery): Promise<InboxPage>;
  /** Moves a pull subscription's cursor: everything up to `cursor` is read (on a sharded bot
   * the opaque string `next_cursor` gave, never a number). */
  ack(token: string, cursor: Cursor): Promise<{ cursor: Cursor }>;
  /** A pull subscription's name, cursor, lag and filter. */
  me(token: string): Promise<PullSubscriptionInfo>;
  /** A new token for the pull subscription `subscription`, shown once; the old one stops at once. */
  rotateToken(subscription: string): Promise<{ name: string; token: string }>;
  /** The pull subscription's token stops working. */
  revokeToken(subscription: string): Promise<{ name: string; revoked: true }>;
}

// ---- pull subscriptions (issue 10) and their tokens ---------------------------------------

/** A place in a pull subscription's log: a position on a single-object bot; on a sharded bot an
 * opaque string (`s1.…`: one position per shard) to pass back as it is. */
export type Cursor = number | string;

/** Query of `GET /v1/inbox`: read after `after` (default: the stored cursor), at most `limit`
 * (1..200, default 50), holding the request up to `wait` seconds (0..25) until an event comes. */
export interface InboxQuery {
  after?: Cursor;
  limit?: number;
  wait?: number;
}

/** One inbox entry: an event (the webhook's body, Chat SDK enrichment included) or a gap. On a
 * sharded bot each names the shard (and its set's generation) whose log it comes from. */
export type InboxEntry =
  | {
      type: "event";
      position: number;
      shard?: number;
      generation?: number;
      event: { type: string; timestamp: number; data: unknown };
    }
  | { type: "gap"; missed: number; shard?: number; generation?: number };

/** `200` answer to `GET /v1/inbox`. Acknowledge `next_cursor` with `ack` once handled. */
export interface InboxPage {
  entries: InboxEntry[];
  next_cursor: Cursor;
}

/** `200` answer to `GET /v1/me`. */
export interface PullSubscriptionInfo {
  name: string;
  cursor: Cursor;
  /** Events it holds after its cursor. */
  lag: number;
  /** Events retention removed before it read them (the next page starts with a gap). */
  missed: number;
  filter: { guildIds?: string[]; channelIds?: string[]; eventTypes?: string[]; directMessages?: boolean };
}

/** The host is never looked at by the object; only the path and method matter. */
const ORIGIN = "https://gateway.internal";

/** Returns the control API of the object named `name` in `namespace`. */
export function getGatewayStub<Id>(options: GatewayStubOptions<Id>): GatewayStub {
  const { namespace, name = "default", locationHint } = options;
  const stub = namespace.get(namespace.idFromName(name), locationHint ? { locationHint } : undefined);

  async function call<T>(
    method: "GET" | "POST" | "PUT" | "DELETE",
    path: string,
    body?: unknown,
    options: { query?: Record<string, string | number | undefined>; token?: string } = {},
  ): Promise<T> {
    const headers: Record<string, string> = {};
    const init: RequestInit = { method, headers };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      headers["content-type"] = "application/json";
    }
    // A pull subscription's token; without one the object takes the caller for the admin.
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) query.set(key, String(value));
    }
    const search = query.toString() ? `?${query}` : "";
    const response = await stub.fetch(ORIGIN + path + search, init);
    const text = await response.text();
    let json: any;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!response.ok) {
      const message = typeof json?.error === "string" ? json.error : text || response.statusText;
      throw new GatewayError(response.status, message, typeof json?.field === "string" ? json.field : undefined);
    }
    if (json === undefined) {
      throw new GatewayError(response.status, `expected JSON from ${method} ${path}, got: ${text.slice(0, 200)}`);
    }
    return json as T;
  }

  return {
    connect: (request = {}) => call<ConnectResponse>("POST", "/connect", request),
    disconnect: () => call<DisconnectResponse>("POST", "/disconnect"),
    status: () => call<GatewayStatus>("GET", "/status"),
    deadLetters: () => call<DeadLetterList>("GET", "/dead-letters"),
    replayDeadLetters: (selection) => call<DeadLetterOutcome>("POST", "/dead-letters/replay", selection),
    dropDeadLetters: (selection) => call<DeadLetterOutcome>("POST", "/dead-letters/drop", selection),
    subscriptions: () => call<{ subscriptions: SubscriptionListing[] }>("GET", "/subscriptions"),
    createSubscription: (request) => call<SubscriptionCreated>("POST", "/subscriptions", request),
    subscription: (name) => call<SubscriptionListing>("GET", "/subscriptions/one", undefined, { query: { subscription: name } }),
    replaceSubscription: (name, request) =>
      call<SubscriptionCreated>("PUT", "/subscriptions", request, { query: { subscription: name } }),
    deleteSubscription: (name) => call<{ deleted: string }>("DELETE", "/subscriptions", undefined, { query: { subscription: name } }),
    sendMessage: (request) => call<MessagesResponse>("POST", "/v1/messages", request),
    addReaction: (request) => call<{ ok: true }>("PUT", "/v1/reactions", request),
    removeReaction: (request) => call<{ ok: true }>("DELETE", "/v1/reactions", request),
    setPresence: (request) => call<PresenceResponse>("POST", "/presence", request),
    inbox: (token, query = {}) => call<InboxPage>("GET", "/v1/inbox", undefined, { token, query: { ...query } }),
    ack: (token, cursor) => call<{ cursor: Cursor }>("POST", "/v1/ack", { cursor }, { token }),
    me: (token) => call<PullSubscriptionInfo>("GET", "/v1/me", undefined, { token }),
    rotateToken: (subscription) =>
      call<{ name: string; token: string }>("POST", "/subscriptions/rotate-token", undefined, { query: { subscription } }),
    revokeToken: (subscription) =>
      call<{ name: string; revoked: true }>("POST", "/subscriptions/revoke-token", undefined, { query: { subscription } }),
  };
}
