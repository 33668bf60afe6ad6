// `git remote-daemon fetch [--wait] [<remote>...]`: ask the running daemon to fetch now, through
// its own connections. A remote it does not act on is refused here, at once, from the state file's
// list (the daemon would only say so in its log). With --wait, the command watches the state file
// until each remote reports a fetch that finished after the request, and says how it went.

import { setTimeout as sleep } from 'node:timers/promises';
import { daemonPaths } from '../background/paths.js';
import { readState, type DaemonState } from '../background/state.js';
import { findDaemon } from './finddaemon.js';
import { NOT_RUNNING, REFUSED, sendCommand } from './send.js';

export interface FetchOptions {
  wait?: boolean;
  /** With `wait`: how long to wait for every fetch to finish, in ms. */
  timeoutMs?: number;
}

export interface FetchResult {
  code: number;
  /** Why it failed, one line. */
  message?: string;
}

/** How long a daemon that is still starting gets to write its first state file. */
const STATE_WAIT_MS = 5000;
/** How often the state file is read again while waiting (the daemon rewrites it within 50 ms of a change). */
const POLL_MS = 100;

export async function fetchCommand(cwd: string, names: string[], options: FetchOptions, say: (line: string) => void): Promise<FetchResult> {
  const paths = await daemonPaths(cwd);
  const daemon = await findDaemon(paths);
  if (!daemon) return { code: NOT_RUNNING, message: 'no daemon is running in this repository; start it with `git remote-daemon start`' };
  if (daemon.mode === 'foreground') {
    return { code: 1, message: `the daemon here (pid ${daemon.pid}) runs with --foreground: send FETCH on its stdin` };
  }
  const state = await stateOf(paths.state, daemon.pid);
  if (!state) return { code: 1, message: `the daemon (pid ${daemon.pid}) has written no state yet; try again in a moment` };

  const acted = state.remotes.map((r) => r.name);
  for (const name of names) {
    if (acted.includes(name)) continue;
    const ignored = state.ignored?.find((i) => i.name === name);
    if (ignored) return { code: REFUSED, message: `the daemon does not act on remote ${name}: ${ignored.reason}` };
    return { code: REFUSED, message: `no remote named ${name} is acted on by the daemon (${acted.length > 0 ? `it acts on: ${acted.join(', ')}` : 'it acts on none'})` };
  }
  const targets = names.length > 0 ? [...new Set(names)] : acted;
  if (targets.length === 0) return { code: REFUSED, message: 'the daemon acts on no remote, so there is nothing to fetch; add one with git remote add' };

  // A remote that is not connected does not fetch now: its catch-up after reconnecting does.
  const unconnected = options.wait ? targets.filter((name) => !state.remotes.find((r) => r.name === name)?.connected) : [];
  const requested = Date.now();
  // None named: plain FETCH, every remote the daemon acts on when it reads the message.
  const sent = await sendCommand(cwd, ['FETCH', ...(names.length > 0 ? targets : [])].join(' '));
  if (sent.code !== 0) return { code: sent.code, message: sent.message };
  if (!options.wait) {
    say(`asked the daemon (pid ${sent.pid}) to fetch from ${targets.join(', ')}; \`fetch --wait\` says how it went`);
    return { code: 0 };
  }

  const failures = unconnected.map((name) => `${name}: not connected, so nothing was fetched (the daemon fetches what changed once it reconnects; see git remote-daemon status)`);
  const pending = new Set(targets.filter((name) => !unconnected.includes(name)));
  const deadline = requested + (options.timeoutMs ?? 600_000);
  while (pending.size > 0) {
    const now = await stateOf(paths.state, daemon.pid, 0);
    if (!now) {
      failures.push(`the daemon (pid ${daemon.pid}) stopped before the fetch finished`);
      break;
    }
    for (const name of pending) {
      const outcome = outcomeOf(now, name, requested);
      if (!outcome) continue;
      pending.delete(name);
      if (outcome.ok) say(`${name}: fetched${outcome.detail ? `: ${outcome.detail}` : ''}`);
      else failures.push(`${name}: ${outcome.detail}`);
    }
    if (pending.size === 0) break;
    if (Date.now() >= deadline) {
      failures.push(`no fetch from ${[...pending].join(', ')} finished in time; see git remote-daemon log`);
      break;
    }
    await sleep(POLL_MS);
  }
  return failures.length > 0 ? { code: 1, message: failures.join('; ') } : { code: 0 };
}

/** The remote's fetch that finished after `requested`, if there is one yet. */
function outcomeOf(state: DaemonState, name: string, requested: number): { ok: boolean; detail?: string } | undefined {
  const remote = state.remotes.find((r) => r.name === name);
  if (!remote) return { ok: false, detail: 'no longer acted on by the daemon (the config changed)' };
  const last = remote.lastFetch;
  if (last && last.at >= requested) {
    if (last.ok) return { ok: true, detail: remote.lastChange && remote.lastChange.at >= requested ? remote.lastChange.summary : 'nothing new' };
    const why = remote.warnings?.find((w) => w.kind === 'fetch')?.text;
    return { ok: false, detail: `the fetch FAILED${why ? `: ${why}` : '; see git remote-daemon log'}` };
  }
  // Dropped before fetching: it would wait for a reconnect, which may take long.
  if (!remote.connected && !remote.fetching) return { ok: false, detail: 'disconnected before the fetch finished; see git remote-daemon status' };
  return undefined;
}

/** The state file of the daemon `pid`, waiting up to `waitMs` for one that is still starting. */
async function stateOf(path: string, pid: number, waitMs = STATE_WAIT_MS): Promise<DaemonState | undefined> {
  for (const deadline = Date.now() + waitMs; ; await sleep(POLL_MS)) {
    const state = readState(path);
    if (state && state.pid === pid) return state;
    if (Date.now() >= deadline) return undefined;
  }
}
