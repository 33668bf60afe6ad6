// What git calls a git directory, checked on disk without running git (which reads the config
// first, and fails with it): the directory itself, or a gitfile (`gitdir: <path>`, as in linked
// worktrees and submodules) pointing at one; `commondir` for the dir linked worktrees share; the
// repository a path names, found the way upload-pack finds it (local and p2p transports).

import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** `path` as a git dir: the directory itself, or where a gitfile at `path` points. */
export function asGitDir(path: string): string | undefined {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    return undefined;
  }
  if (stat.isDirectory()) return isGitDir(path) ? path : undefined;
  if (!stat.isFile()) return undefined;
  let text;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const match = /^gitdir: (.+?)\r?\n?$/.exec(text);
  if (!match) return undefined;
  const target = resolve(dirname(path), match[1]!);
  return isGitDir(target) ? target : undefined;
}

/** What git itself checks (setup.c is_git_directory): HEAD, and objects/refs here or via commondir. */
export function isGitDir(dir: string): boolean {
  if (!existsSync(join(dir, 'HEAD'))) return false;
  const common = commonDirOf(dir);
  return existsSync(join(common, 'objects')) && existsSync(join(common, 'refs'));
}

/** Where a git dir's refs and objects live: its `commondir` (linked worktrees), else itself. */
export function commonDirOf(gitDir: string): string {
  try {
    return resolve(gitDir, readFileSync(join(gitDir, 'commondir'), 'utf8').trim());
  } catch {
    return gitDir;
  }
}

/**
 * The repository a path names, tried the way git's upload-pack does (`path/.git`, `path`,
 * `path.git`): never by walking up into an enclosing repository.
 */
export function findGitDir(path: string): string {
  for (const candidate of [join(path, '.git'), path, `${path}.git/.git`, `${path}.git`]) {
    const gitDir = asGitDir(candidate);
    if (gitDir) return commonDirOf(gitDir);
  }
  throw new Error(`${path} is not a git repository`);
}
