// Helpers for driving the background daemon as a user does: run the CLI, read its files.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, eventually } from '../support/daemon.js';
import { makeFixture, type Fixture } from '../support/git.js';
import { alive, processesIn } from '../support/procs.js';
import { isAlive, readPidFile } from '../../src/background/pidfile.js';
import { pathsIn, type DaemonPaths } from '../../src/background/paths.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `git-remote-daemon <args>` in `cwd` and waits for it to exit. */
export function cli(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    child.once('error', reject);
    // 'close', not 'exit': the detached daemon must not hold our pipes (its stdio is not ours).
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs a shell snippet (a FIFO writer as a user would write one); resolves with its exit code. */
export function sh(cwd: string, script: string, env: NodeJS.ProcessEnv = {}): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', script], { cwd, env: { ...process.env, ...env }, stdio: 'ignore' });
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });
}

export function pathsOf(repo: string): DaemonPaths {
  return pathsIn(join(repo, '.git'));
}

/** The log's lines without their timestamps. */
export function logLines(paths: DaemonPaths): string[] {
  const text = (existsSync(paths.oldLog) ? readFileSync(paths.oldLog, 'utf8') : '') + (existsSync(paths.log) ? readFileSync(paths.log, 'utf8') : '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => l.replace(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /, ''));
}

/** Waits until the log holds `count` lines matching `match`; returns them. */
export async function waitForLog(paths: DaemonPaths, match: string | RegExp, count = 1, timeoutMs = 10_000): Promise<string[]> {
  const test = typeof match === 'string' ? (l: string) => l === match : (l: string) => match.test(l);
  let found: string[] = [];
  try {
    await eventually(() => (found = logLines(paths).filter(test)).length >= count, `log has ${count} x ${String(match)}`, timeoutMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}; log:\n${logLines(paths).join('\n')}`);
  }
  return found;
}

/** Kills the daemon of `repo` if one is left (a failed test), waiting until it is gone. */
export async function killDaemon(paths: DaemonPaths): Promise<void> {
  const record = readPidFile(paths.pidFile);
  if (!record || !isAlive(record)) return;
  try {
    process.kill(record.pid, 'SIGKILL');
  } catch {
    return;
  }
  await eventually(() => !isAlive(record), `daemon ${record.pid} is gone`);
}

/** A fixture whose daemon (if any is left) is killed and whose files are removed after the test. */
export function backgroundFixture(t: { after(fn: () => unknown): void }): Fixture & { paths: DaemonPaths } {
  const fx = makeFixture();
  const paths = pathsOf(fx.local);
  t.after(async () => {
    await killDaemon(paths);
    fx.cleanup();
  });
  return { ...fx, paths };
}

export { alive };

/** Live processes with their working directory inside `dir` (zombies left out). */
export function liveProcessesIn(dir: string): number[] {
  return processesIn(dir).filter(alive);
}

/** Live daemon processes (not their git children) working inside `dir`. */
export function daemonsIn(dir: string): number[] {
  return liveProcessesIn(dir).filter((pid) => {
    try {
      // Not the daemon's watcher of its children's process groups (sh, named for what it is).
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return cmdline.includes('git-remote-daemon') && !cmdline.includes('git-remote-daemon-groupwatch');
    } catch {
      return false;
    }
  });
}

export function pidFrom(output: string): number {
  const match = /\(pid (\d+)\)/.exec(output);
  if (!match) throw new Error(`no pid in ${JSON.stringify(output)}`);
  return Number(match[1]);
}
