// Someone deleted .git/remote-daemon (or a file in it) under a running daemon: make them again,
// so that status, send and stop keep working. Its lock socket stayed bound under the deleted
// name, where a starter finds it in /proc (lock.ts), so no second daemon got in meanwhile.
// Unasked, only once they have been missing for a while with the repository intact: the
// deletion may be part of an `rm -rf` of the whole repository, which files made again in the
// middle of it would make fail ("Directory not empty"). A command asking for the daemon
// (through the lock, or with SIGUSR2 when it found it in /proc) gets them at once.

import { existsSync } from 'node:fs';
import type { ControlPipe } from './controlpipe.js';
import type { Lock } from './lock.js';
import { removeQuietly } from './metrics.js';
import { ensureDir, type DaemonPaths } from './paths.js';
import { acquirePidFile, ownRecord, readPidFile, type PidRecord } from './pidfile.js';
import type { StateWriter } from './state.js';

/** Files deleted under a running daemon are made again unasked after this long. */
export const REPAIR_AFTER_MS = 3000;

/** Whether files missing since `since` are made again at `now`: at once when asked, else once they stayed missing long enough. */
export function repairDue(since: number, now: number, asked: boolean): boolean {
  return asked || now - since >= REPAIR_AFTER_MS;
}

/** Whether a pid file's record names the same process (pid and start time) as `mine`. */
export function sameProcess(record: PidRecord | undefined, mine: PidRecord): boolean {
  return record !== undefined && record.pid === mine.pid && record.startTime === mine.startTime;
}

/** What a host made and repairs. */
export interface HostedFiles {
  paths: DaemonPaths;
  lock: Lock;
  pipe: ControlPipe;
  state: StateWriter;
  logTo: 'file' | 'stderr';
  /** Opens the log file again if it was deleted; true when it did. */
  reopenLog(): boolean | undefined;
  log(text: string): void;
  /** True once the host removed its files for good: nothing is made again then. */
  removed(): boolean;
}

export class FileRepair {
  private missingSince: number | undefined;
  /** Whether files were ever made again here: they keep a deleted repository's directory alive. */
  remade = false;

  constructor(private readonly files: HostedFiles) {}

  /** `now`: asked for. True while files are missing and not made again yet (look again a moment later). */
  run(now: boolean): boolean {
    if (this.files.removed() || !this.anyMissing()) {
      this.missingSince = undefined;
      return false;
    }
    this.missingSince ??= Date.now();
    if (!repairDue(this.missingSince, Date.now(), now)) return true;
    this.missingSince = undefined;
    this.remade = true;
    this.makeAgain();
    return false;
  }

  private makeAgain(): void {
    const { paths, lock, pipe, state, log } = this.files;
    const missing: string[] = [];
    try {
      ensureDir(paths);
      if (this.files.reopenLog()) missing.push('log');
      if (!lock.held()) {
        missing.push('lock');
        void lock.repair().catch((err: unknown) => log(`cannot bind the repository lock again: ${(err as Error).message}`));
      }
      if (!sameProcess(readPidFile(paths.pidFile), ownRecord())) {
        missing.push('pid');
        // The lock is ours: whatever the name holds now is stale.
        removeQuietly(paths.pidFile);
        acquirePidFile(paths.pidFile);
      }
      if (!pipe.inPlace()) {
        missing.push('control');
        pipe.remake();
      }
      if (!existsSync(paths.state)) missing.push('state.json');
      state.flush();
      if (missing.length > 0) log(`${missing.join(', ')} missing from ${paths.dir}: made again`);
    } catch (err) {
      log(`cannot re-create the files in ${paths.dir}: ${(err as Error).message}`);
    }
  }

  private anyMissing(): boolean {
    const { paths, lock, pipe } = this.files;
    const ours = sameProcess(readPidFile(paths.pidFile), ownRecord());
    return !ours || !lock.held() || !pipe.inPlace() || !existsSync(paths.state) || (this.files.logTo === 'file' && !existsSync(paths.log));
  }
}
