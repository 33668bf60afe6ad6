// The remotes to act on, exactly as git sees them. We ask git itself (`git config -z --list`) so
// include files, repeated keys (several fetch refspecs), quoting and case rules all come out right;
// an INI parser would keep one value per key and know nothing of includes.

import spawn from 'nano-spawn';
import { isAbsolute, resolve } from 'node:path';
import { DAEMON, isProtocolWord } from './protocol.js';
import type { RemoteSpec, RepoInfo, TransportKind } from './workerapi.js';

export const DEFAULT_POLL_INTERVAL_SECONDS = 60;

/** Node's timers overflow past 2^31-1 ms (and then fire at once): the longest interval we accept. */
export const MAX_TIMER_SECONDS = 2_147_483;

/** Multi-valued view of git's config: every key (as git prints it) -> its values in order. */
export type GitConfig = Map<string, string[]>;

export interface LoadedConfig {
  remotes: RemoteSpec[];
  /** Remotes configured but not acted on, with the reason (reported once as WARNING). */
  ignored: { name: string; reason: string; quiet: boolean }[];
  /** Problems with daemon-wide settings. */
  problems: string[];
  /** Daemon-wide settings other modules read (after-fetch actions...). */
  raw: GitConfig;
}

/** Finds the repository the daemon runs in (like every git command, from `cwd` upwards). */
/** `git rev-parse <args>` in `cwd`; its stdout, or an Error with git's own complaint. */
export async function revParse(cwd: string, ...args: string[]): Promise<string> {
  try {
    return (await spawn('git', ['rev-parse', ...args], { cwd })).stdout;
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new Error(stderr?.replace(/^fatal: /, '') || `not a git repository: ${cwd}`);
  }
}

export async function findRepo(cwd: string): Promise<RepoInfo> {
  const [gitDir, inWorkTree] = (await revParse(cwd, '--absolute-git-dir', '--is-inside-work-tree')).split('\n');
  // Bare, or inside the git dir itself: git commands run fine from the git dir.
  if (inWorkTree !== 'true') return { gitDir, cwd: gitDir };
  return { gitDir, cwd: await revParse(cwd, '--show-toplevel') };
}

export async function readGitConfig(repo: RepoInfo): Promise<GitConfig> {
  let stdout: string;
  try {
    ({ stdout } = await spawn('git', ['config', '-z', '--list'], { cwd: repo.cwd }));
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new Error(`git could not read the config: ${stderr || String(err)}`);
  }
  return parseConfigList(stdout);
}

/** Parses `git config -z --list`: entries end with NUL, the key ends at the first newline. */
export function parseConfigList(text: string): GitConfig {
  const config: GitConfig = new Map();
  for (const entry of text.split('\0')) {
    if (entry === '') continue;
    const newline = entry.indexOf('\n');
    // A key with no value at all (`[section] flag`) means boolean true to git.
    const key = newline < 0 ? entry : entry.slice(0, newline);
    const value = newline < 0 ? 'true' : entry.slice(newline + 1);
    const values = config.get(key);
    if (values) values.push(value);
    else config.set(key, [value]);
  }
  return config;
}

/** Git's boolean spellings; undefined when the value is not a boolean. */
export function parseBool(value: string): boolean | undefined {
  const v = value.toLowerCase();
  if (['true', 'yes', 'on', '1'].includes(v)) return true;
  if (['false', 'no', 'off', '0', ''].includes(v)) return false;
  return undefined;
}

/** The value git uses for a single-valued key: the last one. */
export function last(config: GitConfig, key: string): string | undefined {
  return config.get(key)?.at(-1);
}

/** Applies `url.<base>.insteadOf`: the longest matching prefix wins, as in git. */
export function rewriteUrl(config: GitConfig, url: string): string {
  let best: { base: string; prefix: string } | undefined;
  for (const [key, values] of config) {
    if (!key.startsWith('url.') || !key.endsWith('.insteadof')) continue;
    const base = key.slice('url.'.length, -'.insteadof'.length);
    for (const prefix of values) {
      if (url.startsWith(prefix) && (!best || prefix.length > best.prefix.length)) best = { base, prefix };
    }
  }
  return best ? best.base + url.slice(best.prefix.length) : url;
}

/** Which transport serves a URL, following git's own rules for telling ssh from local paths. */
export function transportFor(url: string): TransportKind | undefined {
  // `<helper>::<address>` runs git-remote-<helper> (hg::, gcrypt::, ext::): nothing we can watch.
  if (/^[A-Za-z][A-Za-z0-9+.-]*::/.test(url)) return undefined;
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase();
  if (scheme !== undefined) {
    if (scheme === 'file') return 'local';
    if (scheme === 'ssh' || scheme === 'git+ssh' || scheme === 'ssh+git') return 'ssh';
    return undefined;
  }
  // scp-like `[user@]host:path` has a colon before any slash; everything else is a local path.
  const colon = url.indexOf(':');
  const slash = url.indexOf('/');
  if (colon > 0 && (slash < 0 || colon < slash)) return 'ssh';
  return 'local';
}

/** The local path a `file://` URL or plain path names, made absolute against the repository. */
export function localPath(url: string, repo: RepoInfo): string {
  const path = url.startsWith('file://') ? url.slice('file://'.length) : url;
  return isAbsolute(path) ? path : resolve(repo.cwd, path);
}

/** Lists remote names in config order (the order `git remote` shows). */
function remoteNames(config: GitConfig): string[] {
  const names: string[] = [];
  for (const key of config.keys()) {
    const match = /^remote\.(.+)\.[^.]+$/s.exec(key);
    if (match && !names.includes(match[1])) names.push(match[1]);
  }
  return names;
}

export function remotesFromConfig(config: GitConfig, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const remotes: RemoteSpec[] = [];
  const ignored: LoadedConfig['ignored'] = [];
  const problems: string[] = [];

  let pollIntervalSeconds = DEFAULT_POLL_INTERVAL_SECONDS;
  const poll = last(config, 'remotedaemon.pollinterval');
  if (poll !== undefined) {
    const n = Number(poll);
    if (Number.isFinite(n) && n >= 1 && n <= MAX_TIMER_SECONDS) pollIntervalSeconds = n;
    else problems.push(`remotedaemon.pollInterval must be a number of seconds from 1 to ${MAX_TIMER_SECONDS}, not ${JSON.stringify(poll)}; using ${DEFAULT_POLL_INTERVAL_SECONDS}`);
  }
  // git gives GIT_SSH_COMMAND precedence over core.sshCommand, and so do we.
  const sshCommand = env.GIT_SSH_COMMAND || last(config, 'core.sshcommand') || undefined;
  const afterFetch = last(config, 'remotedaemon.afterfetch')?.trim();

  for (const name of remoteNames(config)) {
    if (!isProtocolWord(name)) {
      // git itself refuses such names; a hand-edited config can still hold one. It cannot be
      // named in a protocol line, which separates words with spaces: the daemon speaks of it.
      ignored.push({ name: DAEMON, reason: `remote ${JSON.stringify(name)} has spaces, control characters or \`*\` in its name`, quiet: false });
      continue;
    }
    const get = (key: string) => last(config, `remote.${name}.${key}`);
    const enabled = get('remotedaemon');
    if (enabled !== undefined) {
      const on = parseBool(enabled);
      if (on === false) {
        ignored.push({ name, reason: 'remote.<name>.remotedaemon is false', quiet: true });
        continue;
      }
      if (on === undefined) problems.push(`remote.${name}.remotedaemon is not a boolean: ${JSON.stringify(enabled)}; acting on the remote`);
    }
    const urls = config.get(`remote.${name}.url`);
    if (!urls || urls[0] === '') {
      ignored.push({ name, reason: 'it has no url', quiet: false });
      continue;
    }
    const url = rewriteUrl(config, urls[0]);
    const transport = transportFor(url);
    if (!transport) {
      ignored.push({ name, reason: `no transport serves ${url} yet (local paths, file:// and ssh are supported)`, quiet: false });
      continue;
    }
    const fetchRefspecs = config.get(`remote.${name}.fetch`) ?? [];
    if (fetchRefspecs.length === 0) {
      ignored.push({ name, reason: 'it has no remote.<name>.fetch refspec, so a fetch would update nothing', quiet: false });
      continue;
    }
    const spec: RemoteSpec = { name, url, transport, fetchRefspecs, pollIntervalSeconds };
    if (get('tagopt') !== '--no-tags') spec.followTags = true;
    if (parseBool(get('prune') ?? last(config, 'fetch.prune') ?? 'false')) spec.prune = true;
    const notifier = get('remotedaemon-notifier');
    if (notifier) spec.notifier = notifier;
    if (transport === 'ssh' && sshCommand) spec.sshCommand = sshCommand;
    if (afterFetch) spec.reportUpdates = true;
    remotes.push(spec);
  }
  return { remotes, ignored, problems, raw: config };
}

export async function loadConfig(repo: RepoInfo, env: NodeJS.ProcessEnv = process.env): Promise<LoadedConfig> {
  return remotesFromConfig(await readGitConfig(repo), env);
}
