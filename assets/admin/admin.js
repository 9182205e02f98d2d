// The operator's page: reads the control API of this origin with the admin token kept in
// sessionStorage, and never sends it anywhere else (every URL below is a same-origin path, and the
// page's Content-Security-Policy allows `connect-src 'self'` only).
"use strict";

const TOKEN_KEY = "dgd-admin-token";
const EXTRA_BOTS_KEY = "dgd-extra-bots";
const REFRESH_MS = 3000;
const $ = (selector, root = document) => root.querySelector(selector);

const state = { timer: null, cards: new Map() };

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** One control-API call: a same-origin path, the admin token as the bearer token. */
async function api(method, path, name, body) {
  const url = new URL(path, location.origin);
  if (url.origin !== location.origin) throw new Error("refusing a request to another origin");
  if (name !== undefined) url.searchParams.set("name", name);
  const init = { method, headers: { authorization: `Bearer ${token()}` }, cache: "no-store" };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON: reported below */
  }
  if (!response.ok) {
    const why = json && json.error ? json.error : `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, why);
  }
  return json;
}

function showError(message) {
  const el = $("#error");
  el.textContent = message;
  el.hidden = !message;
}

function svg(tag, attrs) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** Draws values (oldest first) as a line in a 300×60 box, and says its range in `caption`. */
function drawLine(target, caption, unit, values) {
  target.replaceChildren();
  const name = target.getAttribute("aria-label").split(":")[0];
  if (!values.length) {
    caption.textContent = "(no data yet)";
    target.setAttribute("aria-label", `${name}: no data yet`);
    return;
  }
  if (values.length === 1) values = [values[0], values[0]]; // one sample: a flat line
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? 300 / (values.length - 1) : 0;
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(58 - (v / max) * 54).toFixed(1)}`);
  target.append(svg("polyline", { points: points.join(" "), class: "line" }));
  caption.textContent = `(latest ${values.at(-1)}${unit}, max ${max}${unit})`;
  const total = values.reduce((a, b) => a + b, 0);
  target.setAttribute("aria-label", `${name}: latest ${values.at(-1)}, max ${max}`);
  target.dataset.total = String(total);
}

function duration(ms) {
  if (ms == null) return "—";
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.append(td);
  return td;
}

function button(label, action, extra = {}) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.dataset.action = action;
  Object.assign(b.dataset, extra);
  return b;
}

function renderStatus(card, name, status) {
  $(".name", card).textContent = name;
  const st = $(".state", card);
  st.textContent = status.state;
  st.dataset.state = status.state;
  const stop = $(".stop-reason", card);
  stop.textContent = status.stopReason ? `Stopped: ${status.stopReason}` : "";
  stop.hidden = !status.stopReason;
  $(".session", card).textContent = status.sessionId || "—";
  $(".sequence", card).textContent = status.sequence ?? "—";
  const hb = status.heartbeat || {};
  $(".heartbeat", card).textContent = hb.roundTripMs == null ? "—" : `${hb.roundTripMs} ms`;
  $(".events", card).textContent = String(status.counters?.eventsReceived ?? 0);
  const history = status.history || {};
  drawLine($(".heartbeat-chart", card), $(".heartbeat-range", card), " ms",
    (history.heartbeat || []).map((h) => h.roundTripMs));
  drawLine($(".events-chart", card), $(".events-range", card), "",
    (history.eventsPerMinute || []).map((m) => m.events));
  renderShards(card, status);
}

/** A dead letter's id as GET /dead-letters gave it: a number, or on a sharded bot the string
 * "<generation>.<shard>.<id>" (issue 12). */
function deadLetterId(b) {
  return /^\d+$/.test(b.dataset.id) ? Number(b.dataset.id) : b.dataset.id;
}

function renderDeadLetters(card, list) {
  const body = $(".dead-letters tbody", card);
  const letters = list.deadLetters || [];
  $(".dead-letters summary", card).textContent = `Dead letters (${letters.length})`;
  $(".dead-letters .none", card).hidden = letters.length > 0;
  $(".dead-letters table", card).hidden = letters.length === 0;
  $(".dead-letters .actions", card).hidden = letters.length === 0;
  body.replaceChildren(...letters.map((d) => {
    const row = document.createElement("tr");
    cell(row, String(d.id));
    cell(row, `${d.eventType} ${d.eventId}`);
    cell(row, d.channelId || "—");
    cell(row, String(d.attempts));
    cell(row, d.lastError);
    const actions = cell(row, "");
    actions.append(
      button("Replay", "replay-one", { id: d.id }),
      button("Drop", "drop-one", { id: d.id }),
    );
    return row;
  }));
}

function cardFor(name) {
  let card = state.cards.get(name);
  if (!card) {
    card = $("#bot-template").content.firstElementChild.cloneNode(true);
    card.dataset.bot = name;
    $(".name", card).textContent = name;
    card.addEventListener("click", (event) => onAction(name, card, event));
    wireSubscriptionForm(name, card);
    state.cards.set(name, card);
    $("#bots").append(card);
  }
  return card;
}

async function botNames() {
  const extra = JSON.parse(sessionStorage.getItem(EXTRA_BOTS_KEY) || "[]");
  let names = [];
  try {
    names = (await api("GET", "/bots")).bots.map((b) => (typeof b === "string" ? b : b.name));
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404) throw e;
    names = ["default"];
  }
  return [...new Set([...names, ...extra])];
}

/** `GET /subscriptions`, or `null` where the object has none (an older deployment, a coordinator). */
async function subscriptionListing(name) {
  try {
    return (await api("GET", "/subscriptions", name)).subscriptions;
  } catch (e) {
    if (e instanceof ApiError && e.status !== 401) return null;
    throw e;
  }
}

async function refresh() {
  try {
    const names = await botNames();
    await Promise.all(names.map(async (name) => {
      const card = cardFor(name);
      const [status, letters, listing] = await Promise.all([
        api("GET", "/status", name),
        api("GET", `/dead-letters${deadLetterQuery(card)}`, name),
        subscriptionListing(name),
      ]);
      renderStatus(card, name, status);
      renderSubscriptions(card, listing, status);
      renderDeadLetters(card, letters);
    }));
    showError("");
    $("#refreshed").textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      logout("That admin token is wrong: the gateway answered 401. Type the GATEWAY_ADMIN_TOKEN secret again.");
      return;
    }
    showError(`Could not refresh: ${e.message}`);
  }
}

const ACTIONS = {
  connect: { confirm: null, call: (name) => api("POST", "/connect", name, {}) },
  disconnect: {
    confirm: (name) => `Disconnect ${name}? It closes the connection and forgets its credentials and session.`,
    call: (name) => api("POST", "/disconnect", name),
  },
  "replay-all": {
    confirm: (name) => `Replay every dead letter of ${name}?`,
    call: (name, b, card) => api("POST", `/dead-letters/replay${deadLetterQuery(card)}`, name, { all: true }),
  },
  "drop-all": {
    confirm: (name) => `Drop every dead letter of ${name}? They cannot be recovered.`,
    call: (name, b, card) => api("POST", `/dead-letters/drop${deadLetterQuery(card)}`, name, { all: true }),
  },
  "replay-one": {
    confirm: null,
    call: (name, b, card) => api("POST", `/dead-letters/replay${deadLetterQuery(card)}`, name, { ids: [deadLetterId(b)] }),
  },
  "drop-one": {
    confirm: (name, b) => `Drop dead letter ${b.dataset.id} of ${name}? It cannot be recovered.`,
    call: (name, b, card) => api("POST", `/dead-letters/drop${deadLetterQuery(card)}`, name, { ids: [deadLetterId(b)] }),
  },
};

async function onAction(name, card, event) {
  const b = event.target.closest("button[data-action]");
  if (!b) return;
  const action = ACTIONS[b.dataset.action] || SUBSCRIPTION_ACTIONS[b.dataset.action];
  if (!action) return;
  if (action.confirm && !confirm(action.confirm(name, b))) return;
  b.disabled = true;
  try {
    await action.call(name, b, card);
    if (!action.local) await refresh();
  } catch (e) {
    showError(`${b.textContent} failed: ${e.message}`);
  } finally {
    b.disabled = false;
  }
}

function showApp(loggedIn) {
  $("#login").hidden = loggedIn;
  $("#bots").hidden = !loggedIn;
  $("#add-bot").hidden = !loggedIn;
  $("#logout").hidden = !loggedIn;
  clearInterval(state.timer);
  if (loggedIn) {
    refresh();
    state.timer = setInterval(refresh, REFRESH_MS);
  }
}

function logout(message = "") {
  sessionStorage.removeItem(TOKEN_KEY);
  state.cards.clear();
  $("#bots").replaceChildren();
  showApp(false);
  showError(message);
  $("#token").focus();
}

document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("#token").value);
    $("#token").value = "";
    showError("");
    showApp(true);
  });
  $("#add-bot").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = $("#bot-name").value.trim();
    const extra = new Set(JSON.parse(sessionStorage.getItem(EXTRA_BOTS_KEY) || "[]"));
    extra.add(name);
    sessionStorage.setItem(EXTRA_BOTS_KEY, JSON.stringify([...extra]));
    $("#bot-name").value = "";
    refresh();
  });
  $("#logout").addEventListener("click", () => logout());
  showApp(Boolean(token()));
});
