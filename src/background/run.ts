// The daemon process of background and service modes: claims the pid file, listens on the control
// FIFO, logs, keeps the state file current and reloads when the config changes. In background mode
// (`--daemon-child`, started by `start.ts`) it logs to `.git/remote-daemon/log` and tells the
// starting process on fd 3 when it is up; in service mode (`--service`) it logs to stderr for
// journald and needs no stdin at all.
//
// It is never an orphan: the repository lock (lock.ts) keeps it alone in its repository even if
// its files are deleted, the watchdog stops it once its repository or worktree is gone and makes
// its files again if only they went, and its process title names the repository.

import { closeSync, writeSync } from 'node:fs';
import { armHardExit } from '../daemon.js';
import { LogFile } from './log.js';
import { daemonPaths, ensureDir, type DaemonPaths } from './paths.js';
import { fileSink, hostRepository, type RepoHost, type Sink } from './repohost.js';

/** The starting process reads this fd for one line: READY <pid>, ALREADY <pid> or ERROR <why>. */
export const READY_FD = 3;

export type RunMode = 'background' | 'service';

export function stderrSink(): Sink {
  // With stderr connected to the journal, sd-daemon(3) priority prefixes set each line's level.
  const journal = Boolean(process.env.JOURNAL_STREAM);
  return {
    line(text, warning) {
      const level = !journal ? '' : warning ? '<4>' : text.startsWith('# ') ? '<7>' : '<6>';
      process.stderr.write(`${level}${text}\n`);
    },
    close() {},
  };
}

export async function runBackground(mode: RunMode): Promise<void> {
  const starter = new Starter(mode);
  let cleanup = () => {};
  const dir = process.cwd();
  // Every start-up failure ends here, so the starter gets an `ERROR <why>` line (and the service
  // manager a message on stderr) rather than an exit code to guess from.
  const fail = (message: string): never => {
    cleanup(); // before telling: the starting process reports at once, and must find no pid file
    return starter.failed(message);
  };

  const { paths, sink } = await openFiles(dir, mode, fail);
  const log = (text: string) => sink.line(`# ${text}`);
  process.on('uncaughtException', (err) => {
    sink.line(`# fatal: ${err.stack ?? err.message}`);
    cleanup();
    starter.crashed(err.message, paths.log);
  });

  // Named after its repository in ps and top. Linux gives the title only the room of the original
  // command line: `start` passes the path as an argument to make that room.
  process.title = `git-remote-daemon ${dir}`;

  const serving = answerSignals(log);
  const hosted = await hostOrFail(dir, paths, mode, sink, starter, fail);
  // Whatever way this process ends (even the hard-exit deadline), it leaves no stale files.
  cleanup = () => hosted.cleanup();
  process.on('exit', () => cleanup());
  serving(hosted);
  log(`started (pid ${process.pid}) in ${dir}`);
  starter.tell(`READY ${process.pid}`);

  const code = await hosted.finished;
  log('stopped');
  sink.close();
  process.exit(code);
}

/**
 * The process that started this daemon (or the shared one), told on fd 3 how the start went. Told
 * once: afterwards fd 3 is closed, and its number may belong to some other file. Warnings emitted
 * while starting (no remotes, remotes not served) go first, as `WARNING ...` lines, so that `start`
 * can show them to whoever started the daemon.
 */
export class Starter {
  private told = false;
  private readonly warnings: string[] = [];

  constructor(private readonly mode: RunMode) {}

  /** A WARNING line the daemon emitted. */
  warned(line: string): void {
    if (!this.told) this.warnings.push(line);
  }

  /** A start that failed ends here: the starter gets `ERROR <why>`, a service manager the message on stderr. */
  failed(message: string): never {
    if (this.mode === 'background') this.tell(`ERROR ${oneLine(message)}`);
    else process.stderr.write(`git-remote-daemon: ${message}\n`);
    process.exit(1);
  }

  /** Another daemon (`pid`) holds what this one was to serve: no error for a starter, `message` for a service manager. */
  already(pid: number | undefined, message: string): never {
    if (this.mode !== 'background') return this.failed(message);
    this.tell(`ALREADY ${pid ?? '?'}`);
    process.exit(0);
  }

  /** An uncaught exception ends the process: a starter still waiting hears it, with where to look. */
  crashed(message: string, logPath: string): never {
    this.tell(`ERROR ${oneLine(message)}; see ${logPath}`);
    process.exit(70);
  }

  tell(line: string): void {
    if (this.mode !== 'background' || this.told) return;
    this.told = true;
    try {
      writeSync(READY_FD, [...this.warnings, line].map((l) => `${l}\n`).join(''));
      closeSync(READY_FD);
    } catch {
      // the starting process is gone; nobody to tell
    }
  }
}

/** The daemon's directory, made if missing, and where its log goes. */
async function openFiles(dir: string, mode: RunMode, fail: (message: string) => never): Promise<{ paths: DaemonPaths; sink: Sink }> {
  let paths;
  try {
    paths = await daemonPaths(dir);
    ensureDir(paths);
  } catch (err) {
    return fail(messageOf(err));
  }
  try {
    return { paths, sink: mode === 'background' ? fileSink(new LogFile(paths.log, paths.oldLog)) : stderrSink() };
  } catch (err) {
    return fail(`cannot open the log ${paths.log}: ${messageOf(err)}`);
  }
}

/**
 * Answers the signals from now on, before there is a daemon to act on; returns what to call once
 * there is one. A stop asked for while starting up is honoured as soon as there is something to stop.
 */
function answerSignals(log: (text: string) => void): (serving: RepoHost) => void {
  let host: RepoHost | undefined;
  let stopRequested = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      stopRequested = true;
      void host?.stop();
    });
  }
  // A command that found this daemon in /proc, its directory deleted, asks for its files with SIGUSR2.
  process.on('SIGUSR2', () => host?.repair());
  // SIGHUP is the classic "re-read your configuration" (systemctl reload): it acts as RELOAD.
  process.on('SIGHUP', () => {
    log('SIGHUP: reloading');
    host?.reload();
  });
  return (serving) => {
    host = serving;
    if (stopRequested) void serving.stop();
  };
}

/** The repository hosted, or the process ended: another daemon holds it (ALREADY), or it cannot be served. */
async function hostOrFail(dir: string, paths: DaemonPaths, mode: RunMode, sink: Sink, starter: Starter, fail: (message: string) => never): Promise<RepoHost> {
  try {
    const hosted = await hostRepository({
      dir,
      paths,
      mode,
      sink,
      logTo: mode === 'background' ? 'file' : 'stderr',
      onStopping: armHardExit,
      onEmitted: (message, line) => {
        if (message.type === 'WARNING') starter.warned(line);
      },
    });
    if (!hosted.ok) {
      const pid = hosted.holder?.pid;
      return starter.already(pid, `a daemon is already running in this repository${pid ? ` (pid ${pid})` : ''}`);
    }
    return hosted.host;
  } catch (err) {
    return fail(messageOf(err));
  }
}

export function messageOf(err: unknown): string {
  return (err as Error).message;
}

/** A message as one line of the report on fd 3. */
function oneLine(text: string): string {
  return text.replace(/\n/g, ' ');
}
