// `git remote-daemon stop`: ask the repository's daemon to stop (SIGTERM: it stops its workers,
// removes its files and exits) and wait until it is gone. Only a process findDaemon vouched for
// (this user's, this repository's daemon, by /proc) is signalled, and it is checked again, start
// time included, right before each signal.

import { setTimeout as sleep } from 'node:timers/promises';
import { writeControlLine } from '../background/fifo.js';
import { verifyDaemon } from '../background/daemonprocesses.js';
import { lockPath } from '../background/lock.js';
import { isAlive } from '../background/pidfile.js';
import { daemonPaths, type DaemonPaths } from '../background/paths.js';
import { findDaemon, type FoundDaemon } from './finddaemon.js';

/** The daemon exits within ~2 s of a stop (its hard deadline); this leaves room for a slow machine. */
const STOP_TIMEOUT_MS = 10_000;

export async function stopCommand(cwd: string): Promise<{ code: number; message: string }> {
  const paths = await daemonPaths(cwd);
  const record = await findDaemon(paths);
  if (!record) return { code: 0, message: 'no daemon is running in this repository' };
  if (!isAlive(record)) return { code: 0, message: `stopped (pid ${record.pid})` }; // it ended just now
  if (record.mode === 'shared') return stopServing(paths, record);
  try {
    process.kill(record.pid, 'SIGTERM');
  } catch {
    return { code: 0, message: `stopped (pid ${record.pid})` }; // it ended just now
  }
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (isAlive(record)) {
    if (Date.now() > deadline) {
      if (!isAlive(record)) break;
      try {
        process.kill(record.pid, 'SIGKILL');
      } catch {
        // gone at last
      }
      return { code: 1, message: `the daemon (pid ${record.pid}) did not stop within ${STOP_TIMEOUT_MS / 1000} s; killed it` };
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { code: 0, message: `stopped (pid ${record.pid})` };
}

/**
 * Inside a repository the shared daemon serves, `stop` stops serving this one repository (STOP on
 * its pipe), never the shared daemon: the others go on. It is served again when the shared daemon
 * restarts or reloads, or when `register` asks it to.
 */
async function stopServing(paths: DaemonPaths, record: FoundDaemon): Promise<{ code: number; message: string }> {
  try {
    await writeControlLine(paths.control, 'STOP');
  } catch (err) {
    return { code: 1, message: `cannot ask the shared daemon (pid ${record.pid}) to stop serving this repository: ${(err as Error).message}` };
  }
  const lock = lockPath(paths);
  for (const deadline = Date.now() + STOP_TIMEOUT_MS; verifyDaemon(record.pid, lock, record.startTime); await sleep(20)) {
    if (Date.now() > deadline) return { code: 1, message: `the shared daemon (pid ${record.pid}) did not stop serving this repository within ${STOP_TIMEOUT_MS / 1000} s` };
  }
  return {
    code: 0,
    message:
      `the shared daemon (pid ${record.pid}) stopped serving this repository; it serves the others still, and this one again once it ` +
      'restarts or reloads or `git remote-daemon register` is run; `unregister` leaves it out for good, `stop --all` stops the shared daemon',
  };
}
