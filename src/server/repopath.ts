// Turns the path a client names over ssh into a repository, the way git and git-annex-shell do:
// absolute paths, `~/repo` and `~user/repo` (home directories), `/~/repo` and `/~user/repo` (what
// git-annex sends for ssh://host/~/repo URLs), and paths relative to the current directory (over
// ssh that is the login's home). Like git's enter_repo(), `repo` also finds `repo.git` and
// `repo/.git`.

import { statSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
// node:child_process rather than nano-spawn: the notifier's start-up loads this module, and a
// built-in costs no module loading. (The restricted shell, bin/git-remote-daemon-shell, applies
// the same path forms in sh.)
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** A path that names no repository, or a `~user` that names no user: the message is for the user. */
export class RepoPathError extends Error {
  override name = 'RepoPathError';
}

export interface Repository {
  /** What to hand to git (`git --git-dir`, `git upload-pack <dir>`): the absolute git dir. */
  gitDir: string;
  /** The common git dir, where refs/ and packed-refs live (differs from gitDir for a worktree). */
  commonDir: string;
}

/** Expands the home-directory forms and makes the path absolute. Does not touch the file system except to look up `~user`. */
export async function expandPath(path: string, cwd = process.cwd()): Promise<string> {
  if (path === '') throw new RepoPathError('empty path');
  if (path.includes('\0')) throw new RepoPathError('path contains a NUL byte');
  // git-annex sends ssh://host/~/repo as "/~/repo": the leading slash is not meant literally.
  if (path.startsWith('/~')) path = path.slice(1);
  if (path.startsWith('~')) {
    const slash = path.indexOf('/');
    const user = path.slice(1, slash < 0 ? undefined : slash);
    const rest = slash < 0 ? '' : path.slice(slash + 1);
    const home = user === '' ? ownHome() : await homeOf(user);
    return resolve(home, rest);
  }
  return isAbsolute(path) ? resolve(path) : resolve(cwd, path);
}

function ownHome(): string {
  const home = process.env.HOME || homedir();
  if (!home) throw new RepoPathError('cannot expand ~: no home directory');
  return home;
}

/** The home directory of a named user, through NSS (`getent passwd`), falling back to /etc/passwd. */
async function homeOf(user: string): Promise<string> {
  if (!/^[a-z_][a-z0-9_.-]*\$?$/i.test(user)) throw new RepoPathError(`not a user name: ~${user}`);
  let entry: string | undefined;
  try {
    entry = (await execFileAsync('getent', ['passwd', user], { encoding: 'utf8' })).stdout.split('\n')[0];
  } catch {
    try {
      entry = readFileSync('/etc/passwd', 'utf8').split('\n').find((line) => line.startsWith(`${user}:`));
    } catch {
      entry = undefined;
    }
  }
  const home = entry?.split(':')[5];
  if (!home) throw new RepoPathError(`no such user: ~${user}`);
  return home;
}

/**
 * Finds the repository a client means by `path` (undefined: the repository of the current
 * directory, found the way any git command finds it). Rejects with RepoPathError when there is none.
 */
export async function findRepository(path: string | undefined, cwd = process.cwd()): Promise<Repository> {
  if (path === undefined) {
    const found = await askGit([], cwd);
    if (!found) throw new RepoPathError(`not in a git repository: ${cwd}`);
    return found;
  }
  const absolute = await expandPath(path, cwd);
  // The order of git's enter_repo(): a work tree's .git first, then the path itself, then DWIM suffixes.
  for (const candidate of [`${absolute}/.git`, absolute, `${absolute}.git/.git`, `${absolute}.git`]) {
    if (!exists(candidate)) continue;
    const found = await askGit(['--git-dir', candidate], cwd);
    if (found) return found;
  }
  throw new RepoPathError(`not a git repository: ${path}`);
}

/** True when something (anything) is at `path`. */
export function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Asks git to validate a git dir (an explicit --git-dir is never discovered upwards). */
async function askGit(gitDirArgs: string[], cwd: string): Promise<Repository | undefined> {
  try {
    const { stdout } = await execFileAsync('git', [...gitDirArgs, 'rev-parse', '--path-format=absolute', '--git-dir', '--git-common-dir'], { cwd, encoding: 'utf8' });
    const [gitDir, commonDir] = stdout.split('\n');
    if (!gitDir || !commonDir) return undefined;
    return { gitDir, commonDir };
  } catch {
    return undefined;
  }
}
