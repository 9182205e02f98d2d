// The REST rate limiter against a bucket (issue 11): N posts to one channel through
// POST /v1/messages, against the simulator's create-message bucket of LIMIT per WINDOW ms.
// Prints how long they took next to the bucket's minimum (every full window but the last must
// pass) and how many 429s the simulator sent. Not a test: numbers, no thresholds.
//
//   ./scripts/test build && source scripts/env.sh && node bench/ratelimit.mjs [posts] [limit] [windowMs]
//   e.g. node bench/ratelimit.mjs 50 5 5000
import { deployment } from '../e2e/fixture.mjs';
import { bucketMinimumMs, postMany, restLog } from '../e2e/harness/talk.mjs';

const posts = Number(process.argv[2] ?? 50);
const limit = Number(process.argv[3] ?? 5);
const windowMs = Number(process.argv[4] ?? 5000);

const d = await deployment();
let failed = false;
try {
  await d.connectReady();
  await d.sim.control('/_sim/config', { restMessagesBucket: { limit, windowMs } });
  const { answers, elapsedMs } = await postMany(d, posts, { staggerMs: 0 });
  const refused = answers.filter((a) => a.status !== 200);
  const log = await restLog(d.sim);
  const tooMany = log.filter((e) => e.status === 429).length;
  const minimum = bucketMinimumMs(posts, limit, windowMs);
  console.log(
    `${posts} posts, bucket ${limit} per ${windowMs} ms: ${elapsedMs} ms ` +
      `(minimum ${minimum} ms, +${elapsedMs - minimum} ms); ${tooMany} 429s received; ${refused.length} refused`,
  );
  failed = refused.length > 0;
} finally {
  await d.stop();
}
process.exit(failed ? 1 : 0);
