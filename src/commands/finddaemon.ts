// Which process is this repository's daemon, for the commands that talk to it. Every answer is
// checked against /proc before it is returned (daemonprocesses.ts): a process of another user, or one
// that is not this repository's daemon, is never returned, so never signalled.
//
// In order: the holder of the repository lock answers for itself, and makes its files again first
// if they were deleted, so what the command reads next (state, pipe) is there. A daemon whose
// directory was deleted (lock file included) is found in /proc holding its socket, and asked with
// SIGUSR2 to make its files again. The pid file is the fallback, for a daemon that holds no lock
// in its directory (one started by an older version).

import { setTimeout as sleep } from 'node:timers/promises';
import { lockHolder, lockPath, type LockMode } from '../background/lock.js';
import { lockHoldersByProc, verifyDaemon } from '../background/daemonprocesses.js';
import { runningDaemon, type PidRecord } from '../background/pidfile.js';
import type { DaemonPaths } from '../background/paths.js';

export interface FoundDaemon extends PidRecord {
  /** How it runs; a pid file is written by background and service daemons alike. */
  mode: LockMode | 'background or service';
}

/** How long a daemon found in /proc gets to bind its lock again before the command goes on. */
const REPAIR_WAIT_MS = 5000;

export async function findDaemon(paths: DaemonPaths): Promise<FoundDaemon | undefined> {
  const lock = lockPath(paths);
  const holder = await lockHolder(paths);
  const checked = holder && verifyDaemon(holder.pid, lock);
  if (holder && checked) return { ...checked, mode: holder.mode ?? 'background or service' };

  const [oldest] = lockHoldersByProc(lock);
  if (oldest) {
    try {
      process.kill(oldest.pid, 'SIGUSR2'); // vouched for by /proc just now: ours, this repository's
    } catch {
      return undefined; // ended meanwhile
    }
    for (const deadline = Date.now() + REPAIR_WAIT_MS; Date.now() < deadline; await sleep(50)) {
      const again = await lockHolder(paths, 500);
      if (again?.pid === oldest.pid) return { ...oldest, mode: again.mode ?? 'background or service' };
    }
    return { ...oldest, mode: 'background or service' };
  }

  const record = runningDaemon(paths.pidFile);
  return record && { ...record, mode: 'background or service' };
}
