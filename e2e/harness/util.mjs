// Shared helpers of the e2e harness: polling, child process groups with guaranteed clean-up,
// reading a child's JSON "ready" line.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
export { sleep };

/**
 * Polls `fn` (sync or async) until it returns a truthy value, which is returned.
 * Exceptions thrown by `fn` count as "not yet"; the last one is reported on timeout.
 * @param {() => any} fn
 * @param {{timeoutMs?: number, intervalMs?: number, message?: string | (() => string)}} [opts]
 */
export async function waitFor(fn, { timeoutMs = 10_000, intervalMs = 50, message } = {}) {
  const start = Date.now();
  let lastErr;
  let lastValue;
  for (;;) {
    try {
      lastValue = await fn();
      if (lastValue) return lastValue;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() - start >= timeoutMs) break;
    await sleep(intervalMs);
  }
  const what = typeof message === 'function' ? message() : message || fn.toString().slice(0, 200);
  const detail = lastErr ? `; last error: ${lastErr.stack || lastErr}` : `; last value: ${safeJson(lastValue)}`;
  const err = new Error(`waitFor timed out after ${timeoutMs} ms: ${what}${detail}`);
  if (lastErr) err.cause = lastErr;
  throw err;
}

/** `v` as JSON (String(v) when it has none), cut after `max` characters. */
export function safeJson(v, max = 500) {
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > max ? s.slice(0, max) + '…' : s;
  } catch {
    return String(v);
  }
}

// ---- child process groups -------------------------------------------------------------------
const live = new Set(); // pids (= pgids) of groups we started and that have not exited

function killAllSync() {
  for (const pid of live) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  live.clear();
}
process.on('exit', killAllSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    killAllSync();
    process.exit(128 + ({ SIGINT: 2, SIGTERM: 15, SIGHUP: 1 })[sig]);
  });
}

/**
 * Spawns a command in its own process group (detached), stdout/stderr piped and collected into
 * `logs` (one entry per line, `[name] line`), echoed to stderr when DGD_E2E_VERBOSE=1.
 * The group is SIGKILLed when this process exits, and after `maxLifetimeMs`.
 * @returns {{child, pid, logs: string[], lines: AsyncIterable<string>, exited: Promise<{code, signal}>,
 *            signal(sig): void, kill(): Promise<void>, stop(timeoutMs?): Promise<void>}}
 */
export function spawnGroup(name, cmd, args, { env, cwd = ROOT, maxLifetimeMs = 15 * 60_000, stdin = 'ignore' } = {}) {
  const child = spawn(cmd, args, {
    cwd,
    env: { ...process.env, ...env },
    detached: true,
    stdio: [stdin, 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${name}: failed to spawn ${cmd}`);
  live.add(pid);
  const logs = [];
  const verbose = process.env.DGD_E2E_VERBOSE === '1';
  const stdoutLines = createInterface({ input: child.stdout, crlfDelay: Infinity });
  const stderrLines = createInterface({ input: child.stderr, crlfDelay: Infinity });
  const listeners = new Set();
  const onLine = (stream) => (line) => {
    logs.push(`[${name}] ${line}`);
    if (verbose) process.stderr.write(`[${name}${stream === 'err' ? '!' : ''}] ${line}\n`);
    for (const l of listeners) l(line, stream);
  };
  stdoutLines.on('line', onLine('out'));
  stderrLines.on('line', onLine('err'));
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      live.delete(pid);
      // Reap the rest of the group too (e.g. workerd under a node parent).
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* gone */
      }
      logs.push(`[${name}] exited code=${code} signal=${signal}`);
      resolve({ code, signal });
    });
  });
  const lifetime = setTimeout(() => {
    logs.push(`[${name}] max lifetime ${maxLifetimeMs} ms reached: killing`);
    signalGroup('SIGKILL');
  }, maxLifetimeMs);
  lifetime.unref();
  exited.then(() => clearTimeout(lifetime));

  function signalGroup(sig) {
    if (!live.has(pid)) return;
    try {
      process.kill(-pid, sig);
    } catch {
      /* gone */
    }
  }
  return {
    child,
    pid,
    logs,
    exited,
    /** Calls cb(line, 'out'|'err') for every later line; returns an unsubscribe function. */
    onLine(cb) {
      listeners.add(cb);
      return () => listeners.delete(cb);
    },
    signal: signalGroup,
    /** SIGKILL the whole group (no clean-up in the child); resolves once all of it is gone. */
    async kill() {
      signalGroup('SIGKILL');
      await exited;
      await groupGone(pid);
    },
    /** SIGTERM the group, SIGKILL after timeoutMs; resolves once it is gone. */
    async stop(timeoutMs = 5000) {
      signalGroup('SIGTERM');
      const t = setTimeout(() => signalGroup('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(t);
      await groupGone(pid);
    },
  };
}

/**
 * True while a non-zombie process of group `pgid` exists. On Linux it reads /proc (a zombie has
 * already released its ports, files and memory; how fast it is reaped depends on PID 1).
 */
export function groupAlive(pgid) {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  let entries;
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return true; // no /proc: trust kill(0)
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
    } catch {
      continue;
    }
    // pid (comm) state ppid pgrp ...; comm may contain spaces/parens: split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(rest[2]) === pgid && rest[0] !== 'Z' && rest[0] !== 'X') return true;
  }
  return false;
}

/** Resolves once no live (non-zombie) process of group `pgid` is left (SIGKILLing stragglers), max ~5 s. */
export async function groupGone(pgid, timeoutMs = 5000) {
  const start = Date.now();
  while (groupAlive(pgid)) {
    if (Date.now() - start > timeoutMs) return false;
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      return true;
    }
    await sleep(10);
  }
  return true;
}

/**
 * Waits for the first stdout line of `proc` that parses as JSON and has `key`; returns that object.
 * Fails early when the process exits, or after timeoutMs, with the collected logs in the message.
 */
export function waitForJsonLine(proc, key, timeoutMs = 30_000) {
  return new Promise((resolve, reject) => {
    let done = false;
    const parse = (line) => {
      if (!line.startsWith('{')) return null;
      try {
        const obj = JSON.parse(line);
        return obj && typeof obj === 'object' && key in obj ? obj : null;
      } catch {
        return null;
      }
    };
    const finish = (fn, v) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      off();
      fn(v);
    };
    const off = proc.onLine((line, stream) => {
      const obj = stream === 'out' ? parse(line) : null;
      if (obj) finish(resolve, obj);
    });
    const timer = setTimeout(
      () => finish(reject, new Error(`no {"${key}":…} line within ${timeoutMs} ms\n${proc.logs.slice(-40).join('\n')}`)),
      timeoutMs,
    );
    // Lines that arrived before we subscribed.
    for (const l of proc.logs) {
      const obj = parse(l.replace(/^\[[^\]]*\] /, ''));
      if (obj) return finish(resolve, obj);
    }
    proc.exited.then(({ code, signal }) =>
      finish(reject, new Error(`exited (code=${code} signal=${signal}) before {"${key}":…}\n${proc.logs.slice(-40).join('\n')}`)),
    );
  });
}
