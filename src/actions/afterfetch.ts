// `remotedaemon.afterFetch = <command>`: a command of the user's choosing, run after a fetch that
// moved refs. The command is the user's own text, run with `sh -c` like a git alias; the data
// (remote name, updated refs) never enters that text. It arrives only in the environment and on
// stdin, so a hostile ref name such as `$(rm -rf ~)` is just bytes to the command.

import { runInGroup } from '../../shared/kit/group.js';
import type { RefUpdate } from '../../shared/workerapi.js';

export interface AfterFetchRun {
  command: string;
  remote: string;
  updates: RefUpdate[];
  cwd: string;
  timeoutMs: number;
}

export interface AfterFetchResult {
  ok: boolean;
  /** Why it failed (exit code, signal, timeout), when it did. */
  failure?: string;
  /** Its stdout and stderr together, bounded, for the log. */
  output: string;
}

/** Output kept from one run; the rest is dropped (it only goes to the log). */
const MAX_OUTPUT = 16 * 1024;

export const ENV_REMOTE = 'GIT_REMOTE_DAEMON_REMOTE';
export const ENV_REFS = 'GIT_REMOTE_DAEMON_REFS';

/**
 * Runs the command in its own process group (so a timeout ends it and everything it started:
 * SIGTERM first, so it can clean up, SIGKILL after a grace).
 * Environment: GIT_REMOTE_DAEMON_REMOTE=<remote>, GIT_REMOTE_DAEMON_REFS=<ref> <ref>... (git
 * forbids spaces in ref names). Stdin: one `<old> <new> <ref>` line per updated ref, the format of
 * git's post-receive hook.
 */
export async function runAfterFetch(run: AfterFetchRun, signal?: AbortSignal): Promise<AfterFetchResult> {
  const result = await runInGroup('/bin/sh', ['-c', run.command], {
    cwd: run.cwd,
    env: { ...process.env, [ENV_REMOTE]: run.remote, [ENV_REFS]: run.updates.map((u) => u.ref).join(' ') },
    input: run.updates.map((u) => `${u.old} ${u.new} ${u.ref}\n`).join(''),
    timeoutMs: run.timeoutMs,
    signal,
    describeAbort: 'stopped with the daemon',
    maxOutput: MAX_OUTPUT,
  });
  const output = result.output;
  if (result.killedFor !== undefined) return { ok: false, failure: result.killedFor, output };
  if (result.error) return { ok: false, failure: `could not run it: ${result.error.message}`, output };
  if (result.code === 0) return { ok: true, output };
  return { ok: false, failure: result.exitSignal ? `killed by ${result.exitSignal}` : `exit code ${result.code}`, output };
}
