// The registered set: the repositories the user's shared daemon serves, kept like `git maintenance
// register` keeps its own, in the user's global git config as the multi-valued key
// `remotedaemon.repo`, one absolute top-level path each. Read and written through `git config
// --global` (argument arrays, never a shell string), so GIT_CONFIG_GLOBAL, HOME and
// XDG_CONFIG_HOME mean what they mean to git.

import spawn from 'nano-spawn';
import { realpathSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';

export const KEY = 'remotedaemon.repo';

/**
 * The set as git returned it, made into what the daemon serves: trimmed, absolute paths only
 * (a relative one is listed in `ignored`: relative to what?), normalised (no `.`, `..`, trailing
 * slash), each once, in the order first registered.
 */
export function normaliseRegistered(values: readonly string[]): { paths: string[]; ignored: string[] } {
  const paths: string[] = [];
  const ignored: string[] = [];
  for (const raw of values) {
    const value = raw.trim();
    if (value === '') continue;
    if (!isAbsolute(value)) {
      ignored.push(value);
      continue;
    }
    const path = resolve(value);
    if (!paths.includes(path)) paths.push(path);
  }
  return { paths, ignored };
}

/** The values of a `git config -z --get-all` answer. */
export function parseValues(stdout: string): string[] {
  return stdout.split('\0').filter((v) => v !== '');
}

async function git(args: string[], cwd = '/'): Promise<string> {
  return (await spawn('git', args, { cwd })).stdout;
}

/** The registered repositories (see normaliseRegistered). An absent key is the empty set. */
export async function readRegistered(): Promise<{ paths: string[]; ignored: string[] }> {
  try {
    return normaliseRegistered(parseValues(await git(['config', '--global', '-z', '--get-all', KEY])));
  } catch (err) {
    // Exit code 1: the key is not set. Anything else (a global config git cannot read) is said.
    if ((err as { exitCode?: number }).exitCode === 1) return { paths: [], ignored: [] };
    throw new Error(gitMessage(err));
  }
}

/**
 * The global config's settings other than the registered set, as one comparable text: every
 * repository reads them, so a change to them reloads all; `register`/`unregister` change none.
 * Unreadable (or absent) gives the empty text.
 */
export async function globalSettingsBesidesSet(): Promise<string> {
  try {
    const entries = (await git(['config', '--global', '-z', '--list'])).split('\0');
    return entries.filter((entry) => entry !== '' && entry.split('\n', 1)[0]!.toLowerCase() !== KEY).join('\0');
  } catch {
    return '';
  }
}

function gitMessage(err: unknown): string {
  const e = err as { stderr?: string; message: string };
  return (e.stderr?.trim() || e.message).split('\n')[0];
}

/**
 * The path that names the repository `dir` is in: its worktree's top level (the git dir of a bare
 * repository), absolute and with symlinks resolved. Throws git's complaint outside a repository.
 */
export async function repositoryPath(dir: string): Promise<string> {
  let out: string;
  try {
    const bare = (await git(['rev-parse', '--is-bare-repository'], dir)).trim() === 'true';
    out = (await git(['rev-parse', bare ? '--absolute-git-dir' : '--show-toplevel'], dir)).trim();
  } catch (err) {
    throw new Error(gitMessage(err));
  }
  try {
    return realpathSync(out);
  } catch {
    return out;
  }
}

/** Adds the repository `dir` is in; `added` false when it was registered already (nothing written). */
export async function register(dir: string): Promise<{ path: string; added: boolean }> {
  const path = await repositoryPath(dir);
  if ((await readRegistered()).paths.includes(path)) return { path, added: false };
  try {
    await git(['config', '--global', '--add', KEY, path]);
  } catch (err) {
    throw new Error(`cannot write the global git config: ${gitMessage(err)}`);
  }
  return { path, added: true };
}

/**
 * Removes the repository `dir` is in; one that no longer exists (or is no repository now) is
 * named by its path as given. `removed` false when it was not registered.
 */
export async function unregister(dir: string): Promise<{ path: string; removed: boolean }> {
  let path: string;
  try {
    path = await repositoryPath(dir);
  } catch {
    path = resolve(dir);
  }
  const values = (await readRegistered()).paths;
  if (!values.includes(path)) return { path, removed: false };
  try {
    // Every spelling of it: `--fixed-value` takes the path as it is, not as a regex.
    const raw = parseValues(await git(['config', '--global', '-z', '--get-all', KEY]));
    for (const value of new Set(raw.filter((v) => isAbsolute(v.trim()) && resolve(v.trim()) === path))) {
      await git(['config', '--global', '--fixed-value', '--unset-all', KEY, value]);
    }
  } catch (err) {
    throw new Error(`cannot write the global git config: ${gitMessage(err)}`);
  }
  return { path, removed: true };
}
