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

export const BIN = fileURLToPath(new URL('../../../bin/git-remote-daemon', import.meta.url));

/** How long the daemon may take to come up (it reads the config and starts its workers). */
const START_TIMEOUT_MS = 30_000;

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
  const report = child.stdio[3] as NodeJS.ReadableStream & { destroy(): void };

  const warnings: string[] = [];
  const answer = await new Promise<string | { exit: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    let text = '';
    const timer = setTimeout(() => {
      // Stuck somewhere: end it (SIGTERM lets it remove its pid file) rather than leave it half-started.
      child.kill('SIGTERM');
      resolve(`ERROR the daemon did not report within ${START_TIMEOUT_MS / 1000} s; see ${logPath}`);
    }, START_TIMEOUT_MS);
    // Warnings come first, one line each; the line that ends the report is READY, ALREADY or ERROR.
    report.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      for (let newline = text.indexOf('\n'); newline >= 0; newline = text.indexOf('\n')) {
        const line = text.slice(0, newline);
        text = text.slice(newline + 1);
        if (line.startsWith('WARNING ')) {
          warnings.push(line.slice('WARNING '.length));
          continue;
        }
        clearTimeout(timer);
        resolve(line);
        return;
      }
    });
    report.on('error', () => {});
    child.once('exit', (exit, signal) => {
      clearTimeout(timer);
      // A line written just before exiting may still be in the pipe: let it arrive first.
      setTimeout(() => resolve({ exit, signal }), 50);
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve(`ERROR could not start ${process.execPath}: ${err.message}`);
    });
  });
  report.destroy();
  child.unref();

  if (typeof answer !== 'string') {
    const how = answer.signal ? `was killed by ${answer.signal}` : `exited with code ${answer.exit}`;
    return { code: 1, message: `the daemon ${how} while starting; see ${logPath}` };
  }
  return { answer, warnings };
}
