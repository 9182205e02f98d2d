// `/connect` → READY, traced (issue 9): one connect of each forwarder split into segments on one
// clock, to see where a connect's time goes rather than a ratio. Not a test: it prints numbers.
//
//   ./scripts/build-worker && cargo build -p gateway-sim --release
//   source scripts/env.sh && node bench/connect-trace.mjs [connects per forwarder, default 7]
//   (DGD_BASELINE_BUILD_DIR and DGD_EXTRA_FORWARDER* as in bench/forwarding.mjs)
//
// Each timed connect is what bench/forwarding.mjs times (bench/lib/stand.mjs): the bench sends the
// forwarder its connect, then polls its status over HTTP, through the same entry Worker, every
// 5 ms, until it says READY. Here the bench also notes when each of its requests left and was
// answered, and asks the simulator afterwards when it saw the connect's moments (`GET
// /_sim/trace`: `gateway_bot` arrived, the upgrade's `101` written, `hello` queued, `identify`
// arrived, `ready` queued). The simulator's clock is the wall clock in µs; the bench's is
// `performance.timeOrigin + performance.now()`; both on this machine. Times are ms from the bench
// sending the connect; the JS minimal forwarder is given the gateway URL, so it has no
// `gateway_bot`. Forwarders connect in interleaved rounds (the order rotates), after one untimed
// connect each; each build of this Worker connects at least 10.1 s after its previous connect
// (bench/forwarding.mjs says why).
import { startStand, POLL_INTERVAL_MS } from './lib/stand.mjs';

const CONNECTS = Number(process.argv[2] ?? 7);
const SPACING_MS = 10_100;

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Median, min and max. */
function spread(values) {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  return { median: sorted[Math.floor(sorted.length / 2)], min: sorted[0], max: sorted.at(-1) };
}

/** The segments of one connect, each a [label, from, to] of the moments below. */
const SEGMENTS = [
  ['connect answered', 'sent', 'answered'],
  ['sent → gateway_bot', 'sent', 'gateway_bot'],
  ['gateway_bot → upgraded', 'gateway_bot', 'upgraded'],
  ['sent → upgraded', 'sent', 'upgraded'],
  ['upgraded → identify', 'upgraded', 'identify'],
  ['hello → identify', 'hello', 'identify'],
  ['identify → ready', 'identify', 'ready'],
  ['ready → READY poll sent', 'ready', 'pollSent'],
  ['READY poll sent → seen', 'pollSent', 'seen'],
  ['ready → seen', 'ready', 'seen'],
  ['sent → seen (total)', 'sent', 'seen'],
];

/** Times one connect of `fwd`: the bench's own moments, then the simulator's of the same connect. */
async function traceConnect(stand, fwd) {
  const sent = now();
  await fwd.sendConnect();
  const answered = now();
  const polls = [];
  for (;;) {
    const pollSent = now();
    const ready = await fwd.isReady();
    polls.push({ pollSent, seen: now() });
    if (ready) break;
    if (now() - sent > 15_000) throw new Error(`${fwd.label}: no READY in 15 s`);
    await sleep(POLL_INTERVAL_MS);
  }
  const { events } = await stand.sim.control('/_sim/trace');
  const first = (event) => events.find((e) => e.event === event && e.atUs / 1000 >= sent)?.atUs / 1000;
  const moments = { sent, answered, ...polls.at(-1) };
  for (const event of ['gateway_bot', 'upgraded', 'hello', 'identify', 'ready']) moments[event] = first(event);
  const pollMs = polls.slice(0, -1).map((p) => p.seen - p.pollSent);
  return { moments, polls: polls.length, notReadyPollMs: spread(pollMs)?.median };
}

const stand = await startStand({ baselineBuildDir: process.env.DGD_BASELINE_BUILD_DIR });
try {
  const names = ['ours', ...(stand.forwarders.baseline ? ['baseline'] : []), ...(stand.forwarders.extra ? ['extra'] : []), 'minimal'];
  const SPACED = new Set(['ours', 'baseline']);
  const lastConnect = new Map();
  const spaced = async (name) => {
    const last = lastConnect.get(name);
    if (SPACED.has(name) && last !== undefined) {
      const wait = last + SPACING_MS - Date.now();
      if (wait > 0) await sleep(wait);
    }
    lastConnect.set(name, Date.now());
  };
  /** results[name] = [{moments, polls, notReadyPollMs}] */
  const results = Object.fromEntries(names.map((n) => [n, []]));
  for (let round = -1; round < CONNECTS; round += 1) {
    const order = names.map((_, i) => names[(i + Math.max(round, 0)) % names.length]);
    for (const name of order) {
      const fwd = stand.forwarders[name];
      await spaced(name);
      const traced = await traceConnect(stand, fwd);
      await fwd.disconnect();
      if (round >= 0) results[name].push(traced);
    }
  }

  const heading = { ours: 'discord-gateway-do', baseline: 'baseline build', extra: stand.forwarders.extra?.label, minimal: 'minimal JS DO' };
  const cell = (values) => {
    const s = spread(values);
    return s ? `${s.median.toFixed(1)} (${s.min.toFixed(1)}-${s.max.toFixed(1)})` : '-';
  };
  const rows = [
    ...SEGMENTS.map(([label, from, to]) => [label, (r) => r.moments[to] - r.moments[from]]),
    ['status polls', (r) => r.polls],
    ['a not-READY poll, ms', (r) => r.notReadyPollMs],
  ];
  console.log(`/connect → READY, traced: ${CONNECTS} connects per forwarder (interleaved rounds, after one untimed connect each); ms, median (min-max)`);
  console.log(`| segment | ${names.map((n) => heading[n]).join(' | ')} |`);
  console.log(`|---|${names.map(() => '---|').join('')}`);
  for (const [label, get] of rows) console.log(`| ${label} | ${names.map((n) => cell(results[n].map(get))).join(' | ')} |`);
} finally {
  await stand.stop();
}
