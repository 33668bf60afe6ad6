// `git remote-daemon` without --foreground: start the daemon in the background and return once it
// is up. The daemon is this same program re-run with --daemon-child, in its own session (so it
// survives the terminal), stdin and stdout on /dev/null, stderr appended to its log (only a crash
// of Node itself would write there). It reports on an extra pipe, fd 3, when it is ready.

// node:child_process rather than nano-spawn: the daemon outlives this process, and all we want of it
// is its report on fd 3; nano-spawn is built around awaiting a command's end and collecting its output.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { findRepo } from '../config.js';
import { findDaemon } from '../commands/finddaemon.js';
import { daemonPaths, ensureDir } from './paths.js';
import { StartReport, type StartAnswer } from './startreport.js';

export const BIN = fileURLToPath(new URL('../../../bin/git-remote-daemon', import.meta.url));

/** How long the daemon may take to come up (it reads the config and starts its workers). */
const START_TIMEOUT_MS = 30_000;
/** After the daemon exited, how long its report may take to reach its end. */
const EXIT_DRAIN_MS = 1000;

export interface StartResult {
  code: number;
  message: string;
  pid?: number;
  /** WARNING lines the daemon emitted while starting, without the `WARNING ` prefix. */
  warnings?: string[];
}

export async function startInBackground(cwd: string): Promise<StartResult> {
  let paths, repo;
  try {
    paths = await daemonPaths(cwd);
    repo = await findRepo(cwd);
    ensureDir(paths);
  } catch (err) {
    return { code: 1, message: (err as Error).message };
  }
  const running = await findDaemon(paths);
  if (running) return { code: 0, message: `already running (pid ${running.pid})`, pid: running.pid };

  // The path is there for the process title (run.ts), which gets no more room than this command line.
  const report = await spawnDaemon([BIN, '--daemon-child', repo.cwd], repo.cwd, paths.log);
  if ('code' in report) return report;
  const { answer, warnings } = report;
  // No --verbose: the background daemon always logs its details to the log file.
  return interpret(answer, paths.log, warnings);
}

/** The starter's result from the daemon's last report line. */
export function interpret(answer: string, logPath: string, warnings: string[] = []): StartResult {
  const [word, ...rest] = answer.split(' ');
  const detail = rest.join(' ');
  if (word === 'READY') return { code: 0, message: `started (pid ${detail}); log: ${logPath}`, pid: Number(detail), warnings };
  if (word === 'ALREADY') return { code: 0, message: `already running (pid ${detail})`, pid: Number(detail) };
  if (word === 'ERROR') return { code: 1, message: detail || 'the daemon could not start' };
  return { code: 1, message: `the daemon said something unexpected: ${JSON.stringify(answer)}` };
}

/**
 * Starts `node <args>` detached in `cwd`, stderr appended to `logPath`, and waits for its report
 * on fd 3: the last line (READY, ALREADY or ERROR ...) and the WARNING lines before it.
 */
export async function spawnDaemon(args: string[], cwd: string, logPath: string): Promise<{ answer: string; warnings: string[] } | StartResult> {
  let logFd: number;
  try {
    logFd = openSync(logPath, 'a', 0o600);
  } catch (err) {
    return { code: 1, message: `cannot open the log ${logPath}: ${(err as Error).message}; make it a file this user may write` };
  }
  const child = spawn(process.execPath, args, {
    cwd,
    detached: true,
    stdio: ['ignore', 'ignore', logFd, 'pipe'],
  });
  closeSync(logFd);
  const pipe = child.stdio[3] as NodeJS.ReadableStream & { destroy(): void };
  const report = new StartReport(logPath, START_TIMEOUT_MS);
  const answer = await new Promise<StartAnswer>((resolve) => {
    const over = (answer: StartAnswer | undefined) => {
      if (!answer) return;
      clearTimeout(timer);
      resolve(answer);
    };
    const timer = setTimeout(() => {
      // Stuck somewhere: end it (SIGTERM lets it remove its pid file) rather than leave it half-started.
      child.kill('SIGTERM');
      over(report.timedOut());
    }, START_TIMEOUT_MS);
    pipe.on('data', (chunk: Buffer) => over(report.data(chunk.toString('utf8'))));
    pipe.on('error', () => over(report.reportClosed()));
    pipe.once('close', () => over(report.reportClosed()));
    child.once('exit', (code, signal) => {
      over(report.exited(code, signal));
      // A process the daemon started may still hold fd 3 open: its end is not waited for long.
      setTimeout(() => over(report.reportClosed()), EXIT_DRAIN_MS).unref();
    });
    child.once('error', (err) => over(report.spawnFailed(process.execPath, err.message)));
  });
  pipe.destroy();
  child.unref();
  if (answer.kind === 'failed') return { code: 1, message: answer.message };
  return { answer: answer.line, warnings: answer.warnings };
}
