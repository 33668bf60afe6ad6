// Who really is this repository's daemon, judged from /proc and never from what a process says
// about itself. A process is the daemon when it runs as this user, carries the daemon's process
// title, and holds a socket bound at the repository's lock path (`.git/remote-daemon/lock`).
// The kernel keeps a bound socket's path in /proc/net/unix even after the file is deleted, so a
// daemon whose directory was `rm -rf`ed is still recognised; and only this user (or root) can
// bind a socket in that 0700 directory. Nothing is signalled that this module has not vouched for.

import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { ownerOf, processStartTime } from './pidfile.js';

export interface DaemonProcess {
  pid: number;
  /** Field 22 of /proc/<pid>/stat. */
  startTime: string;
}

/** The title every daemon process sets (run.ts, --foreground in program.ts, the shared daemon's hub/run.ts) before its lock. */
export const TITLE_PREFIX = 'git-remote-daemon ';

/** A user as people know them: `nobody (uid 65534)`, or just the uid when it has no name. */
export function describeUser(uid: number): string {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [name, , id] = line.split(':');
      if (id !== undefined && Number(id) === uid && name) return `${name} (uid ${uid})`;
    }
  } catch {
    // no passwd file: the number alone
  }
  return `uid ${uid}`;
}

/** Inodes of the live sockets bound at `path` (including ones whose file has been deleted since). */
export function socketInodes(path: string): Set<string> {
  const inodes = new Set<string>();
  let table: string;
  try {
    table = readFileSync('/proc/net/unix', 'utf8');
  } catch {
    return inodes;
  }
  // Num RefCount Protocol Flags Type St Inode Path: the path is the rest of the line.
  for (const line of table.split('\n')) {
    const fields = line.trim().split(/ +/);
    if (fields.length >= 8 && fields.slice(7).join(' ') === path) inodes.add(fields[6]);
  }
  return inodes;
}

function carriesTitle(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith(TITLE_PREFIX);
  } catch {
    return false;
  }
}

function holdsOneOf(pid: number, inodes: Set<string>): boolean {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false; // gone, or not ours to look into
  }
  for (const fd of fds) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match && inodes.has(match[1])) return true;
    } catch {
      // closed meanwhile
    }
  }
  return false;
}

function myUid(): number | undefined {
  return process.getuid?.();
}

/**
 * The process `pid` if it is this repository's daemon, run by this user (and, when `startTime` is
 * given, still the same process rather than a later one with its pid); otherwise undefined.
 */
export function verifyDaemon(pid: number, lockPath: string, startTime?: string): DaemonProcess | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const uid = myUid();
  if (uid !== undefined && ownerOf(pid) !== uid) return undefined;
  const started = processStartTime(pid);
  if (started === undefined || (startTime !== undefined && startTime !== started)) return undefined;
  if (!carriesTitle(pid)) return undefined;
  if (!holdsOneOf(pid, socketInodes(lockPath))) return undefined;
  return { pid, startTime: started };
}

/** Every process of this user holding the lock at `lockPath`, oldest first. */
export function lockHoldersByProc(lockPath: string): DaemonProcess[] {
  const inodes = socketInodes(lockPath);
  if (inodes.size === 0) return [];
  const uid = myUid();
  const found: DaemonProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (uid !== undefined && ownerOf(pid) !== uid) continue;
    if (!carriesTitle(pid) || !holdsOneOf(pid, inodes)) continue;
    const startTime = processStartTime(pid);
    if (startTime !== undefined) found.push({ pid, startTime });
  }
  return found.sort(olderFirst);
}

/** Start time first; the pid breaks a tie, so every process orders the same pair the same way. */
export function olderFirst(a: DaemonProcess, b: DaemonProcess): number {
  const d = Number(a.startTime) - Number(b.startTime);
  return d !== 0 ? d : a.pid - b.pid;
}
