// Temporary directories of the harness (Miniflare's storage of each Worker started, scratch
// copies): each is removed when the process that made it exits, so repeated test runs do not fill
// the machine's temp directory (a full run makes several hundred, a few hundred MB in all). A
// test that restarts a Worker on the same storage keeps its directory until then: nothing is
// removed while the process runs. DGD_KEEP_TEMP=1 keeps them all, to look at a run's storage.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const made = new Set();
let hooked = false;

function removeAll() {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
  made.clear();
}

/** A new directory under the OS temp directory, named `prefix` + random; removed at exit. */
export function tempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  if (process.env.DGD_KEEP_TEMP !== '1') {
    made.add(dir);
    if (!hooked) {
      hooked = true;
      process.on('exit', removeAll);
    }
  }
  return dir;
}
