// Claiming a daemon's place: its lock first (what keeps it alone, whatever became of its files),
// then its pid file, released again if the second fails. A repository's daemon and the shared
// daemon claim theirs the same way.

import { acquireLock, type Lock, type LockMode } from './lock.js';
import type { DaemonPaths } from './paths.js';
import { acquirePidFile, readPidFile } from './pidfile.js';

export type Claim =
  | { ok: true; lock: Lock; releasePidFile(): void }
  /** Held by another daemon: its pid when known. */
  | { ok: false; pid?: number };

/** Throws (the lock left released) when the lock or pid file cannot be taken for another reason. */
export async function claimDaemon(paths: DaemonPaths, mode: LockMode, beforeAnswer?: () => void): Promise<Claim> {
  const taken = await acquireLock(paths, mode, beforeAnswer);
  if (!taken.ok) return { ok: false, pid: taken.holder?.pid ?? readPidFile(paths.pidFile)?.pid };
  let claim;
  try {
    claim = acquirePidFile(paths.pidFile);
  } catch (err) {
    taken.lock.release();
    throw new Error(`cannot claim the pid file ${paths.pidFile}: ${(err as Error).message}`);
  }
  if (!claim.ok) {
    taken.lock.release();
    return { ok: false, pid: claim.holder.pid };
  }
  return { ok: true, lock: taken.lock, releasePidFile: claim.release };
}
