// Drives the real daemon as a user would: `bin/git-remote-daemon --foreground` in a repository,
// protocol lines read from its stdout, messages written to its stdin.

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { makeFixture, type Fixture } from './git.js';

export const BIN = fileURLToPath(new URL('../../../bin/git-remote-daemon', import.meta.url));

export interface RunningDaemon {
  child: ChildProcess;
  lines: string[];
  stderr: string[];
  /** Resolves with the first line at or after index `from` that satisfies `match`. */
  waitFor(match: string | RegExp | ((line: string) => boolean), options?: { from?: number; timeoutMs?: number }): Promise<string>;
  /** Waits until `count` lines satisfy `match`. */
  waitForCount(match: string | RegExp, count: number, timeoutMs?: number): Promise<void>;
  send(line: string): void;
  /** Resolves with the exit code (or signal) once the process is gone. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  stop(): Promise<void>;
}

function matcher(match: string | RegExp | ((line: string) => boolean)): (line: string) => boolean {
  if (typeof match === 'function') return match;
  if (typeof match === 'string') return (line) => line === match;
  return (line) => match.test(line);
}

export function startDaemon(cwd: string, args: string[] = ['--foreground', '--verbose'], env: NodeJS.ProcessEnv = {}): RunningDaemon {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const stderr: string[] = [];
  const listeners = new Set<() => void>();
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    for (const l of listeners) l();
  });
  createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => {
      resolve({ code, signal, at: Date.now() });
      for (const l of listeners) l();
    }),
  );
  let exitedYet = false;
  void exited.then(() => (exitedYet = true));

  const waitFor: RunningDaemon['waitFor'] = (match, { from = 0, timeoutMs = 10_000 } = {}) => {
    const test = matcher(match);
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = lines.slice(from).find(test);
        if (found !== undefined) {
          done();
          resolve(found);
        } else if (exitedYet) {
          done();
          reject(new Error(`daemon exited before ${String(match)}; lines:\n${lines.join('\n')}\nstderr:\n${stderr.join('\n')}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${String(match)}; lines:\n${lines.join('\n')}\nstderr:\n${stderr.slice(-30).join('\n')}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      check();
    });
  };

  const waitForCount: RunningDaemon['waitForCount'] = async (match, count, timeoutMs = 10_000) => {
    const test = matcher(match);
    await waitFor(() => lines.filter(test).length >= count, { timeoutMs });
  };

  return {
    child,
    lines,
    stderr,
    waitFor,
    waitForCount,
    send: (line) => child.stdin!.write(`${line}\n`),
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.stdin!.end();
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

/** Waits until `condition` holds, checking every few ms; for state outside the daemon (refs on disk). */
export async function eventually(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A fresh fixture (test/support/git.ts) with the daemon running in its local clone and CONNECTED. */
export async function daemonOnFixture(
  t: { after(fn: () => unknown): void },
  setup?: (fx: Fixture) => void,
): Promise<{ fx: Fixture; d: RunningDaemon }> {
  const fx = makeFixture();
  setup?.(fx);
  const d = startDaemon(fx.local);
  t.after(async () => {
    await d.stop();
    fx.cleanup();
  });
  await d.waitFor('CONNECTED origin');
  return { fx, d };
}
