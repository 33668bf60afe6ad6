// Process groups: a child started in its own group can be ended together with everything it
// started (a hook, the processes a hook left in the background, git's own helpers) by one signal
// to the group. The one place that signals groups and that runs a command under a time limit.

// node:child_process rather than nano-spawn: nano-spawn keeps every byte a command prints, and
// these commands are the user's (afterFetch, git hooks), whose output has no bound. Here it is
// kept up to a limit and the rest dropped.
import { spawn } from 'node:child_process';
import { unwatchGroup, watchGroup } from './groupwatch.js';

/** Signals a process group; harmless when it is already gone. */
export function killGroup(pid: number, signal: NodeJS.Signals = 'SIGTERM'): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone (ESRCH)
  }
}

export function killGroups(pids: Iterable<number>, signal: NodeJS.Signals = 'SIGTERM'): void {
  for (const pid of pids) killGroup(pid, signal);
}

export interface GroupRun {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Written to its stdin, which is then closed; without it stdin is /dev/null. */
  input?: string;
  /** After this long the group is ended. */
  timeoutMs: number;
  /** Aborting it ends the group too (the daemon is stopping). */
  signal?: AbortSignal;
  /**
   * How long after SIGTERM the group gets SIGKILL. SIGTERM comes first because on it git removes
   * its lock files; SIGKILL also comes as soon as the leader has exited, for what outlived it.
   */
  graceMs?: number;
  /** `killedFor` when the time ran out. */
  describeTimeout?: string;
  /** `killedFor` when `signal` aborted. */
  describeAbort?: string;
  /** Characters kept of each capture; the rest is dropped. */
  maxOutput?: number;
}

export interface GroupResult {
  /** Exit code, null when a signal ended it or it never ran. */
  code: number | null;
  exitSignal: NodeJS.Signals | null;
  /** Set when this ended the group (timeout or abort): why, from describeTimeout / describeAbort. */
  killedFor?: string;
  /** It could not be started (no such program or directory...). */
  error?: Error;
  stdout: string;
  stderr: string;
  /** stdout and stderr together, in the order they arrived. */
  output: string;
}

export const DEFAULT_GRACE_MS = 500;
const DEFAULT_MAX_OUTPUT = 64 * 1024;
/**
 * After the leader exits, how long the pipes may still deliver what it wrote just before: a
 * process it left in the background holding them open must not keep us waiting.
 */
const PIPE_GRACE_MS = 200;

/**
 * Runs `file` in a new process group and resolves once it has exited (never rejects). On timeout
 * or abort the whole group gets SIGTERM, then SIGKILL when the leader is gone or the grace is over.
 * Processes it leaves behind after a normal exit are left alone.
 */
export function runInGroup(file: string, args: readonly string[], run: GroupRun): Promise<GroupResult> {
  const graceMs = run.graceMs ?? DEFAULT_GRACE_MS;
  const max = run.maxOutput ?? DEFAULT_MAX_OUTPUT;
  return new Promise((resolve) => {
    const child = spawn(file, args, {
      cwd: run.cwd,
      env: run.env,
      detached: true,
      stdio: [run.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    // Ended with the daemon if it dies meanwhile (groupwatch.ts): a `kill -9` leaves no hook running.
    if (child.pid !== undefined) watchGroup(child.pid);
    const captured = { stdout: '', stderr: '', output: '' };
    const keep = (text: string, chunk: string) => (text.length < max ? text + chunk.slice(0, max - text.length) : text);
    for (const name of ['stdout', 'stderr'] as const) {
      child[name]?.setEncoding('utf8').on('data', (chunk: string) => {
        captured[name] = keep(captured[name], chunk);
        captured.output = keep(captured.output, chunk);
      });
    }
    if (child.stdin) {
      // A command that ignores its stdin closes the pipe early: that is not an error.
      child.stdin.on('error', () => {});
      child.stdin.end(run.input);
    }

    const signalGroup = (signal: NodeJS.Signals) => {
      if (child.pid !== undefined) killGroup(child.pid, signal);
    };
    let killedFor: string | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    const kill = (why: string) => {
      if (killedFor !== undefined) return;
      killedFor = why;
      signalGroup('SIGTERM');
      killTimer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
    };
    const timer = setTimeout(() => kill(run.describeTimeout ?? `timed out after ${run.timeoutMs / 1000} s`), Math.max(0, run.timeoutMs));
    const onAbort = () => kill(run.describeAbort ?? 'stopped');
    if (run.signal?.aborted) onAbort();
    else run.signal?.addEventListener('abort', onAbort, { once: true });

    let settled = false;
    const settle = (code: number | null, exitSignal: NodeJS.Signals | null, error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      run.signal?.removeEventListener('abort', onAbort);
      child.stdout?.destroy();
      child.stderr?.destroy();
      if (killedFor !== undefined) {
        clearTimeout(killTimer);
        signalGroup('SIGKILL'); // what outlived the leader, or ignored SIGTERM
      }
      if (child.pid !== undefined) unwatchGroup(child.pid);
      resolve({ code, exitSignal, killedFor, error, ...captured });
    };
    child.once('error', (err) => settle(null, null, err));
    child.once('exit', (code, exitSignal) => {
      const grace = setTimeout(() => settle(code, exitSignal), PIPE_GRACE_MS);
      child.once('close', () => {
        clearTimeout(grace);
        settle(code, exitSignal);
      });
    });
  });
}
