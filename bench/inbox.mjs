// Long-poll latency of a pull subscription (issue 10): an agent holds GET /v1/inbox?wait=25;
// a message is injected into the simulator's gateway; the time from the injection to the
// agent's answer, N times. Prints p50/p99/max. Not a test: numbers, no thresholds.
//
//   ./scripts/test build && source scripts/env.sh && node bench/inbox.mjs [samples]
import { deployment } from '../e2e/fixture.mjs';
import { sleep } from '../e2e/harness/index.mjs';
import { WORLD, agentCall, createPull, events, inbox } from '../e2e/harness/pull.mjs';

const samples = Number(process.argv[2] ?? 50);

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const d = await deployment();
let failed = false;
try {
  await d.connectReady();
  const token = await createPull(d, 'bench-agent', { channelIds: [WORLD.textChannelId] });
  const latencies = [];
  for (let i = 0; i < samples; i += 1) {
    const polling = inbox(d, token, { wait: 25 });
    await sleep(100); // held by now
    const injected = performance.now();
    await d.dispatch({ preset: 'guild_message', count: 1 });
    const res = await polling;
    const answered = performance.now();
    const got = res.status === 200 ? events(res.json) : [];
    if (got.length !== 1) {
      console.error(`sample ${i}: ${res.status} ${JSON.stringify(res.json)}`);
      failed = true;
      break;
    }
    latencies.push(answered - injected);
    await agentCall(d, token, 'POST', '/v1/ack', { cursor: res.json.next_cursor });
  }
  const sorted = [...latencies].sort((a, b) => a - b);
  if (sorted.length > 0) {
    const ms = (v) => `${v.toFixed(1)} ms`;
    console.log(
      `long poll, injected message → agent, ${sorted.length} samples: ` +
        `p50 ${ms(percentile(sorted, 50))}, p99 ${ms(percentile(sorted, 99))}, max ${ms(sorted.at(-1))}`,
    );
  }
} finally {
  await d.stop();
}
process.exit(failed ? 1 : 0);
