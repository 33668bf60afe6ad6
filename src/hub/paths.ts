// Where the shared daemon keeps its own files: `$XDG_STATE_HOME/git-remote-daemon/` (by default
// `~/.local/state/git-remote-daemon/`), a 0700 directory of the user's, checked like a
// repository's `.git/remote-daemon/` (paths.ensureDir): its lock (one shared daemon per user), its
// pid file and its log. Each repository it serves keeps its own files in its own `.git/remote-daemon/`.

import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { daemonFilesIn, type DaemonPaths } from '../background/paths.js';

export function hubDir(env: NodeJS.ProcessEnv = process.env): string {
  // The XDG spec: a relative XDG_STATE_HOME is invalid and ignored.
  const state = env.XDG_STATE_HOME && isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : join(env.HOME || homedir(), '.local', 'state');
  return join(state, 'git-remote-daemon');
}

/** The shared daemon's files, in the shape of a repository's (the lock and pid code take that). */
export function hubPaths(env: NodeJS.ProcessEnv = process.env): DaemonPaths {
  const dir = hubDir(env);
  return daemonFilesIn(dir, dir);
}
