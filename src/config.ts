// The remotes to act on, exactly as git sees them. We ask git itself (`git config -z --list`) so
// include files, repeated keys (several fetch refspecs), quoting and case rules all come out right;
// an INI parser would keep one value per key and know nothing of includes.

import spawn from 'nano-spawn';
import { DAEMON, isProtocolWord } from './protocol.js';
import { last, parseBool, parseConfigList, rewriteUrl, type GitConfig } from '../shared/gitconfig.js';
import { urlKind } from '../shared/kit/url.js';
import { DEFAULT_MAINTENANCE_QUIET_SECONDS } from './maintenance.js';
import { DEFAULT_FETCH_STALL_SECONDS, type RemoteSpec, type RepoInfo } from '../shared/workerapi.js';
import { servedKinds, transportFor } from '../workers/registry.js';

export const DEFAULT_POLL_INTERVAL_SECONDS = 60;

/** Node's timers overflow past 2^31-1 ms (and then fire at once): the longest interval we accept. */
export const MAX_TIMER_SECONDS = 2_147_483;

export interface LoadedConfig {
  remotes: RemoteSpec[];
  /** Remotes configured but not acted on, with the reason (reported once as WARNING). */
  ignored: { name: string; reason: string; quiet: boolean }[];
  /** Problems with daemon-wide settings. */
  problems: string[];
  /** Daemon-wide settings other modules read (after-fetch actions, endpoints...). */
  raw: GitConfig;
  /** The poll interval of a remote: its own `remote.<name>.remotedaemon-pollInterval`, else the daemon's. */
  pollIntervalSeconds(remote: string): number;
  /** `remotedaemon.fetchStallTimeout`: a fetch silent this long is ended and retried. */
  fetchStallSeconds: number;
  /** `remotedaemon.maintenanceQuiet`: how long after the last fetch the daemon runs `git maintenance run --auto`. */
  maintenanceQuietSeconds: number;
}

/** `git rev-parse <args>` in `cwd`; its stdout, or an Error with git's own complaint. */
export async function revParse(cwd: string, ...args: string[]): Promise<string> {
  try {
    return (await spawn('git', ['rev-parse', ...args], { cwd })).stdout;
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new Error(stderr?.replace(/^fatal: /, '') || `not a git repository: ${cwd}`);
  }
}

/** Finds the repository the daemon runs in (like every git command, from `cwd` upwards). */
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
  const poll = { ...POLL_INTERVAL, value: last(config, 'remotedaemon.pollinterval') };
  const defaultPoll = seconds(poll, DEFAULT_POLL_INTERVAL_SECONDS, problems);
  const pollIntervals = new Map<string, number>();
  const fetchStallSeconds = seconds({ key: 'remotedaemon.fetchStallTimeout', min: 1, value: last(config, 'remotedaemon.fetchstalltimeout') }, DEFAULT_FETCH_STALL_SECONDS, problems);
  const maintenanceQuietSeconds = seconds({ key: 'remotedaemon.maintenanceQuiet', min: 1, value: last(config, 'remotedaemon.maintenancequiet') }, DEFAULT_MAINTENANCE_QUIET_SECONDS, problems);

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
      const kind = urlKind(url);
      const why = kind.kind === 'helper' ? `git runs git-remote-${kind.helper} for it, which the daemon cannot watch` : 'no transport serves it';
      ignored.push({ name, reason: `${url}: ${why} (served: ${servedKinds()})`, quiet: false });
      continue;
    }
    const fetchRefspecs = config.get(`remote.${name}.fetch`) ?? [];
    if (fetchRefspecs.length === 0) {
      ignored.push({ name, reason: 'it has no remote.<name>.fetch refspec, so a fetch would update nothing', quiet: false });
      continue;
    }
    const own = transport.remoteOptions?.({ name, url, config, env, get }) ?? { options: {} };
    if ('ignore' in own) {
      ignored.push({ name, reason: own.ignore, quiet: false });
      continue;
    }
    problems.push(...(own.problems ?? []));
    const spec: RemoteSpec = { name, url, transport: transport.name, fetchRefspecs, options: own.options };
    if (get('tagopt') !== '--no-tags') spec.followTags = true;
    if (parseBool(get('prune') ?? last(config, 'fetch.prune') ?? 'false')) spec.prune = true;
    const ownPoll = get('remotedaemon-pollinterval');
    if (ownPoll !== undefined) pollIntervals.set(name, seconds({ ...POLL_INTERVAL, key: `remote.${name}.remotedaemon-pollInterval`, value: ownPoll }, defaultPoll, problems));
    remotes.push(spec);
  }
  return { remotes, ignored, problems, raw: config, pollIntervalSeconds: (name) => pollIntervals.get(name) ?? defaultPoll, fetchStallSeconds, maintenanceQuietSeconds };
}

const POLL_INTERVAL = { key: 'remotedaemon.pollInterval', min: 1 };

/** A number of seconds from config, within what timers can hold; a bad value is a problem and the fallback is used. */
function seconds(setting: { key: string; min: number; value: string | undefined }, fallback: number, problems: string[]): number {
  if (setting.value === undefined) return fallback;
  const n = Number(setting.value);
  if (setting.value.trim() !== '' && Number.isFinite(n) && n >= setting.min && n <= MAX_TIMER_SECONDS) return n;
  problems.push(`${setting.key} must be a number of seconds from ${setting.min} to ${MAX_TIMER_SECONDS}, not ${JSON.stringify(setting.value)}; using ${fallback}`);
  return fallback;
}

export { last, localPath, parseBool, parseConfigList, rewriteUrl, type GitConfig } from '../shared/gitconfig.js';

export async function loadConfig(repo: RepoInfo, env: NodeJS.ProcessEnv = process.env): Promise<LoadedConfig> {
  return remotesFromConfig(await readGitConfig(repo), env);
}
