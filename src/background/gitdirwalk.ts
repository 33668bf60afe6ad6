// Finding a repository's git dirs without git. `git rev-parse` reads the repository's config
// before it answers anything, so a `.git/config` with a syntax error (or one it cannot read) makes
// every git command fail, and with it any way of reaching the daemon that is still running there.
// The commands that talk to a running daemon (stop, status, log, send...) fall back to this walk,
// which follows git's discovery rules as far as they matter here: GIT_DIR, a `.git` directory or
// gitfile (`gitdir: <path>`, as in linked worktrees and submodules) in this directory or one
// above, a bare repository, `commondir` for the shared dir, GIT_CEILING_DIRECTORIES.

import { realpathSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { asGitDir, commonDirOf, isGitDir } from '../../shared/kit/gitdir.js';

export interface LocatedRepo {
  /** The git dir of the worktree `cwd` is in (for a bare repository, the repository). */
  gitDir: string;
  /** The repository's common git dir, where the daemon keeps its files. */
  commonDir: string;
}

/** The repository `cwd` is in, found by walking up; undefined when there is none. Never throws. */
export function locateRepo(cwd: string, env: NodeJS.ProcessEnv = process.env): LocatedRepo | undefined {
  if (env.GIT_DIR) return located(asGitDir(resolve(cwd, env.GIT_DIR)));
  const ceilings = (env.GIT_CEILING_DIRECTORIES ?? '')
    .split(':')
    .filter((d) => isAbsolute(d))
    .map((d) => realpathOr(d));
  let dir = realpathOr(resolve(cwd));
  for (;;) {
    const found = asGitDir(join(dir, '.git')) ?? (isGitDir(dir) ? dir : undefined);
    if (found) return located(found);
    const parent = dirname(dir);
    // git never goes up into a ceiling directory.
    if (parent === dir || ceilings.includes(parent)) return undefined;
    dir = parent;
  }
}

function located(gitDir: string | undefined): LocatedRepo | undefined {
  if (!gitDir) return undefined;
  return { gitDir: realpathOr(gitDir), commonDir: realpathOr(commonDirOf(gitDir)) };
}

function realpathOr(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

