// One daemon per repository: a Unix socket bound at `.git/remote-daemon/lock`. Binding fails while
// another process holds the name; the directory is 0700 and owned by this user (paths.ts checks),
// so no other local user can hold, reach or answer on it. (It was an abstract-namespace socket
// until issue 16: those have no permissions at all, and any user could squat the name and answer
// with any pid.)
//
// A path can be deleted, which an abstract name could not: `rm -rf .git/remote-daemon` frees the
// name while the daemon still holds its socket. The kernel still lists that socket under its old
// path in /proc/net/unix, so a starter that binds the freed name then looks for an older process
// of this user holding a socket bound at the same path (daemonprocesses.ts) and gives way to it. The
// daemon binds its name again when asked (SIGUSR2, sent by a command that found it that way) or
// on its own after a pause (run.ts).
//
// The holder answers every connection with one line, `<pid> <mode>`, so the other commands can
// find the daemon (to stop it, say) when its pid file is gone. Nobody acts on that answer without
// checking it against /proc (daemonprocesses.ts).

import { lstatSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import type { DaemonPaths } from './paths.js';
import { describeUser, lockHoldersByProc, olderFirst, verifyDaemon } from './daemonprocesses.js';
import { ownRecord } from './pidfile.js';

/** `shared`: the user's one daemon for all registered repositories (src/hub/), holding this one among them. */
export type LockMode = 'background' | 'service' | 'foreground' | 'shared';

export interface LockHolder {
  pid: number;
  /** Absent when the holder was found in /proc rather than asked. */
  mode?: LockMode;
}

export interface Lock {
  /** True while the lock path is this process's socket. */
  held(): boolean;
  /** Binds the lock path again if it is gone (its directory was deleted); true when it did. */
  repair(): Promise<boolean>;
  release(): void;
}

export type LockResult = { ok: true; lock: Lock } | { ok: false; holder?: LockHolder };

/** The lock socket of a repository's daemon directory. */
export function lockPath(paths: DaemonPaths): string {
  return join(paths.dir, 'lock');
}

/** Binding the name, once: the server, or the error code (EADDRINUSE when it exists). */
function bind(path: string, answer: () => string): Promise<Server | string> {
  return new Promise((resolve) => {
    const server: Server = createServer((socket) => {
      socket.on('error', () => {});
      socket.end(answer());
    });
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    server.listen(path, () => {
      // The lock must not keep a process alive that has nothing else to do.
      server.unref();
      resolve(server);
    });
  });
}

function inodeOf(path: string): number | undefined {
  try {
    const stat = lstatSync(path);
    return stat.isSocket() ? stat.ino : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes the repository's lock for this process, or says who holds it. The directory must exist
 * (paths.ensureDir). `beforeAnswer` runs each time another process asks, before it is answered
 * (the daemon makes its files again there).
 */
export async function acquireLock(paths: DaemonPaths, mode: LockMode, beforeAnswer?: () => void): Promise<LockResult> {
  const path = lockPath(paths);
  const answer = () => {
    beforeAnswer?.();
    return `${process.pid} ${mode}\n`;
  };
  for (let attempt = 0; attempt < 5; attempt++) {
    const bound = await bind(path, answer);
    if (typeof bound === 'string') {
      if (bound !== 'EADDRINUSE') throw new Error(`cannot take the repository lock ${path}: ${bound}`);
      const asked = await ask(path);
      if (asked === 'refused') {
        // A socket nobody listens on: its daemon died (kill -9). Removing it races another starter
        // doing the same; the /proc check below settles that race.
        if (inodeOf(path) !== undefined) unlinkQuiet(path);
        continue;
      }
      if (asked === 'unknown') return { ok: false };
      // Only this user (or root) can bind in the 0700 directory; still, "already running" is said
      // only of a process /proc shows to be a daemon of this user's holding this very lock.
      if (!verifyDaemon(asked.pid, path)) throw new Error(squatted(path, asked.pid));
      return { ok: false, holder: asked };
    }
    let server = bound;
    let ino = inodeOf(path);
    // The name was free, but a daemon whose directory was deleted may still hold a socket bound
    // under it; and two starters may both have removed a stale socket. The oldest process wins.
    const me = ownRecord();
    const older = lockHoldersByProc(path).filter((p) => p.pid !== me.pid && olderFirst(p, me) < 0);
    if (older.length > 0) {
      // Not server.close(): Node removes the path on close, which may be the other daemon's now.
      if (inodeOf(path) === ino) server.close();
      return { ok: false, holder: { pid: older[0].pid } };
    }
    const lock: Lock = {
      held: () => ino !== undefined && inodeOf(path) === ino,
      async repair() {
        if (lock.held()) return false;
        if (inodeOf(path) !== undefined) {
          // Another process's socket: left alone unless nobody listens on it (a dead starter's).
          if ((await ask(path, 500)) !== 'refused') return false;
          unlinkQuiet(path);
        }
        server.close(); // its path is gone already; closing removes nothing else
        const again = await bind(path, answer);
        if (typeof again === 'string') throw new Error(`cannot bind the repository lock ${path} again: ${again}`);
        server = again;
        ino = inodeOf(path);
        return true;
      },
      release() {
        if (lock.held()) server.close();
      },
    };
    return { ok: true, lock };
  }
  throw new Error(`could not take the repository lock ${path}: it keeps changing`);
}

function squatted(path: string, pid: number): string {
  let owner = 'someone';
  try {
    owner = describeUser(lstatSync(path).uid);
  } catch {
    // gone meanwhile
  }
  return `the repository lock ${path} is held by a socket of ${owner} that is not a daemon of yours (it says pid ${pid}); stop whatever holds it (ss -xlp | grep ${path})`;
}

/** The process holding the repository's lock as it answers for itself (check it before acting). */
export async function lockHolder(paths: DaemonPaths, timeoutMs = 2000): Promise<LockHolder | undefined> {
  const asked = await ask(lockPath(paths), timeoutMs);
  return typeof asked === 'string' ? undefined : asked;
}

/** Asks the socket at `path` who holds it: 'refused' when nobody listens there (or it is gone). */
function ask(path: string, timeoutMs = 2000): Promise<LockHolder | 'refused' | 'unknown'> {
  return new Promise((resolve) => {
    const socket = createConnection(path);
    let text = '';
    const done = (result: LockHolder | 'refused' | 'unknown') => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    // A holder too busy to answer in time is treated as unknown, not as absent.
    const timer = setTimeout(() => done('unknown'), timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (text.length > 100) done('unknown');
    });
    socket.on('end', () => {
      const match = /^(\d+) (background|service|foreground|shared)\n$/.exec(text);
      done(match ? { pid: Number(match[1]), mode: match[2] as LockMode } : 'unknown');
    });
    socket.on('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED' || err.code === 'ENOENT' ? 'refused' : 'unknown'));
  });
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}
