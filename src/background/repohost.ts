// One repository served by a daemon process: its lock, pid file, control FIFO, state file, log,
// metrics, config watcher, watchdog and the repair of deleted files, around the Daemon that
// startDaemon wires. A per-repository daemon (run.ts) runs one; the shared daemon (src/hub/) runs
// one per registered repository in the same process.
//
// It is repository scope: it never exits the process, installs no signal handler, never changes
// or reads the process's directory (it is given the repository's), and sets no process title.
// Whoever runs it owns those, and calls `cleanup()` from its exit handler.

import { existsSync, lstatSync, rmSync } from 'node:fs';
import type { Piscina } from 'piscina';
import { ConfigWatcher } from '../configwatch.js';
import { ControlOutput } from '../control.js';
import { formatConsumed, type Emitted } from '../protocol.js';
import { startDaemon, type Daemon } from '../daemon.js';
import { findRepo } from '../config.js';
import { claimDaemon } from './claim.js';
import type { LockHolder, LockMode } from './lock.js';
import { Metrics, metricsPath, removeOwnFile, removeQuietly, writeMetricsFile } from './metrics.js';
import { acquirePidFile, ownRecord, readPidFile } from './pidfile.js';
import { watchRepository } from './watchdog.js';
import { FifoReader, makeFifo, removeFifo } from './fifo.js';
import { LogFile } from './log.js';
import { ensureDir, type DaemonPaths } from './paths.js';
import { StateWriter, removeState, type DaemonState } from './state.js';

/** Files deleted under a running daemon are made again unasked after this long (see repairFiles). */
const REPAIR_AFTER_MS = 3000;

/** Where log lines go: a timestamped file, or stderr (journald adds its own timestamps). */
export interface Sink {
  /** `warning`: a WARNING line, which the journal marks as one. */
  line(text: string, warning?: boolean): void;
  close(): void;
  /** Opens the file again if it was deleted; true when it did. */
  reopen?(): boolean;
}

export function fileSink(file: LogFile): Sink {
  return { line: (text) => file.write(text), close: () => file.close(), reopen: () => file.reopenIfGone() };
}

export interface RepoHostOptions {
  /** The repository's directory (where git commands run). */
  dir: string;
  /** Its daemon files; the directory exists (paths.ensureDir). */
  paths: DaemonPaths;
  /** How the lock answers who holds it. */
  mode: LockMode;
  sink: Sink;
  /** What state.json says the log goes to. */
  logTo: 'file' | 'stderr';
  /** The process's thread pool, shared by every repository it serves; else the coordinator makes one. */
  pool?: Piscina;
  /** One network watcher for the process: subscribe, get an unsubscribe back. */
  network?: (changed: (why: string) => void) => () => void;
  /** The process watches the global config for every repository (ConfigWatcherOptions.skipGlobal). */
  globalConfigWatched?: boolean;
  /** Called once when this repository's daemon begins stopping (a per-repository daemon arms its hard exit). */
  onStopping?(): void;
  /** Every message the gate emits, with its line, after it was logged. */
  onEmitted?(message: Emitted, line: string): void;
}

export interface RepoHost {
  paths: DaemonPaths;
  daemon: Daemon;
  /** Resolves with the exit code once this repository is no longer served (files removed). */
  finished: Promise<number>;
  /** Why it ended when nobody here asked it to: 'stop' (STOP on its pipe) or what is gone. */
  endedBy(): string | undefined;
  stop(): Promise<number>;
  /** Re-reads the config (and which files to watch); `why`, if given, is logged first. */
  reload(why?: string): void;
  /** Makes deleted files again now (a command found the daemon in /proc: SIGUSR2). */
  repair(): void;
  /** Removes what it made (state, pipe, pid file, lock), synchronously: for exit handlers. */
  cleanup(): void;
}

export type HostResult = { ok: true; host: RepoHost } | { ok: false; holder?: LockHolder };

/**
 * Takes the repository (lock, pid file), opens its pipe and starts its daemon. Resolves
 * `{ ok: false }` when another daemon holds it; throws (having removed what it made) when it
 * cannot serve it.
 */
export async function hostRepository(options: RepoHostOptions): Promise<HostResult> {
  const { dir, paths, sink } = options;
  const log = (text: string) => sink.line(`# ${text}`);
  const why = (err: unknown) => (err as Error).message;

  // The lock first: it is what keeps this daemon alone, whatever became of the files below.
  // Whoever asks it who holds the repository gets the daemon's files made again first, if they
  // were deleted (set once the daemon is up).
  let repairHook: ((now: boolean) => void) | undefined;
  const claimed = await claimDaemon(paths, options.mode, () => repairHook?.(true));
  if (!claimed.ok) return { ok: false, holder: claimed.pid ? { pid: claimed.pid } : undefined };
  const lock = claimed.lock;
  const controlPath = paths.control;
  const statePath = paths.state;
  const release = claimed.releasePidFile;
  let cleaned = false;
  const cleanup = () => {
    if (cleaned) return;
    cleaned = true;
    removeState(statePath);
    removeFifo(controlPath);
    release();
    lock.release(); // closing the socket removes its file (while it is still ours)
  };

  let stopRequested = false;
  let daemon: Daemon | undefined;
  let endedBy: string | undefined;

  // Listening starts at once, so a `send` during start-up is not refused; what arrives before the
  // daemon is up waits for it.
  let early: ((running: Daemon) => void)[] | undefined = [];
  const dispatch = (act: (running: Daemon) => void) => (early ? early.push(act) : act(daemon!));
  const openFifo = () =>
    new FifoReader(controlPath, {
      message: (message) => {
        log(`control pipe: ${formatConsumed(message)}`);
        if (message.type === 'STOP') {
          endedBy ??= 'stop';
          stopRequested = true;
        }
        dispatch((running) => (message.type === 'RELOAD' ? reload() : running.control.onMessage(message)));
      },
      badLine: (problem) => dispatch((running) => running.control.onBadLine(problem)),
    });
  let fifo: FifoReader;
  try {
    makeFifo(paths.control);
  } catch (err) {
    cleanup();
    throw new Error(`cannot create the control pipe ${paths.control}: ${why(err)}`);
  }
  try {
    fifo = openFifo();
  } catch (err) {
    cleanup();
    throw new Error(`cannot open the control pipe ${paths.control}: ${why(err)}`);
  }

  const startedAt = Date.now();
  const state = new StateWriter(paths.state, (): DaemonState => ({
    version: 1,
    pid: process.pid,
    startedAt,
    updatedAt: Date.now(),
    cwd: dir,
    mode: daemon?.coordinator.currentMode ?? 'running',
    logTo: options.logTo,
    ...(options.mode === 'shared' && { shared: true }),
    remotes: daemon?.coordinator.status() ?? [],
    warnings: daemon?.coordinator.daemonWarnings() ?? [],
    ignored: daemon?.coordinator.ignoredRemotes() ?? [],
    endpoints: daemon?.coordinator.endpointStatus() ?? [],
  }));
  const metrics = new Metrics(dir);
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
    options.onEmitted?.(message, line);
    if (metrics.observe(message)) writeMetrics();
  });

  let repo;
  try {
    repo = await findRepo(dir);
    daemon = await startDaemon(
      repo.cwd,
      { output, log, onStopping: options.onStopping, network: options.network },
      {
        pool: options.pool,
        onStateChange: () => state.changed(),
        onWorkerRestart: (remote) => {
          metrics.restarted(remote);
          writeMetrics();
        },
        onConfig: (config) => {
          metrics.setRemotes(config.remotes.map((r) => r.name));
          const wanted = metricsPath(config.raw.get('remotedaemon.metricsfile')?.at(-1), dir);
          if (metricsFile && metricsFile !== wanted) removeOwnFile(metricsFile);
          metricsFile = wanted;
          writeMetrics();
          state.changed();
        },
      },
    );
  } catch (err) {
    fifo.close();
    state.close();
    if (metricsFile) removeOwnFile(metricsFile);
    cleanup();
    throw err;
  }
  const running = daemon;
  const watcher = new ConfigWatcher({
    repo,
    commonDir: paths.commonDir,
    log,
    skipGlobal: options.globalConfigWatched,
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

  let remade = false;
  let missingSince: number | undefined;
  const stopWatchdog = watchRepository({
    worktree: repo.cwd,
    commonDir: paths.commonDir,
    gone: (what) => {
      log(`${what} is gone; stopping`);
      endedBy ??= `${what} is gone`;
      // Made again by us while the repository was being deleted, they would keep its directory
      // from being removed: take them away too.
      if (remade) rmSync(paths.dir, { recursive: true, force: true });
      void running.stop();
    },
    ownDir: paths.dir,
    check: () => repairFiles(false),
  });
  repairHook = (now) => void repairFiles(now);
  // Someone deleted .git/remote-daemon (or a file in it) under a running daemon: make them again,
  // so that status, send and stop keep working. Its lock socket stayed bound under the deleted
  // name, where a starter finds it in /proc (lock.ts), so no second daemon got in meanwhile.
  // Unasked, only once they have been missing for a while with the repository intact: the
  // deletion may be part of an `rm -rf` of the whole repository, which files made again in the
  // middle of it would make fail ("Directory not empty"). A command asking for the daemon
  // (through the lock, or with SIGUSR2 when it found it in /proc) gets them at once. True while
  // files are missing and not made again yet (the watchdog looks again a moment later).
  function repairFiles(now: boolean): boolean {
    if (cleaned || !filesMissing()) {
      missingSince = undefined;
      return false;
    }
    missingSince ??= Date.now();
    if (!now && Date.now() - missingSince < REPAIR_AFTER_MS) return true;
    missingSince = undefined;
    remade = true;
    const missing: string[] = [];
    try {
      ensureDir(paths);
      if (sink.reopen?.()) missing.push('log');
      if (!lock.held()) {
        missing.push('lock');
        void lock.repair().catch((err: unknown) => log(`cannot bind the repository lock again: ${why(err)}`));
      }
      const record = readPidFile(paths.pidFile);
      const mine = ownRecord();
      if (!record || record.pid !== mine.pid || record.startTime !== mine.startTime) {
        missing.push('pid');
        // The lock is ours: whatever the name holds now is stale.
        removeQuietly(paths.pidFile);
        acquirePidFile(paths.pidFile);
      }
      if (!sameInode(controlPath, fifo.ino)) {
        missing.push('control');
        makeFifo(controlPath);
        fifo.close();
        fifo = openFifo();
      }
      if (!existsSync(statePath)) missing.push('state.json');
      state.flush();
      if (missing.length > 0) log(`${missing.join(', ')} missing from ${paths.dir}: made again`);
    } catch (err) {
      log(`cannot re-create the files in ${paths.dir}: ${why(err)}`);
    }
    return false;
  }

  function filesMissing(): boolean {
    const record = readPidFile(paths.pidFile);
    const mine = ownRecord();
    const ours = record !== undefined && record.pid === mine.pid && record.startTime === mine.startTime;
    return !ours || !lock.held() || !sameInode(controlPath, fifo.ino) || !existsSync(statePath) || (options.logTo === 'file' && !existsSync(paths.log));
  }

  for (const act of early) act(running);
  early = undefined;
  if (stopRequested) void running.stop();
  state.flush();

  const finished = running.finished.then((code) => {
    repairHook = undefined; // what it would make again, cleanup is about to remove
    stopWatchdog();
    fifo.close();
    watcher.close();
    state.close();
    if (metricsFile) removeOwnFile(metricsFile);
    cleanup();
    return code;
  });
  return {
    ok: true,
    host: {
      paths,
      daemon: running,
      finished,
      endedBy: () => endedBy,
      stop: async () => {
        await running.stop();
        return finished;
      },
      reload: (reason) => {
        if (reason) log(reason);
        reload();
      },
      repair: () => repairHook?.(true),
      cleanup,
    },
  };
}

function sameInode(path: string, ino: number): boolean {
  try {
    const stat = lstatSync(path);
    return stat.isFIFO() && stat.ino === ino;
  } catch {
    return false;
  }
}
