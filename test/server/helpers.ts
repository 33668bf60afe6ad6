// Shared by the server tests: start the notifier as a real process and read its lines with deadlines.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** dist/test/server -> the checkout. */
export const CHECKOUT = resolve(here, '../../..');

/** argv that runs `git-remote-daemon <args>` through this checkout's launcher (needs a build). */
export function daemonArgv(...args: string[]): string[] {
  return [process.execPath, join(CHECKOUT, 'bin/git-remote-daemon'), ...args];
}

/** Reads a stream line by line; next() waits for the following line with a deadline. */
export class LineReader {
  private buffered = '';
  private readonly lines: string[] = [];
  private waiter: (() => void) | undefined;
  private ended = false;
  /** Every chunk as it arrived, to check that lines were never split across writes. */
  readonly chunks: string[] = [];

  constructor(stream: NodeJS.ReadableStream) {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      this.chunks.push(chunk);
      this.buffered += chunk;
      let nl: number;
      while ((nl = this.buffered.indexOf('\n')) >= 0) {
        this.lines.push(this.buffered.slice(0, nl));
        this.buffered = this.buffered.slice(nl + 1);
      }
      this.waiter?.();
    });
    stream.on('end', () => {
      this.ended = true;
      this.waiter?.();
    });
  }

  /** The next complete line; rejects after timeoutMs or when the stream ends first. */
  async next(timeoutMs = 5000, what = 'a line'): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.lines.shift();
      if (line !== undefined) return line;
      if (this.ended) throw new Error(`stream ended while waiting for ${what} (partial: ${JSON.stringify(this.buffered)})`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        const timer = setTimeout(r, left);
        this.waiter = () => {
          clearTimeout(timer);
          this.waiter = undefined;
          r();
        };
      });
    }
  }

  /** Lines received but not yet taken. */
  pending(): string[] {
    return [...this.lines];
  }
}

export interface Running {
  child: ChildProcess;
  stdout: LineReader;
  stderr(): string;
  /** Resolves with the exit code (or 128+signal) once the process is gone. */
  exited: Promise<number>;
}

export function start(argv: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Running {
  const [file, ...args] = argv;
  const child = spawn(file!, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number>((r) => child.once('exit', (code, signal) => r(code ?? (signal ? 128 + signalNumber(signal) : -1))));
  return { child, stdout: new LineReader(child.stdout!), stderr: () => stderr, exited };
}

function signalNumber(signal: NodeJS.Signals): number {
  return ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGPIPE: 13, SIGTERM: 15 } as Record<string, number>)[signal] ?? 0;
}

/** Waits for the process to exit; rejects if it is still running after timeoutMs. */
export async function exitWithin(run: Running, timeoutMs: number): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still running after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([run.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Kills the process if it is still running and waits for it (for t.after). */
export async function stop(run: Running): Promise<void> {
  if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
  await run.exited;
}

/** Polls `condition` until it holds or the deadline passes; returns whether it held. */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** argv for the OpenSSH client running `command` on the harness's server, without a pty. */
export function sshArgv(sshd: { sshArgs: string[]; port: number; user: string; host: string }, command?: string, extra: string[] = []): string[] {
  return [...sshd.sshArgs, ...extra, '-T', '-p', String(sshd.port), `${sshd.user}@${sshd.host}`, ...(command === undefined ? [] : [command])];
}

/** PIDs of the test user's processes whose command line matches `pattern` (pgrep -f). */
export function serverProcesses(user: string, pattern: string): Promise<number[]> {
  return new Promise((resolvePids) => {
    execFile('pgrep', ['-u', user, '-f', pattern], { encoding: 'utf8' }, (err, stdout) => {
      resolvePids(err ? [] : stdout.trim().split('\n').filter(Boolean).map(Number));
    });
  });
}
