// Liveness under a mix of faults (issue 8, item 14): seeded storms of op 7, dropped connections,
// zombies, op 9 both ways, close 4000, runtime kills, webhook outages, slowness and dropped
// webhook connections over a steady stream. Nothing Discord delivered is lost, a duplicate only
// ever carries the same event id, and each channel keeps its order. bench/chaos.mjs runs longer.
//   DGD_CHAOS_SEEDS=1,2,3 DGD_CHAOS_SECONDS=45 (the defaults below are what CI affords)
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { assertChaosOutcome, runChaos } from './harness/chaos.mjs';
import { deployment } from './fixture.mjs';
import { waitFor } from './harness/index.mjs';

const SEEDS = (process.env.DGD_CHAOS_SEEDS ?? '11,23').split(',').map(Number);
const SECONDS = Number(process.env.DGD_CHAOS_SECONDS ?? 40);
const CHANNELS = Array.from({ length: 8 }, (_, i) => `130000000000000080${i}`);

describe('chaos: liveness under a mix of faults', () => {
  // The sequence the review found: while more channels wait than delivery.concurrency allows,
  // the next delivery's due time is already past. Planned in the handler of the alarm set for
  // that very time, the runtime asked for the same alarm again (a no-op), the handler's end
  // deleted it, and the object believed it was still set: once frames stopped (op 9), nothing
  // ever woke it again.
  test('item 14: a slow webhook over more channels than the concurrency, then op 9, still reconnects', { timeout: 120_000 }, async () => {
    const d = await deployment();
    try {
      await d.connectReady();
      let slow = true;
      d.receiver.setHandler(() => (slow ? { status: 200, delayMs: 2000 } : { status: 200 }));
      for (let round = 0; round < 3; round += 1) {
        for (const channel_id of CHANNELS) {
          await d.dispatch({ preset: 'guild_message', overrides: { channel_id, content: `r${round}` } });
        }
      }
      await waitFor(async () => (await d.status()).delivery.inFlight === 4, { timeoutMs: 10_000, message: 'every delivery slot busy' });
      // Alarms fire while the slots are busy and the rest is due.
      await waitFor(async () => (await d.status()).delivery.pending === 0, { timeoutMs: 60_000, intervalMs: 250, message: 'the slow backlog delivered' });
      slow = false;
      const before = (await d.sim.state()).connections.length;
      await d.sim.control('/_sim/invalid-session', { resumable: true });
      await waitFor(async () => (await d.sim.state()).connections.length > before, { timeoutMs: 15_000, message: 'a new connection after op 9' });
      await d.waitForState('connected');
      const { sent: [event] } = await d.dispatch({ preset: 'guild_message', overrides: { channel_id: CHANNELS[0], content: 'after' } });
      await d.receiver.waitFor((rs) => rs.some((r) => r.json().data.id === event.data.id), 10_000);
      const resumed = (await d.sim.state()).resumes.length;
      assert.ok(resumed >= 1, 'the session was resumed');
    } finally {
      await d.stop();
    }
  });

  for (const seed of SEEDS) {
    test(`seed ${seed}: ${SECONDS} s of faults lose nothing, keep order, and the object never stalls`, { timeout: (SECONDS + 200) * 1000 }, async () => {
      const run = await runChaos({ seed, seconds: SECONDS, log: (line) => process.env.DGD_E2E_VERBOSE && console.log(line) });
      assert.ok(run.required.length >= SECONDS * 10, `a steady stream (${run.required.length} events)`);
      assert.ok(run.faults.length >= SECONDS / 8, `a storm (${run.faults.length} faults)`);
      assertChaosOutcome(run);
    });
  }
});
