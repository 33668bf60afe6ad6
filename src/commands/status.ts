// `git remote-daemon status [--json] [--check [--max-stale D]]`: what the repository's daemon and
// each remote are doing, from the state file the daemon keeps current. Exit code 0 when a daemon
// runs, 3 when none does (the LSB convention `systemctl status` follows); with --check, 2 when a
// remote is unhealthy (see health.ts).

import spawn from 'nano-spawn';
import { daemonPaths } from '../background/paths.js';
import { readState } from '../background/state.js';
import { findDaemon } from './finddaemon.js';
import { UNHEALTHY, healthProblems } from './health.js';
import { formatStatus, type BranchView, type StateView } from './statusview.js';

export const NOT_RUNNING = 3;

export interface StatusOptions {
  json?: boolean;
  check?: boolean;
  /** With `check`: how long a remote may be disconnected, in ms. */
  maxStale?: number;
}

export const DEFAULT_MAX_STALE_MS = 10 * 60_000;

export async function statusCommand(cwd: string, options: StatusOptions, now = Date.now()): Promise<{ code: number; text: string }> {
  const paths = await daemonPaths(cwd);
  const daemon = await findDaemon(paths);
  if (!daemon) {
    return {
      code: NOT_RUNNING,
      text: options.json ? JSON.stringify({ running: false }) : 'no daemon is running in this repository',
    };
  }
  const read = readState(paths.state) as unknown as StateView | undefined;
  const state = read && read.pid === daemon.pid ? read : undefined;
  const branch = await branchView(cwd);
  const problems = state ? healthProblems(state, now, options.maxStale ?? DEFAULT_MAX_STALE_MS) : [];
  if (!state && daemon.mode === 'foreground') problems.push(`the daemon (pid ${daemon.pid}) runs with --foreground and keeps no state to check`);
  const code = options.check && problems.length > 0 ? UNHEALTHY : 0;

  if (options.json) {
    const json: Record<string, unknown> = { running: true, pid: daemon.pid, starting: !state && daemon.mode !== 'foreground', ...(state ?? {}) };
    if (daemon.mode === 'foreground') json.foreground = true;
    if (branch) json.branch = branch;
    if (options.check) Object.assign(json, { healthy: problems.length === 0, problems });
    return { code, text: JSON.stringify(json, null, 2) };
  }
  if (options.check) return { code, text: problems.length === 0 ? `healthy: ${describeCount(state)}` : problems.join('\n') };
  if (daemon.mode === 'foreground') return { code, text: `running (pid ${daemon.pid}) with --foreground: its controller has its output; no state file` };
  if (!state) return { code, text: `running (pid ${daemon.pid}), starting up` };
  return { code, text: formatStatus(state, now, branch) };
}

function describeCount(state: StateView | undefined): string {
  const remotes = state?.remotes ?? [];
  const connected = remotes.filter((r) => r.connected).length;
  return `${remotes.length} remote${remotes.length === 1 ? '' : 's'}, ${connected} connected${state?.mode && state.mode !== 'running' ? ` (${state.mode})` : ''}`;
}

/**
 * The checked-out branch of the worktree `cwd` is in, against its upstream. Undefined when git
 * cannot say (a bare repository, a config git refuses to read): status still shows the rest.
 */
async function branchView(cwd: string): Promise<BranchView | undefined> {
  const git = async (...args: string[]) => (await spawn('git', args, { cwd })).stdout.trim();
  let branch: string;
  try {
    if ((await git('rev-parse', '--is-inside-work-tree')) !== 'true') return undefined;
  } catch {
    return undefined;
  }
  try {
    branch = await git('symbolic-ref', '-q', '--short', 'HEAD');
  } catch {
    return {}; // detached
  }
  let upstream: string;
  try {
    upstream = await git('rev-parse', '--abbrev-ref', '@{upstream}');
  } catch {
    return { branch };
  }
  try {
    const [ahead, behind] = (await git('rev-list', '--left-right', '--count', 'HEAD...@{upstream}')).split(/\s+/).map(Number);
    return { branch, upstream, ahead, behind };
  } catch {
    return { branch, upstream }; // the upstream's tracking ref is not fetched yet
  }
}
