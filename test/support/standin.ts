// For tests of what talks to a repository's daemon (send, fetch, stop, start, repohost): a
// throwaway repository with its daemon directory, this test process standing in for its daemon
// (titled as one, holding its lock), and the far end of its control pipe. No daemon is started.

import type { TestContext } from 'node:test';
import { closeSync, constants, mkdirSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { acquireLock, type LockMode } from '../../src/background/lock.js';
import { makeFifo } from '../../src/background/fifo.js';
import { ensureDir, pathsIn, type DaemonPaths } from '../../src/background/paths.js';
import { git, tempDir } from './git.js';

/** A daemon directory (0700) with nothing in it yet, no repository around it: what lock and claim use. */
export function daemonDir(t: TestContext, prefix: string): DaemonPaths {
  const d = tempDir(prefix);
  t.after(d.cleanup);
  const dir = join(d.path, 'remote-daemon');
  mkdirSync(dir, { mode: 0o700 });
  return { dir, pidFile: join(dir, 'pid') } as DaemonPaths;
}

/** This process titled as a daemon for the test (so /proc vouches for it), as it was afterwards. */
export function titledAsDaemon(t: TestContext): void {
  const before = process.title;
  process.title = 'git-remote-daemon test';
  t.after(() => {
    process.title = before;
  });
}

/** A fresh repository (`git init`) and its daemon directory, made. */
export function repoHere(t: TestContext): { repo: string; paths: DaemonPaths } {
  const d = tempDir('grd-commands-');
  t.after(d.cleanup);
  const repo = join(d.path, 'repo');
  git(d.path, 'init', '-q', repo);
  const paths = pathsIn(join(repo, '.git'));
  ensureDir(paths);
  return { repo, paths };
}

/**
 * This process as the repository's daemon in `mode`: titled as one (so /proc vouches for it),
 * holding its lock; `release()` ends the stand-in early (the daemon stopped).
 */
export async function standIn(t: TestContext, paths: DaemonPaths, mode: LockMode): Promise<{ release(): void }> {
  const before = process.title;
  process.title = 'git-remote-daemon test';
  const taken = await acquireLock(paths, mode);
  if (!taken.ok) throw new Error(`the lock was not taken: ${JSON.stringify(taken)}`);
  const release = () => {
    taken.lock.release();
    process.title = before;
  };
  t.after(release);
  return { release };
}

/** The daemon's end of its control pipe: made and opened for reading; `read()` says what arrived so far. */
export function pipeReader(t: TestContext, paths: DaemonPaths): { read(): string } {
  makeFifo(paths.control);
  const fd = openSync(paths.control, constants.O_RDONLY | constants.O_NONBLOCK);
  t.after(() => closeSync(fd));
  return {
    read() {
      const buffer = Buffer.alloc(65536);
      try {
        return buffer.toString('utf8', 0, readSync(fd, buffer));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return '';
        throw err;
      }
    },
  };
}
