// Which process is this repository's daemon, for the commands that talk to it. The holder of the
// repository lock answers for itself, and makes its files again first if they were deleted, so
// what the command reads next (state, pipe) is there. The pid file is the fallback, for a daemon
// that holds no lock (one started by an older version).

import { lockHolder, type LockMode } from '../background/lock.js';
import { processStartTime, runningDaemon, type PidRecord } from '../background/pidfile.js';
import type { DaemonPaths } from '../background/paths.js';

export interface FoundDaemon extends PidRecord {
  /** How it runs; a pid file is written by background and service daemons alike. */
  mode: LockMode | 'background or service';
}

export async function findDaemon(paths: DaemonPaths): Promise<FoundDaemon | undefined> {
  const holder = await lockHolder(paths.commonDir);
  // Its start time from now on tells this process from a later one that reuses the pid.
  const startTime = holder && processStartTime(holder.pid);
  if (holder && startTime !== undefined) return { pid: holder.pid, startTime, mode: holder.mode };
  const record = runningDaemon(paths.pidFile);
  return record && { ...record, mode: 'background or service' };
}
