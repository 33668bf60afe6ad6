// The daemon process of background and service modes: claims the pid file, listens on the control
// FIFO, logs, keeps the state file current and reloads when the config changes. In background mode
// (`--daemon-child`, started by `start.ts`) it logs to `.git/remote-daemon/log` and tells the
// starting process on fd 3 when it is up; in service mode (`--service`) it logs to stderr for
// journald and needs no stdin at all.
//
// It is never an orphan: the repository lock (lock.ts) keeps it alone in its repository even if
// its files are deleted, the watchdog stops it once its repository or worktree is gone and makes
// its files again if only they went, and its process title names the repository.

import { closeSync, existsSync, lstatSync, rmSync, writeSync } from 'node:fs';
import { ConfigWatcher } from '../configwatch.js';
import { ControlOutput } from '../control.js';
import { formatConsumed } from '../protocol.js';
import { armHardExit, startDaemon, type Daemon } from '../daemon.js';
import { findRepo } from '../config.js';
import { acquireLock } from './lock.js';
import { Metrics, metricsPath, removeOwnFile, removeQuietly, writeMetricsFile } from './metrics.js';
import { acquirePidFile, ownRecord, readPidFile } from './pidfile.js';
import { watchRepository } from './watchdog.js';
import { FifoReader, makeFifo, removeFifo } from './fifo.js';
import { LogFile } from './log.js';
import { daemonPaths, ensureDir } from './paths.js';
import { StateWriter, removeState, type DaemonState } from './state.js';

/** Files deleted under a running daemon are made again unasked after this long (see repairFiles). */
const REPAIR_AFTER_MS = 3000;

/** The starting process reads this fd for one line: READY <pid>, ALREADY <pid> or ERROR <why>. */
export const READY_FD = 3;

export type RunMode = 'background' | 'service';

/** Where log lines go: a timestamped file, or stderr (journald adds its own timestamps). */
interface Sink {
  /** `warning`: a WARNING line, which the journal marks as one. */
  line(text: string, warning?: boolean): void;
  close(): void;
  /** Opens the file again if it was deleted; true when it did. */
  reopen?(): boolean;
}

function stderrSink(): Sink {
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
  // Told once: afterwards fd 3 is closed, and its number may belong to some other file. Warnings
  // emitted while starting (no remotes, remotes not served) go first, as `WARNING ...` lines, so
  // that `start` can show them to whoever started the daemon.
  let told = false;
  const startupWarnings: string[] = [];
  const tell = (line: string) => {
    if (mode !== 'background' || told) return;
    told = true;
    try {
      writeSync(READY_FD, [...startupWarnings, line].map((l) => `${l}\n`).join(''));
      closeSync(READY_FD);
    } catch {
      // the starting process is gone; nobody to tell
    }
  };
  let cleanup = () => {};
  // Every start-up failure ends here, so the starter gets an `ERROR <why>` line (and the service
  // manager a message on stderr) rather than an exit code to guess from.
  const fail = (message: string): never => {
    cleanup(); // before telling: the starting process reports at once, and must find no pid file
    if (mode === 'background') tell(`ERROR ${message.replace(/\n/g, ' ')}`);
    else process.stderr.write(`git-remote-daemon: ${message}\n`);
    process.exit(1);
  };
  const why = (err: unknown) => (err as Error).message;

  let paths;
  try {
    paths = await daemonPaths(process.cwd());
    ensureDir(paths);
  } catch (err) {
    return fail(why(err));
  }
  let sink: Sink;
  try {
    sink = mode === 'background' ? fileSink(new LogFile(paths.log, paths.oldLog)) : stderrSink();
  } catch (err) {
    return fail(`cannot open the log ${paths.log}: ${why(err)}`);
  }
  const log = (text: string) => sink.line(`# ${text}`);
  process.on('uncaughtException', (err) => {
    sink.line(`# fatal: ${err.stack ?? err.message}`);
    cleanup();
    tell(`ERROR ${err.message.replace(/\n/g, ' ')}; see ${paths.log}`); // if still starting up
    process.exit(70);
  });

  // Named after its repository in ps and top. Linux gives the title only the room of the original
  // command line: `start` passes the path as an argument to make that room.
  process.title = `git-remote-daemon ${process.cwd()}`;

  // The lock first: it is what keeps this daemon alone, whatever became of the files below.
  // Whoever asks it who holds the repository gets the daemon's files made again first, if they
  // were deleted (set once the daemon is up).
  let repair: ((now: boolean) => void) | undefined;
  let taken;
  try {
    taken = await acquireLock(paths, mode, () => repair?.(true));
  } catch (err) {
    return fail(why(err));
  }
  if (!taken.ok) {
    const pid = taken.holder?.pid ?? readPidFile(paths.pidFile)?.pid;
    if (mode === 'background') {
      tell(`ALREADY ${pid ?? '?'}`);
      process.exit(0);
    }
    return fail(`a daemon is already running in this repository${pid ? ` (pid ${pid})` : ''}`);
  }

  const lock = taken.lock;
  let claim;
  try {
    claim = acquirePidFile(paths.pidFile);
  } catch (err) {
    return fail(`cannot claim the pid file ${paths.pidFile}: ${why(err)}`);
  }
  if (!claim.ok) {
    if (mode === 'background') {
      tell(`ALREADY ${claim.holder.pid}`);
      process.exit(0);
    }
    return fail(`a daemon is already running in this repository (pid ${claim.holder.pid})`);
  }
  // Whatever way this process ends (even the hard-exit deadline), it leaves no stale files.
  const controlPath = paths.control;
  const statePath = paths.state;
  const release = claim.release;
  cleanup = () => {
    removeState(statePath);
    removeFifo(controlPath);
    release();
    lock.release(); // closing the socket removes its file (while it is still ours)
  };
  process.on('exit', () => cleanup());

  // A stop asked for while starting up is honoured as soon as there is something to stop.
  let stopRequested = false;
  let daemon: Daemon | undefined;

  // Listening starts at once, so a `send` during start-up is not refused; what arrives before the
  // daemon is up waits for it.
  let early: ((running: Daemon) => void)[] | undefined = [];
  const dispatch = (act: (running: Daemon) => void) => (early ? early.push(act) : act(daemon!));
  const openFifo = () =>
    new FifoReader(controlPath, {
      message: (message) => {
        log(`control pipe: ${formatConsumed(message)}`);
        dispatch((running) => (message.type === 'RELOAD' ? reload() : running.control.onMessage(message)));
      },
      badLine: (problem) => dispatch((running) => running.control.onBadLine(problem)),
    });
  let fifo: FifoReader;
  try {
    makeFifo(paths.control);
  } catch (err) {
    return fail(`cannot create the control pipe ${paths.control}: ${why(err)}`);
  }
  try {
    fifo = openFifo();
  } catch (err) {
    return fail(`cannot open the control pipe ${paths.control}: ${why(err)}`);
  }
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      stopRequested = true;
      void daemon?.stop();
    });
  }
  // A command that found this daemon in /proc, its directory deleted, asks for its files with SIGUSR2.
  process.on('SIGUSR2', () => repair?.(true));
  // SIGHUP is the classic "re-read your configuration" (systemctl reload): it acts as RELOAD.
  process.on('SIGHUP', () => {
    log('SIGHUP: reloading');
    dispatch(() => reload());
  });

  const startedAt = Date.now();
  const state = new StateWriter(paths.state, (): DaemonState => ({
    version: 1,
    pid: process.pid,
    startedAt,
    updatedAt: Date.now(),
    cwd: process.cwd(),
    mode: daemon?.coordinator.currentMode ?? 'running',
    logTo: mode === 'background' ? 'file' : 'stderr',
    remotes: daemon?.coordinator.status() ?? [],
    warnings: daemon?.coordinator.daemonWarnings() ?? [],
    ignored: daemon?.coordinator.ignoredRemotes() ?? [],
    endpoints: daemon?.coordinator.endpointStatus() ?? [],
  }));
  const metrics = new Metrics(process.cwd());
  let metricsFile: string | undefined;
  const writeMetrics = () => {
    if (!metricsFile) return;
    try {
      writeMetricsFile(metricsFile, metrics.render());
    } catch (err) {
      log(`cannot write the metrics file ${metricsFile}: ${why(err)}`);
    }
  };
  // What the gate emits arrives here as messages, never as printed lines read back: the log gets
  // the line, the metrics and the starter's warnings the message itself.
  const output = new ControlOutput((message, line) => {
    sink.line(line, message.type === 'WARNING');
    if (message.type === 'WARNING' && !told) startupWarnings.push(line);
    if (metrics.observe(message)) writeMetrics();
  });

  let repo;
  try {
    repo = await findRepo(process.cwd());
    daemon = await startDaemon(
      repo.cwd,
      { output, log, onStopping: armHardExit },
      {
        onStateChange: () => state.changed(),
        onWorkerRestart: (remote) => {
          metrics.restarted(remote);
          writeMetrics();
        },
        onConfig: (config) => {
          metrics.setRemotes(config.remotes.map((r) => r.name));
          const wanted = metricsPath(config.raw.get('remotedaemon.metricsfile')?.at(-1), process.cwd());
          if (metricsFile && metricsFile !== wanted) removeOwnFile(metricsFile);
          metricsFile = wanted;
          writeMetrics();
          state.changed();
        },
      },
    );
  } catch (err) {
    return fail(why(err));
  }
  const running = daemon;
  const watcher = new ConfigWatcher({
    repo,
    commonDir: paths.commonDir,
    log,
    onChange: () => {
      log('config changed; reloading');
      reload();
    },
  });
  // Every reload (a config edit, RELOAD on the pipe, SIGHUP) also re-reads which files to watch:
  // includes may have come or gone, and a directory missing before may exist now.
  function reload(): void {
    void running.coordinator.reload().then(() => watcher.refresh());
  }
  await watcher.refresh();

  const stopWatchdog = watchRepository({
    worktree: repo.cwd,
    commonDir: paths.commonDir,
    gone: (what) => {
      log(`${what} is gone; stopping`);
      // Made again by us while the repository was being deleted, they would keep its directory
      // from being removed: take them away too.
      if (remade) rmSync(daemonPathsNow.dir, { recursive: true, force: true });
      void running.stop();
    },
    ownDir: paths.dir,
    check: () => repairFiles(false),
  });
  const daemonPathsNow = paths;
  let remade = false;
  let missingSince: number | undefined;
  repair = (now) => void repairFiles(now);
  // Someone deleted .git/remote-daemon (or a file in it) under a running daemon: make them again,
  // so that status, send and stop keep working. Its lock socket stayed bound under the deleted
  // name, where a starter finds it in /proc (lock.ts), so no second daemon got in meanwhile.
  // Unasked, only once they have been missing for a while with the repository intact: the
  // deletion may be part of an `rm -rf` of the whole repository, which files made again in the
  // middle of it would make fail ("Directory not empty"). A command asking for the daemon
  // (through the lock, or with SIGUSR2 when it found it in /proc) gets them at once. True while
  // files are missing and not made again yet (the watchdog looks again a moment later).
  function repairFiles(now: boolean): boolean {
    if (!filesMissing()) {
      missingSince = undefined;
      return false;
    }
    missingSince ??= Date.now();
    if (!now && Date.now() - missingSince < REPAIR_AFTER_MS) return true;
    missingSince = undefined;
    remade = true;
    const missing: string[] = [];
    try {
      ensureDir(daemonPathsNow);
      if (sink.reopen?.()) missing.push('log');
      if (!lock.held()) {
        missing.push('lock');
        void lock.repair().catch((err: unknown) => log(`cannot bind the repository lock again: ${why(err)}`));
      }
      const record = readPidFile(daemonPathsNow.pidFile);
      const mine = ownRecord();
      if (!record || record.pid !== mine.pid || record.startTime !== mine.startTime) {
        missing.push('pid');
        // The lock is ours: whatever the name holds now is stale.
        removeQuietly(daemonPathsNow.pidFile);
        acquirePidFile(daemonPathsNow.pidFile);
      }
      if (!sameInode(controlPath, fifo.ino)) {
        missing.push('control');
        makeFifo(controlPath);
        fifo.close();
        fifo = openFifo();
      }
      if (!existsSync(statePath)) missing.push('state.json');
      state.flush();
      if (missing.length > 0) {
        log(`${missing.join(', ')} missing from ${daemonPathsNow.dir}: made again`);
      }
    } catch (err) {
      log(`cannot re-create the files in ${daemonPathsNow.dir}: ${why(err)}`);
    }
    return false;
  }

  for (const act of early) act(running);
  early = undefined;
  if (stopRequested) void running.stop();
  state.flush();
  log(`started (pid ${process.pid}) in ${process.cwd()}`);
  tell(`READY ${process.pid}`);

  function filesMissing(): boolean {
    const record = readPidFile(daemonPathsNow.pidFile);
    const mine = ownRecord();
    const ours = record !== undefined && record.pid === mine.pid && record.startTime === mine.startTime;
    return !ours || !lock.held() || !sameInode(controlPath, fifo.ino) || !existsSync(statePath) || (mode === 'background' && !existsSync(daemonPathsNow.log));
  }

  const code = await running.finished;
  repair = undefined; // what it would make again, the exit handler is about to remove
  stopWatchdog();
  fifo.close();
  watcher.close();
  state.close();
  if (metricsFile) removeOwnFile(metricsFile);
  lock.release();
  log('stopped');
  sink.close();
  process.exit(code);
}

function fileSink(file: LogFile): Sink {
  return { line: (text) => file.write(text), close: () => file.close(), reopen: () => file.reopenIfGone() };
}

function sameInode(path: string, ino: number): boolean {
  try {
    const stat = lstatSync(path);
    return stat.isFIFO() && stat.ino === ino;
  } catch {
    return false;
  }
}
