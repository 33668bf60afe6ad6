// Where a repository's daemon keeps its files: `.git/remote-daemon/` in the repository's common
// git dir, so every linked worktree (and a GIT_DIR set in the environment) finds the same daemon.

import { revParse } from '../config.js';
import { chmodSync, lstatSync, mkdirSync } from 'node:fs';
import { describeUser } from './daemonprocesses.js';
import { join } from 'node:path';
import { locateRepo } from './gitdirwalk.js';

export interface DaemonPaths {
  /** The repository's common git dir (shared by all its worktrees). */
  commonDir: string;
  /** `.git/remote-daemon`, mode 0700. */
  dir: string;
  /** `<pid> <start time>`: which process is the daemon. */
  pidFile: string;
  /** The FIFO that takes consumed messages. */
  control: string;
  /** Emitted messages and details, timestamped. */
  log: string;
  /** The previous log, after rotation. */
  oldLog: string;
  /** JSON snapshot of what each remote is doing, for `status`. */
  state: string;
}

export function pathsIn(commonDir: string): DaemonPaths {
  return daemonFilesIn(join(commonDir, 'remote-daemon'), commonDir);
}

/** The daemon files kept in `dir`: a repository's `.git/remote-daemon`, or the shared daemon's own. */
export function daemonFilesIn(dir: string, commonDir: string): DaemonPaths {
  return {
    commonDir,
    dir,
    pidFile: join(dir, 'pid'),
    control: join(dir, 'control'),
    log: join(dir, 'log'),
    oldLog: join(dir, 'log.1'),
    state: join(dir, 'state.json'),
  };
}

/**
 * The daemon's paths for the repository `cwd` is in; throws git's own complaint outside one.
 * When git cannot answer because of the repository itself (a config with a syntax error makes
 * every git command fail), the repository is found by walking up as git would: a running daemon
 * must stay reachable to be stopped, asked for its status or log, whatever the config's state.
 */
export async function daemonPaths(cwd: string = process.cwd()): Promise<DaemonPaths> {
  try {
    return pathsIn((await revParse(cwd, '--path-format=absolute', '--git-common-dir')).trim());
  } catch (err) {
    const found = locateRepo(cwd);
    if (!found) throw err;
    return pathsIn(found.commonDir);
  }
}

/**
 * Creates the directory (0700), tightening it if it already existed. Everything private to the
 * daemon (lock, pipe, pid and state files, log, peer key) rests on this directory being this
 * user's own: one that is a symlink, or that another user made (a group-writable shared
 * repository lets a group member do that), is refused, never used or chmod-ed.
 */
export function ensureDir(paths: DaemonPaths): void {
  mkdirSync(paths.dir, { mode: 0o700, recursive: true });
  const stat = lstatSync(paths.dir);
  if (!stat.isDirectory()) throw new Error(`${paths.dir} is not a directory (a symlink?); remove it and start again`);
  const uid = process.getuid?.();
  if (uid !== undefined && stat.uid !== uid) {
    throw new Error(
      `${paths.dir} belongs to ${describeUser(stat.uid)}, not to you (${describeUser(uid)}): another user made it and could ` +
        `reach or stand in for the daemon through it; remove it (rm -rf ${paths.dir}) and start again`,
    );
  }
  chmodSync(paths.dir, 0o700);
}
