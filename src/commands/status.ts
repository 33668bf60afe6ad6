// `git remote-daemon status [--json]`: what the repository's daemon and each remote are doing, from
// the state file the daemon keeps current. Exit code 0 when a daemon runs, 3 when none does (the
// LSB convention `systemctl status` follows).

import { runningDaemon } from '../background/pidfile.js';
import { daemonPaths } from '../background/paths.js';
import { readState, type DaemonState } from '../background/state.js';
import type { RemoteStatus } from '../coordinator.js';
import { describePhase } from '../../workers/lifecycle.js';

export const NOT_RUNNING = 3;

export async function statusCommand(cwd: string, options: { json?: boolean }, now = Date.now()): Promise<{ code: number; text: string }> {
  const paths = await daemonPaths(cwd);
  const record = runningDaemon(paths.pidFile);
  if (!record) {
    return {
      code: NOT_RUNNING,
      text: options.json ? JSON.stringify({ running: false }) : 'no daemon is running in this repository',
    };
  }
  const state = readState(paths.state);
  const fresh = state && state.pid === record.pid ? state : undefined;
  if (options.json) return { code: 0, text: JSON.stringify({ running: true, pid: record.pid, starting: !fresh, ...(fresh ?? {}) }, null, 2) };
  if (!fresh) return { code: 0, text: `running (pid ${record.pid}), starting up` };
  return { code: 0, text: formatStatus(fresh, now) };
}

export function formatStatus(state: DaemonState, now: number): string {
  const lines = [
    `running (pid ${state.pid}) since ${when(state.startedAt, now)} in ${state.cwd}` +
      (state.mode === 'running' ? '' : `; ${state.mode === 'paused' ? 'PAUSED' : 'offline (LOSTNET)'} until RESUME`),
  ];
  if (state.remotes.length === 0) lines.push('no remotes to act on');
  const width = Math.max(...state.remotes.map((r) => r.name.length), 0);
  for (const remote of state.remotes) lines.push(formatRemote(remote, width, now));
  for (const e of state.endpoints ?? []) lines.push([`${e.name}:`, e.summary, ...(e.events ?? []).map((ev) => `${ev.what} ${when(ev.at, now)}`)].join('  '));
  return lines.join('\n');
}

function formatRemote(r: RemoteStatus, width: number, now: number): string {
  const parts = [r.name.padEnd(width), r.transport.padEnd(5), `${r.connected ? 'connected' : 'disconnected'} since ${when(r.since, now)}`];
  parts.push(r.lastFetch ? `last fetch ${when(r.lastFetch.at, now)} ${r.lastFetch.ok ? 'ok' : 'FAILED'}` : 'no fetch yet');
  if (r.watching && r.connected) parts.push(`watching: ${r.watching}`);
  if (r.phase && r.phase.kind !== 'connected') parts.push(describePhase(r.phase, now));
  for (const w of r.warnings ?? []) parts.push(`warning since ${when(w.at, now)}: ${w.text}`);
  return parts.join('  ');
}

/** A time as "12:03:04 (5m ago)" / "(in 30s)". */
function when(at: number, now: number): string {
  const d = new Date(at);
  const clock = [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
  const future = at > now;
  // Round towards "later" for the future and "earlier" for the past, so a retry due in 300 ms reads "in 1s".
  const span = future ? Math.ceil((at - now) / 1000) : Math.floor((now - at) / 1000);
  const amount = span < 60 ? `${span}s` : span < 3600 ? `${Math.floor(span / 60)}m` : span < 86400 ? `${Math.floor(span / 3600)}h` : `${Math.floor(span / 86400)}d`;
  return `${clock} (${future ? `in ${amount}` : `${amount} ago`})`;
}
