// `remotedaemon.afterFetch = <command>`: a command of the user's choosing, run after a fetch that
// moved refs. The command is the user's own text, run with `sh -c` like a git alias; the data
// (remote name, updated refs) never enters that text. It arrives only in the environment and on
// stdin, so a hostile ref name such as `$(rm -rf ~)` is just bytes to the command.

import { spawn } from 'node:child_process';
import type { RefUpdate } from '../workerapi.js';

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
 * Runs the command in its own process group (so a timeout ends it and everything it started).
 * Environment: GIT_REMOTE_DAEMON_REMOTE=<remote>, GIT_REMOTE_DAEMON_REFS=<ref> <ref>... (git
 * forbids spaces in ref names). Stdin: one `<old> <new> <ref>` line per updated ref, the format of
 * git's post-receive hook.
 */
export function runAfterFetch(run: AfterFetchRun, signal?: AbortSignal): Promise<AfterFetchResult> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', run.command], {
      cwd: run.cwd,
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, [ENV_REMOTE]: run.remote, [ENV_REFS]: run.updates.map((u) => u.ref).join(' ') },
    });
    let output = '';
    const collect = (chunk: Buffer) => {
      if (output.length < MAX_OUTPUT) output += chunk.toString('utf8').slice(0, MAX_OUTPUT - output.length);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    // A command that ignores its stdin closes the pipe early: that is not an error.
    child.stdin.on('error', () => {});
    child.stdin.end(run.updates.map((u) => `${u.old} ${u.new} ${u.ref}\n`).join(''));

    let killedFor: string | undefined;
    const killGroup = (why: string) => {
      killedFor ??= why;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => killGroup(`timed out after ${run.timeoutMs / 1000} s`), run.timeoutMs);
    const onAbort = () => killGroup('stopped with the daemon');
    signal?.addEventListener('abort', onAbort, { once: true });

    const finish = (result: AfterFetchResult) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      // Something it left in the background may hold our pipes open; we do not wait for it.
      child.stdout.destroy();
      child.stderr.destroy();
      resolve(result);
    };
    child.once('error', (err) => finish({ ok: false, failure: `could not run it: ${err.message}`, output }));
    child.once('exit', (code, sig) => {
      const settle = () => {
        if (killedFor) return finish({ ok: false, failure: killedFor, output });
        if (code === 0) return finish({ ok: true, output });
        finish({ ok: false, failure: sig ? `killed by ${sig}` : `exit code ${code}`, output });
      };
      // Let the pipes deliver what was written just before exit, but a background process it left
      // holding them open must not keep us waiting.
      const grace = setTimeout(settle, 200);
      child.once('close', () => {
        clearTimeout(grace);
        settle();
      });
    });
  });
}
