// The long chaos run (issue 8, item 14): the same seeded storms as e2e/chaos.test.mjs, longer and
// over more seeds. Not a test: it prints each run's outcome and exits non-zero if one lost an
// event, reordered a channel or stalled, so a failing seed can be replayed with DGD_CHAOS_SEEDS.
//
//   ./scripts/test build && source scripts/env.sh && node bench/chaos.mjs [seconds] [seeds]
//   e.g. node bench/chaos.mjs 300 1,2,3,4
import { assertChaosOutcome, runChaos } from '../e2e/harness/chaos.mjs';

const seconds = Number(process.argv[2] ?? 240);
const seeds = (process.argv[3] ?? '1,2,3').split(',').map(Number);
let failed = 0;
for (const seed of seeds) {
  const started = Date.now();
  const run = await runChaos({ seed, seconds, log: (line) => console.log(`  ${line}`) });
  const counts = {};
  for (const f of run.faults) counts[f] = (counts[f] ?? 0) + 1;
  const duplicates = run.accepted.length - new Set(run.accepted.map((r) => r.json().data.id)).size;
  let verdict = 'ok';
  try {
    assertChaosOutcome(run);
  } catch (err) {
    verdict = `FAILED: ${err.message}`;
    failed += 1;
  }
  console.log(
    `seed ${seed}: ${seconds} s, ${run.faults.length} faults ${JSON.stringify(counts)}; ` +
      `${run.sent.length} sent, ${run.required.length} required, ${run.missing.length} missing, ` +
      `${duplicates} duplicate arrivals (same event id), ${run.status.alarmWakeups} alarm wake-ups since the last restart, ` +
      `${Math.round((Date.now() - started) / 1000)} s in all: ${verdict}`,
  );
}
process.exit(failed ? 1 : 0);
