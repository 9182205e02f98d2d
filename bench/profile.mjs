// V8 CPU profile of workerd during a burst (issue 9): which functions the per-event path spends
// its time in, Rust (Wasm, named in a `./scripts/build-worker --profiling` build) and JavaScript alike.
//
//   source scripts/env.sh && node bench/profile.mjs [ours|minimal|durable|extra] [events] [out.cpuprofile]
//   (extra: the forwarder of DGD_EXTRA_FORWARDER, bench/lib/stand.mjs; DGD_BUILD_DIR=<another build/>
//   profiles that build of ours, e.g. one from before a change)
//   node bench/profile.mjs --table saved.cpuprofile          (the table of a saved profile)
//   DGD_PROFILE_STEADY=1 node bench/profile.mjs ours 250     (the steady workload instead: `events`
//   at 50/s, each its own turn, as bench/forwarding.mjs's steady rounds)
//
// Starts the stand of bench/forwarding.mjs with Miniflare's inspector on, connects the forwarder,
// warms it up with a small burst, then samples its Worker's isolate every 100 µs over a burst of
// `events` (default 2,000) over 8 channels, saves the profile (open it in Chrome DevTools) and
// prints the 20 functions with the most self time.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startStand } from './lib/stand.mjs';
import { burst, connect, steady } from './lib/workload.mjs';
import { formatTop, freePort, inspect, profileWhile, topSelfTime } from './lib/cpuprofile.mjs';

/** The Worker (inspector target) each forwarder runs in. */
const WORKER = { ours: 'discord-gateway-do', minimal: 'minimal-forwarder', durable: 'minimal-forwarder', extra: 'extra-forwarder' };

if (process.argv[2] === '--table') {
  // DGD_PROFILE_STEADY=1: the steady workload's table (a sample counts for at most 200 µs).
  const options = process.env.DGD_PROFILE_STEADY ? { capUs: 200 } : {};
  console.log(formatTop(topSelfTime(JSON.parse(fs.readFileSync(process.argv[3], 'utf8')), 20, options)));
  process.exit(0);
}

const which = process.argv[2] ?? 'ours';
if (!WORKER[which]) throw new Error(`unknown forwarder ${which}: ours, minimal, durable or extra`);
const steadyRate = process.env.DGD_PROFILE_STEADY ? 50 : 0;
const events = Number(process.argv[3] ?? (steadyRate ? 250 : 2000));
const out = process.argv[4] ?? path.join(os.tmpdir(), `dgd-${which}-${Date.now()}.cpuprofile`);

const inspectorPort = await freePort();
const stand = await startStand({ inspectorPort });
try {
  const fwd = stand.forwarders[which];
  await connect(fwd);
  await burst(stand, fwd, { events: 200 }); // warm-up: JIT, Wasm tier-up, SQLite pages
  const session = await inspect(inspectorPort, WORKER[which]);
  let result;
  const profile = await profileWhile(session, async () => {
    result = steadyRate
      ? await steady(stand, fwd, { events, perSecond: steadyRate })
      : await burst(stand, fwd, { events });
  });
  session.close();
  await fwd.disconnect();
  fs.writeFileSync(out, JSON.stringify(profile));
  const workload = steadyRate
    ? `${events} at ${steadyRate}/s, p99 ${result.p99.toFixed(1)} ms`
    : `burst of ${events} over 8 channels, ${result.rate.toFixed(0)} events/s`;
  console.log(`${fwd.label}: ${workload}, ${result.cpuPerEventMs.toFixed(3)} ms workerd CPU/event`);
  console.log(`profile: ${out}`);
  // Steady: mostly waiting, so a sample counts for at most two intervals (see topSelfTime).
  console.log(formatTop(topSelfTime(profile, 20, steadyRate ? { capUs: 200 } : {})));
} finally {
  await stand.stop();
}
