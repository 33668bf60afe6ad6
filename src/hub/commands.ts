// The shared daemon's commands: register/unregister/list, start --all, stop --all, status --all.

import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { lockHolder, lockPath } from '../background/lock.js';
import { verifyDaemon } from '../background/daemonprocesses.js';
import { isAlive, runningDaemon, type PidRecord } from '../background/pidfile.js';
import { ensureDir, pathsIn } from '../background/paths.js';
import { locateRepo } from '../background/gitdirwalk.js';
import { readState } from '../background/state.js';
import { BIN, interpret, spawnDaemon, type StartResult } from '../background/start.js';
import { healthProblems } from '../commands/health.js';
import type { StateView } from '../commands/statusview.js';
import { hubDir, hubPaths } from './paths.js';
import { readRegistered } from './registered.js';

const STOP_TIMEOUT_MS = 10_000;

/** The running shared daemon, vouched for by /proc; undefined when none runs. */
export async function findHub(): Promise<PidRecord | undefined> {
  const paths = hubPaths();
  const holder = await lockHolder(paths);
  const checked = holder && verifyDaemon(holder.pid, lockPath(paths));
  if (checked) return checked;
  return runningDaemon(paths.pidFile);
}

/** Tells a running shared daemon to read the registered set again (SIGUSR1); its pid, if one runs. */
export async function signalHub(): Promise<number | undefined> {
  const hub = await findHub();
  if (!hub || !isAlive(hub)) return undefined;
  try {
    process.kill(hub.pid, 'SIGUSR1');
    return hub.pid;
  } catch {
    return undefined;
  }
}

export async function startHub(): Promise<StartResult> {
  const paths = hubPaths();
  try {
    ensureDir(paths);
  } catch (err) {
    return { code: 1, message: (err as Error).message };
  }
  const running = await findHub();
  if (running) return { code: 0, message: `the shared daemon is already running (pid ${running.pid})`, pid: running.pid };
  // Its directory is its working directory: it holds none of the repositories it serves.
  const report = await spawnDaemon([BIN, '--all', '--daemon-child'], paths.dir, paths.log);
  if ('code' in report) return report;
  const result = interpret(report.answer, paths.log);
  if (result.code === 0) result.message = `shared daemon ${result.message}`;
  return result;
}

export async function stopHub(): Promise<{ code: number; message: string }> {
  const record = await findHub();
  if (!record) return { code: 0, message: 'no shared daemon is running' };
  try {
    process.kill(record.pid, 'SIGTERM');
  } catch {
    return { code: 0, message: `stopped the shared daemon (pid ${record.pid})` };
  }
  for (const deadline = Date.now() + STOP_TIMEOUT_MS; isAlive(record); await sleep(20)) {
    if (Date.now() > deadline) {
      try {
        process.kill(record.pid, 'SIGKILL');
      } catch {
        // gone at last
      }
      return { code: 1, message: `the shared daemon (pid ${record.pid}) did not stop within ${STOP_TIMEOUT_MS / 1000} s; killed it` };
    }
  }
  return { code: 0, message: `stopped the shared daemon (pid ${record.pid})` };
}

/** One line of `status --all`: what serves the repository at `path` and how it does. */
export function statusLine(path: string, hubPid: number | undefined, now = Date.now()): string {
  if (!existsSync(path)) return `${path}  gone (no such directory)`;
  const located = locateRepo(path, {});
  if (!located) return `${path}  not a git repository`;
  const paths = pathsIn(located.commonDir);
  const record = runningDaemon(paths.pidFile);
  const state = record && (readState(paths.state) as unknown as StateView | undefined);
  if (!record || !state || state.pid !== record.pid) return `${path}  not served`;
  const remotes = state.remotes ?? [];
  const connected = remotes.filter((r) => r.connected).length;
  const who = record.pid === hubPid ? 'shared' : `own daemon (pid ${record.pid})`;
  const last = Math.max(0, ...remotes.map((r) => r.lastChange?.at ?? 0));
  const change = last > 0 ? `last change ${ago(now - last)} ago` : 'no change yet';
  const problems = healthProblems(state, now, 10 * 60_000);
  const mode = state.mode && state.mode !== 'running' ? ` (${state.mode})` : '';
  return `${path}  ${who}${mode}, ${connected}/${remotes.length} connected, ${change}${problems.length > 0 ? `, ${problems.length} problem${problems.length === 1 ? '' : 's'}: ${problems.join('; ')}` : ''}`;
}

function ago(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

export async function statusAll(): Promise<{ code: number; text: string }> {
  const hub = await findHub();
  const { paths } = await readRegistered();
  const head = hub ? `shared daemon running (pid ${hub.pid}); log: ${hubPaths().log}` : `no shared daemon is running (${hubDir()})`;
  const lines = paths.map((p) => statusLine(p, hub?.pid));
  if (lines.length === 0) lines.push('no repository is registered (git remote-daemon register)');
  return { code: hub ? 0 : 3, text: [head, ...lines].join('\n') };
}
