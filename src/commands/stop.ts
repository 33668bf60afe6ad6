// `git remote-daemon stop`: ask the repository's daemon to stop (SIGTERM: it stops its workers,
// removes its files and exits) and wait until it is gone. Only a process findDaemon vouched for
// (this user's, this repository's daemon, by /proc) is signalled, and it is checked again, start
// time included, right before each signal.

import { isAlive } from '../background/pidfile.js';
import { daemonPaths } from '../background/paths.js';
import { findDaemon } from './finddaemon.js';

/** The daemon exits within ~2 s of a stop (its hard deadline); this leaves room for a slow machine. */
const STOP_TIMEOUT_MS = 10_000;

export async function stopCommand(cwd: string): Promise<{ code: number; message: string }> {
  const paths = await daemonPaths(cwd);
  const record = await findDaemon(paths);
  if (!record) return { code: 0, message: 'no daemon is running in this repository' };
  if (!isAlive(record)) return { code: 0, message: `stopped (pid ${record.pid})` }; // it ended just now
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
