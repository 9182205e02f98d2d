// The operator's page, per bot: its subscriptions (table, create, rotate/revoke a pull token,
// delete), a new token or secret shown once, and its shards when it has several. Loaded before
// admin.js, whose helpers (`$`, `api`, `cell`, `button`, `duration`) it uses at run time.
"use strict";

/** A filter as a short phrase: "guilds 1, 2 · channels 3 · MESSAGE_CREATE · DMs", or "everything". */
function filterSummary(filter) {
  if (!filter) return "—";
  const parts = [];
  if (filter.guildIds?.length) parts.push(`guilds ${filter.guildIds.join(", ")}`);
  if (filter.channelIds?.length) parts.push(`channels ${filter.channelIds.join(", ")}`);
  if (filter.eventTypes?.length) parts.push(filter.eventTypes.join(", "));
  if (filter.directMessages) parts.push("DMs");
  return parts.length ? parts.join(" · ") : "everything";
}

/**
 * The rows of the subscriptions table: `GET /subscriptions` (definitions and counts), with the
 * counts of `/status` `subscriptions` over them when the object reports those; without a
 * listing, `/status` alone, or else the one webhook of `/status` `delivery`.
 */
function subscriptionRows(listing, status) {
  const counted = new Map((Array.isArray(status.subscriptions) ? status.subscriptions : []).map((s) => [s.name, s]));
  const d = status.delivery || {};
  // Without `/status` `subscriptions`, the default webhook's delivery counters are `delivery`'s.
  const delivery = { delivered: d.delivered, failedAttempts: d.failedAttempts, lastError: d.lastError };
  // A sharded bot's coordinator delivers nothing itself: its shards do, and its `/status`
  // `subscriptions` adds up their figures (a coordinator without them: the shards' default).
  if (status.sharded) {
    const shardDelivery = shardedDelivery(status);
    const rows = listing || [{ name: "default", kind: "push", webhookHost: status.webhook?.host }];
    return rows.map((s) => ({ ...s, ...(counted.get(s.name) || (s.name === "default" ? shardDelivery : {})) }));
  }
  if (listing) {
    return listing.map((s) => ({ ...s, ...(counted.get(s.name) || (s.name === "default" && !counted.size ? delivery : {})) }));
  }
  if (counted.size) return [...counted.values()];
  return [{
    name: "default",
    kind: "push",
    webhookHost: status.webhook?.host,
    pending: d.pending,
    lagMs: d.oldestPendingAgeMs,
    deadLetters: d.deadLetters,
    ...delivery,
  }];
}

/**
 * The default webhook's delivery of a sharded bot, from its coordinator's `/status`: every
 * shard's (of every set, a stopping one too) delivered and outbox depth added up, the largest
 * lag. The coordinator reports no failed attempts, dead letters or last error per shard: `null`,
 * shown as "—".
 */
function shardedDelivery(status) {
  const shards = (Array.isArray(status.sets) ? status.sets : []).flatMap((set) => (Array.isArray(set.shards) ? set.shards : []));
  const sum = (key) => shards.reduce((a, shard) => a + Number(shard[key] ?? 0), 0);
  const lags = shards.map((shard) => shard.outboxLagMs).filter((ms) => ms != null);
  return {
    delivered: sum("delivered"),
    pending: sum("outboxDepth"),
    lag: null,
    lagMs: lags.length ? Math.max(...lags) : null,
    failedAttempts: null,
    deadLetters: null,
    lastError: null,
  };
}

/** A count: "—" where it is known to be unknown (`null`), else the number (missing: 0). */
function countText(value) {
  return value === null ? "—" : String(value ?? 0);
}

/** Lag: events still held (`lag`), or the oldest pending event's age from `/status` `delivery`. */
function lagText(s) {
  if (s.lag != null) return `${s.lag} events`;
  return duration(s.lagMs);
}

function renderSubscriptions(card, listing, status) {
  const rows = subscriptionRows(listing, status);
  $(".subscriptions tbody", card).replaceChildren(...rows.map((s) => {
    const row = document.createElement("tr");
    row.dataset.subscription = s.name;
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = s.webhookHost ? `${s.name} (${s.webhookHost})` : s.name;
    row.append(th);
    cell(row, s.kind || "—");
    cell(row, filterSummary(s.filter)).classList.add("wrap");
    cell(row, countText(s.pending)).dataset.count = "pending";
    cell(row, lagText(s)).dataset.count = "lag";
    cell(row, countText(s.delivered)).dataset.count = "delivered";
    cell(row, countText(s.failedAttempts)).dataset.count = "failed";
    cell(row, countText(s.deadLetters)).dataset.count = "dead";
    cell(row, s.lastError || "—").classList.add("wrap");
    const actions = cell(row, "");
    const extra = { subscription: s.name };
    if (s.kind === "pull") {
      actions.append(
        button("Rotate token", "rotate-token", extra),
        button("Revoke token", "revoke-token", extra),
      );
    }
    if (listing && s.name !== "default") actions.append(button("Delete", "delete-subscription", extra));
    for (const b of actions.querySelectorAll("button")) b.setAttribute("aria-label", `${b.textContent} of ${s.name}`);
    return row;
  }));
  renderDeadLetterPicker(card, status);
}

/** The dead-letter selector: only when `/status` reports subscriptions (the routes take `?subscription=`). */
function renderDeadLetterPicker(card, status) {
  const picker = $(".dl-picker", card);
  const select = $(".dl-subscription", card);
  const push = Array.isArray(status.subscriptions) ? status.subscriptions.filter((s) => s.kind === "push") : [];
  picker.hidden = push.length < 2;
  if (picker.hidden) return;
  const names = push.map((s) => s.name);
  const current = select.value || "default";
  if ([...select.options].map((o) => o.value).join() !== names.join()) {
    select.replaceChildren(...names.map((name) => new Option(name, name)));
  }
  select.value = names.includes(current) ? current : names[0];
}

/** The subscription whose dead letters are shown: `?subscription=` for the dead-letter routes. */
function deadLetterQuery(card) {
  const picker = $(".dl-picker", card);
  if (picker.hidden) return "";
  return `?subscription=${encodeURIComponent($(".dl-subscription", card).value)}`;
}

/** Splits "1, 2 3" into ["1", "2", "3"]. */
function list(text) {
  return text.split(/[\s,]+/).filter(Boolean);
}

/** The create request a form describes; only the fields given. */
function subscriptionRequest(form) {
  const data = new FormData(form);
  const kind = data.get("kind");
  const filter = {};
  for (const key of ["guildIds", "channelIds", "eventTypes"]) {
    const values = list(String(data.get(key) || ""));
    if (values.length) filter[key] = values;
  }
  if (data.get("directMessages")) filter.directMessages = true;
  const body = { name: String(data.get("name") || "").trim(), kind, filter };
  if (kind === "push") {
    body.webhookUrl = String(data.get("webhookUrl") || "").trim();
    if (data.get("generateSecret")) body.webhookSecret = "generate";
  }
  return body;
}

/** Shows a new token or secret once, in the card's marked box; it lives only in the page's DOM. */
function showOnce(card, title, value) {
  const box = $(".once", card);
  $(".once-title", box).textContent = title;
  $(".once-value", box).textContent = value;
  $(".once-copied", box).textContent = "";
  box.hidden = false;
  box.focus();
}

function dismissOnce(card) {
  const box = $(".once", card);
  $(".once-value", box).textContent = "";
  $(".once-title", box).textContent = "";
  box.hidden = true;
}

async function copyOnce(card) {
  const value = $(".once-value", card).textContent;
  let said = "Copied.";
  try {
    await navigator.clipboard.writeText(value);
  } catch {
    // No clipboard permission (plain http, an embedded browser): select it for a manual copy.
    const range = document.createRange();
    range.selectNodeContents($(".once-value", card));
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    said = "Selected: press Ctrl+C (⌘C) to copy.";
  }
  $(".once-copied", card).textContent = said;
}

/** Creates the subscription the card's form describes, and shows its token or secret once. */
async function createSubscription(name, card, form) {
  const submit = $("button[type=submit]", form);
  submit.disabled = true;
  try {
    const created = await api("POST", "/subscriptions", name, subscriptionRequest(form));
    form.reset();
    syncKind(form);
    form.closest("details").open = false;
    if (created.token) showOnce(card, `Token of pull subscription ${created.name}:`, created.token);
    else if (created.webhookSecret) showOnce(card, `Signing secret of ${created.name}:`, created.webhookSecret);
    showError("");
    await refresh();
  } catch (e) {
    showError(`Creating the subscription failed: ${e.message}`);
  } finally {
    submit.disabled = false;
  }
}

/** Push-only fields show for push only. */
function syncKind(form) {
  const push = new FormData(form).get("kind") === "push";
  $(".push-only", form).hidden = !push;
}

/** Wires a new card's subscription form. */
function wireSubscriptionForm(name, card) {
  const form = $(".subscription-form", card);
  form.addEventListener("change", () => syncKind(form));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    createSubscription(name, card, form);
  });
  $(".dl-subscription", card).addEventListener("change", () => refresh());
  syncKind(form);
}

const SUBSCRIPTION_ACTIONS = {
  "rotate-token": {
    confirm: (name, b) => `Rotate the token of ${b.dataset.subscription}? The old token stops working at once.`,
    call: async (name, b, card) => {
      const rotated = await api("POST", `/subscriptions/rotate-token?subscription=${encodeURIComponent(b.dataset.subscription)}`, name);
      showOnce(card, `New token of pull subscription ${rotated.name}:`, rotated.token);
    },
  },
  "revoke-token": {
    confirm: (name, b) => `Revoke the token of ${b.dataset.subscription}? Its agents get 401 until you rotate a new one.`,
    call: (name, b) => api("POST", `/subscriptions/revoke-token?subscription=${encodeURIComponent(b.dataset.subscription)}`, name),
  },
  "delete-subscription": {
    confirm: (name, b) => `Delete subscription ${b.dataset.subscription} of ${name}? Its pending events and dead letters are dropped.`,
    call: (name, b) => api("DELETE", `/subscriptions?subscription=${encodeURIComponent(b.dataset.subscription)}`, name),
  },
  "copy-once": { confirm: null, local: true, call: (name, b, card) => copyOnce(card) },
  "dismiss-once": { confirm: null, local: true, call: (name, b, card) => dismissOnce(card) },
};

function number(value, digits = 0) {
  return value == null ? "—" : Number(value).toFixed(digits);
}

/** A cell holding a figure, marked `data-figure` so a reader (or a test) can find it by name. */
function figure(row, figureName, text) {
  cell(row, text).dataset.figure = figureName;
}

/**
 * The shards of a sharded bot's `/status` (`sharded`, `sets[].shards`, `totals`, `lastError`,
 * `lastReshardFailure`): one row per shard of every set (the primary set first), the totals, and
 * what last went wrong. Nothing for a single-shard bot.
 */
function renderShards(card, status) {
  const section = $(".shards", card);
  const sets = Array.isArray(status.sets) ? status.sets : [];
  section.hidden = !status.sharded || sets.length === 0;
  // A coordinator has no session, heartbeat or history of its own: its shards have them.
  card.classList.toggle("sharded", !section.hidden);
  if (section.hidden) return;
  const ordered = [...sets].sort((a, b) => Number(Boolean(b.primary)) - Number(Boolean(a.primary)));
  const rows = [];
  for (const set of ordered) {
    for (const shard of Array.isArray(set.shards) ? set.shards : []) {
      const row = document.createElement("tr");
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = `${shard.shard} of ${set.count}${set.primary ? "" : " (next)"}`;
      row.append(th);
      row.dataset.shard = `${shard.shard}/${set.count}`;
      cell(row, shard.state ?? "—").dataset.state = shard.state ?? "";
      figure(row, "guilds", number(shard.guilds));
      figure(row, "heartbeat", shard.heartbeatLatencyMs == null ? "—" : `${shard.heartbeatLatencyMs} ms`);
      figure(row, "events", number(shard.eventsReceived));
      figure(row, "events-per-second", number(shard.eventsPerSecond, 2));
      figure(row, "outbox", number(shard.outboxDepth));
      figure(row, "lag", duration(shard.outboxLagMs));
      rows.push(row);
    }
  }
  $("tbody", section).replaceChildren(...rows);
  const t = status.totals || {};
  const total = document.createElement("tr");
  const th = document.createElement("th");
  th.scope = "row";
  th.textContent = "Total";
  total.append(th);
  figure(total, "ready", `${t.ready ?? 0} of ${t.shards ?? 0} ready`);
  figure(total, "guilds", number(t.guilds));
  cell(total, "");
  // `totals` has no events received: the primary set's shards add up to it.
  const primary = sets.find((set) => set.primary);
  const received = (primary?.shards ?? []).map((shard) => shard.eventsReceived).filter((n) => n != null);
  figure(total, "events", received.length ? String(received.reduce((a, b) => a + Number(b), 0)) : "—");
  figure(total, "events-per-second", number(t.eventsPerSecond, 2));
  figure(total, "outbox", number(t.outboxDepth));
  figure(total, "lag", duration(t.outboxLagMs));
  $("tfoot", section).replaceChildren(total);
  $(".shard-summary", section).textContent = reshardText(status.reshard);
  const problem = [status.lastError, reshardFailureText(status.lastReshardFailure)].filter(Boolean).join(" · ");
  const error = $(".shard-error", section);
  error.textContent = problem;
  error.hidden = !problem;
}

/** `/status` `lastReshardFailure` in words: why the last reshard was abandoned, if it was. */
function reshardFailureText(failure) {
  if (!failure || typeof failure !== "object") return "";
  if (failure.reason === "shardFailed") return `Resharding to ${failure.count} shards abandoned: shard ${failure.shard} failed.`;
  if (failure.reason === "timedOut") return `Resharding to ${failure.count} shards abandoned: ${failure.ready} of ${failure.count} ready by the deadline.`;
  return `Resharding abandoned (${failure.reason ?? "unknown"}).`;
}

/** `/status` `reshard` in words: nothing while one set runs, else where the new set stands. */
function reshardText(reshard) {
  if (!reshard || typeof reshard !== "object" || reshard.phase === "running") return "";
  if (reshard.phase === "starting") return `(resharding: ${reshard.old} → ${reshard.new} shards, new set starting)`;
  if (reshard.phase === "switching") return `(resharding: ${reshard.old} → ${reshard.new} shards, old set stopping)`;
  return `(resharding: ${reshard.phase ?? "unknown"})`;
}
