// Real git, real repositories in throwaway directories: the building blocks of every test.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The environment every test's git runs with: a fixed identity, no system config, no prompts. */
export const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Test',
  GIT_AUTHOR_EMAIL: 'test@example.invalid',
  GIT_COMMITTER_NAME: 'Test',
  GIT_COMMITTER_EMAIL: 'test@example.invalid',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_TERMINAL_PROMPT: '0',
};

/** Runs git in `cwd` and returns its trimmed stdout; throws with stderr on failure. */
export function git(cwd: string, ...args: string[]): string {
  return gitWithEnv(cwd, {}, ...args);
}

/** git with extra environment (an ssh command, say); returns trimmed stdout. */
export function gitWithEnv(cwd: string, env: Record<string, string>, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: { ...GIT_ENV, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** A fresh temporary directory, removed by the returned cleanup. */
export function tempDir(prefix = 'grd-test-'): { path: string; cleanup(): void } {
  const path = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

export interface Fixture {
  root: string;
  /** Bare repository playing the remote. */
  remote: string;
  /** Clone that pushes to the remote, as another user would. */
  pusher: string;
  /** Clone the daemon keeps up to date (remote "origin" -> remote). */
  local: string;
  cleanup(): void;
}

/** A bare remote with one commit on main, a pusher clone and a local clone (origin). */
export function makeFixture(): Fixture {
  const dir = tempDir();
  const root = dir.path;
  const remote = join(root, 'remote.git');
  const pusher = join(root, 'pusher');
  const local = join(root, 'local');
  git(root, 'init', '-q', '--bare', '-b', 'main', remote);
  git(root, 'init', '-q', '-b', 'main', pusher);
  git(pusher, 'remote', 'add', 'origin', remote);
  commit(pusher, 'initial');
  git(pusher, 'push', '-q', 'origin', 'main');
  git(root, 'clone', '-q', remote, local);
  return { root, remote, pusher, local, cleanup: dir.cleanup };
}

let counter = 0;
/** Makes an empty commit in `repo` and returns its sha. */
export function commit(repo: string, message = `commit ${++counter}`): string {
  git(repo, 'commit', '-q', '--allow-empty', '-m', message);
  return git(repo, 'rev-parse', 'HEAD');
}

/** Commits and pushes `branch` to origin; returns the pushed sha. */
export function pushCommit(pusher: string, branch = 'main'): string {
  const sha = commit(pusher);
  git(pusher, 'push', '-q', 'origin', `HEAD:refs/heads/${branch}`);
  return sha;
}

/** The value of a ref, or undefined when it does not exist. */
export function refValue(repo: string, ref: string): string | undefined {
  try {
    return git(repo, 'rev-parse', '--verify', '-q', ref);
  } catch {
    return undefined;
  }
}
