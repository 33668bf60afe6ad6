// One daemon per repository: the pid file. It is created complete and atomically (written under a
// temporary name, then hard-linked into place, which fails if the name exists), and records the
// process's start time as well as its pid, so a pid reused after a reboot or kill -9 is not
// mistaken for a live daemon.

import { linkSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';

export interface PidRecord {
  pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks since boot); '' where /proc is unavailable. */
  startTime: string;
}

/** The start time of a process, from /proc; undefined when it does not exist. */
export function processStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces or ')': split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19]; // field 22 overall: fields 3.. start at index 0
}

/** The real uid of a process, from /proc/<pid>/status; undefined when it is gone. */
export function ownerOf(pid: number): number | undefined {
  try {
    const match = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

function hasProc(): boolean {
  return processStartTime(process.pid) !== undefined;
}

export function ownRecord(): PidRecord {
  return { pid: process.pid, startTime: processStartTime(process.pid) ?? '' };
}

function format(record: PidRecord): string {
  return `${record.pid} ${record.startTime}\n`;
}

export function readPidFile(path: string): PidRecord | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const match = /^(\d+) ?(\d*)\n?$/.exec(text);
  if (!match) return undefined;
  return { pid: Number(match[1]), startTime: match[2] };
}

/**
 * True when the recorded process is still the daemon that wrote the record: the same start time,
 * a daemon's command line, and run by this user (another user's process is never ours to signal,
 * whatever a pid file says).
 */
export function isAlive(record: PidRecord): boolean {
  if (record.pid <= 0) return false;
  if (hasProc()) {
    if (processStartTime(record.pid) !== record.startTime) return false;
    const uid = process.getuid?.();
    if (uid !== undefined && ownerOf(record.pid) !== uid) return false;
    try {
      const cmdline = readFileSync(`/proc/${record.pid}/cmdline`, 'utf8');
      return cmdline.includes('git-remote-daemon');
    } catch {
      return false;
    }
  }
  try {
    process.kill(record.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The running daemon according to the pid file, or undefined (none, or a stale file). */
export function runningDaemon(pidFile: string): PidRecord | undefined {
  const record = readPidFile(pidFile);
  return record && isAlive(record) ? record : undefined;
}

export type Acquired = { ok: true; release(): void } | { ok: false; holder: PidRecord };

/** Claims the pid file for this process, replacing a stale one; or says who holds it. */
export function acquirePidFile(path: string): Acquired {
  const mine = ownRecord();
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, format(mine), { mode: 0o600 });
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        linkSync(temp, path);
        return { ok: true, release: () => releasePidFile(path, mine) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const text = readText(path);
      if (text === undefined) continue; // removed meanwhile: try again
      const holder = readPidFile(path);
      if (holder && isAlive(holder)) return { ok: false, holder };
      // Stale (or unreadable). Move it aside rather than unlink it, then check that what we moved
      // is what we judged: another starter may have replaced it with a live record meanwhile.
      const aside = `${path}.${process.pid}.stale`;
      try {
        renameSync(path, aside);
      } catch {
        continue;
      }
      const moved = readText(aside);
      if (moved !== text) {
        try {
          linkSync(aside, path); // put the live one back
        } catch {
          // someone else got in meanwhile; they hold it now
        }
        unlinkQuiet(aside);
        const now = readPidFile(path);
        if (now && isAlive(now)) return { ok: false, holder: now };
        continue;
      }
      unlinkQuiet(aside);
    }
    throw new Error(`could not claim ${path}: it keeps changing`);
  } finally {
    unlinkQuiet(temp);
  }
}

/** Removes the pid file if it is still ours (never another daemon's). */
export function releasePidFile(path: string, mine: PidRecord): void {
  const now = readPidFile(path);
  if (now && now.pid === mine.pid && now.startTime === mine.startTime) unlinkQuiet(path);
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}
