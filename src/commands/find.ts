// Which process is this repository's daemon, for the commands that talk to it: the pid file says,
// and when it cannot (deleted with `.git/remote-daemon`, or never written by a --foreground
// daemon) the holder of the repository lock answers for itself.

import { lockHolder, type LockMode } from '../background/lock.js';
import { processStartTime, runningDaemon, type PidRecord } from '../background/pidfile.js';
import type { DaemonPaths } from '../background/paths.js';

export interface FoundDaemon extends PidRecord {
  /** How it runs; a pid file is written by background and service daemons alike. */
  mode: LockMode | 'background or service';
}

export async function findDaemon(paths: DaemonPaths): Promise<FoundDaemon | undefined> {
  const record = runningDaemon(paths.pidFile);
  if (record) return { ...record, mode: 'background or service' };
  const holder = await lockHolder(paths.commonDir);
  if (!holder) return undefined;
  // Its start time from now on tells this process from a later one that reuses the pid.
  const startTime = processStartTime(holder.pid);
  return startTime === undefined ? undefined : { pid: holder.pid, startTime, mode: holder.mode };
}
