// What one warm `GET /status` costs (issue 9): p50/p90 of N calls through the entry Worker of the
// stand (bench/lib/stand.mjs) to a connected object that has delivered a few events, next to the
// floor (a 404 from the same entry path, which never reaches the object) and, with
// DGD_BASELINE_BUILD_DIR=<another build/>, the same calls to that build in the same run. The
// targets are called in turn, call by call, so load on the machine falls on all alike. Then the
// workerd CPU per call (its process tree's, 10 ms clock ticks): blocks of 50 calls of one target,
// the targets in turn, `calls` of each in all; steadier than wall time on a busy machine.
//
//   source scripts/env.sh && node bench/status.mjs [calls]            (default 200)
//   DGD_BUILD_DIR=<a build/> measures that build in the `ours` slot.
//   DGD_STATUS_PROFILE=<out.cpuprofile>: also a V8 CPU profile (100 µs) of the gateway's isolate
//   over 1,000 more status calls, and its 20 functions with the most self time (a
//   `./scripts/build-worker --profiling` build names the Wasm functions).
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { adminCall } from '../e2e/fixture.mjs';
import { cpuSeconds, startStand } from './lib/stand.mjs';
import { burst, connect, quantile } from './lib/workload.mjs';
import { formatTop, freePort, inspect, profileWhile, topSelfTime } from './lib/cpuprofile.mjs';

const calls = Number(process.argv[2] ?? 200);
const profileOut = process.env.DGD_STATUS_PROFILE;

const inspectorPort = profileOut ? await freePort() : undefined;
const stand = await startStand({ inspectorPort, baselineBuildDir: process.env.DGD_BASELINE_BUILD_DIR });
try {
  const targets = [['ours', '/status', 200]];
  if (stand.forwarders.baseline) targets.push(['baseline build', '/baseline/status', 200]);
  targets.push(['404 floor (entry only)', '/no-such-route', 404]);
  for (const fwd of [stand.forwarders.ours, stand.forwarders.baseline].filter(Boolean)) {
    await connect(fwd);
    await burst(stand, fwd, { events: 48 }); // a few delivered events, so the counts are not all 0
  }
  const one = async (p, expected) => {
    const start = performance.now();
    const res = await adminCall(stand.workers, 'GET', p);
    const ms = performance.now() - start;
    if (res.status !== expected) throw new Error(`GET ${p} answered ${res.status}`);
    return { ms, bytes: JSON.stringify(res.json ?? '').length };
  };
  for (let i = 0; i < 20; i += 1) for (const [, p, s] of targets) await one(p, s); // warm-up
  const times = targets.map(() => []);
  const bytes = targets.map(() => 0);
  for (let i = 0; i < calls; i += 1) {
    for (const [t, [, p, s]] of targets.entries()) {
      const r = await one(p, s);
      times[t].push(r.ms);
      bytes[t] = r.bytes;
    }
  }
  const cpu = targets.map(() => 0);
  const block = 50;
  for (let done = 0; done < calls; done += block) {
    for (const [t, [, p, s]] of targets.entries()) {
      const before = cpuSeconds(stand.workers.pid);
      for (let i = 0; i < block; i += 1) await one(p, s);
      cpu[t] += cpuSeconds(stand.workers.pid) - before;
    }
  }
  const rounds = Math.ceil(calls / block) * block;
  console.log(`${calls} warm calls each, interleaved; CPU over ${rounds} more of each`);
  console.log('| target | p50 ms | p90 ms | workerd CPU per call, ms | body bytes |\n|---|---|---|---|---|');
  for (const [t, [label]] of targets.entries()) {
    const cpuMs = ((cpu[t] * 1000) / rounds).toFixed(2);
    console.log(`| ${label} | ${quantile(times[t], 0.5).toFixed(2)} | ${quantile(times[t], 0.9).toFixed(2)} | ${cpuMs} | ${bytes[t]} |`);
  }
  if (profileOut) {
    const session = await inspect(inspectorPort, 'discord-gateway-do');
    const profile = await profileWhile(session, async () => {
      for (let i = 0; i < 1000; i += 1) await one('/status', 200);
    });
    session.close();
    fs.writeFileSync(profileOut, JSON.stringify(profile));
    console.log(`profile of 1,000 status calls: ${profileOut}`);
    console.log(formatTop(topSelfTime(profile, 20)));
  }
  for (const fwd of [stand.forwarders.ours, stand.forwarders.baseline].filter(Boolean)) await fwd.disconnect();
} finally {
  await stand.stop();
}
