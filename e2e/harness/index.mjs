// The e2e harness: import everything from here.
//   import { startSim, startReceiver, startWorker, waitFor } from './harness/index.mjs';
export { startSim, simBinary } from './sim.mjs';
export { startReceiver } from './receiver.mjs';
export { startWorker, readWranglerToml } from './worker.mjs';
export { waitFor, sleep, ROOT, spawnGroup, groupAlive } from './util.mjs';
export { callWithToken, jsonOrText } from './http-client.mjs';
