// One repository served by a daemon process: its lock, pid file, control FIFO, state file, log,
// metrics, config watcher, watchdog and the repair of deleted files, around the Daemon that
// startDaemon wires. A per-repository daemon (run.ts) runs one; the shared daemon (src/hub/) runs
// one per registered repository in the same process.
//
// It is repository scope: it never exits the process, installs no signal handler, never changes
// or reads the process's directory (it is given the repository's), and sets no process title.
// Whoever runs it owns those, and calls `cleanup()` from its exit handler.

import { rmSync } from 'node:fs';
import type { Piscina } from 'piscina';
import type { EndpointHost } from '../endpoints.js';
import { ConfigWatcher } from '../configwatch.js';
import { ControlOutput } from '../control.js';
import { formatConsumed, type Emitted } from '../protocol.js';
import { startDaemon, type Daemon } from '../daemon.js';
import { findRepo } from '../config.js';
import type { RepoInfo } from '../../shared/workerapi.js';
import { claimDaemon } from './claim.js';
import { ControlPipe } from './controlpipe.js';
import type { Lock, LockHolder, LockMode } from './lock.js';
import { MetricsTextfile } from './metrics.js';
import { FileRepair } from './repair.js';
import { watchRepository } from './watchdog.js';
import { removeFifo } from './fifo.js';
import { LogFile } from './log.js';
import type { DaemonPaths } from './paths.js';
import { StateWriter, removeState, type DaemonState } from './state.js';

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
  /** The process's endpoint threads, shared by the repositories that ask for the same one. */
  endpointHost?: EndpointHost;
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
  const { paths, sink } = options;
  const log = (text: string) => sink.line(`# ${text}`);

  // The lock first: it is what keeps this daemon alone, whatever became of the files below.
  // Whoever asks it who holds the repository gets the daemon's files made again first, if they
  // were deleted (set once the daemon is up).
  let repairHook: ((now: boolean) => void) | undefined;
  const claimed = await claimDaemon(paths, options.mode, () => repairHook?.(true));
  if (!claimed.ok) return { ok: false, holder: claimed.pid ? { pid: claimed.pid } : undefined };
  const { lock } = claimed;
  const files = removerOf(paths, claimed);

  let stopRequested = false;
  let endedBy: string | undefined;
  const pipe = openControlPipe(paths, files.cleanup, {
    received: (message) => {
      log(`control pipe: ${formatConsumed(message)}`);
      if (message.type === 'STOP') {
        endedBy ??= 'stop';
        stopRequested = true;
      }
    },
    reload: () => reload(),
  });
  const { running, repo, state, metrics } = await startServing(options, log, pipe, files.cleanup);
  const watcher = watchConfig(options, repo, log, () => reload());
  // Every reload (a config edit, RELOAD on the pipe, SIGHUP) also re-reads which files to watch:
  // includes may have come or gone, and a directory missing before may exist now.
  function reload(): void {
    void running.coordinator.reload().then(() => watcher.refresh());
  }
  await watcher.refresh();

  const repair = new FileRepair({ paths, lock, pipe, state, logTo: options.logTo, reopenLog: () => sink.reopen?.(), log, removed: files.removed });
  const stopWatchdog = stopWhenGone(paths, repo, repair, log, running, (why) => (endedBy ??= why));
  repairHook = (now) => void repair.run(now);

  pipe.deliverTo(running);
  if (stopRequested) void running.stop();
  state.flush();

  const finished = running.finished.then((code) => {
    repairHook = undefined; // what it would make again, cleanup is about to remove
    stopWatchdog();
    pipe.close();
    watcher.close();
    state.close();
    metrics.remove();
    files.cleanup();
    return code;
  });
  const host: RepoHost = {
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
    cleanup: files.cleanup,
  };
  return { ok: true, host };
}

/** Removing what the host made (state, pipe, pid file, lock), once. */
function removerOf(paths: DaemonPaths, claimed: { lock: Lock; releasePidFile(): void }): { cleanup(): void; removed(): boolean } {
  const release = claimed.releasePidFile;
  let cleaned = false;
  return {
    cleanup: () => {
      if (cleaned) return;
      cleaned = true;
      removeState(paths.state);
      removeFifo(paths.control);
      release();
      claimed.lock.release(); // closing the socket removes its file (while it is still ours)
    },
    removed: () => cleaned,
  };
}

function openControlPipe(paths: DaemonPaths, cleanup: () => void, events: ConstructorParameters<typeof ControlPipe>[1]): ControlPipe {
  try {
    return new ControlPipe(paths.control, events);
  } catch (err) {
    cleanup();
    throw err;
  }
}

interface Serving {
  running: Daemon;
  repo: RepoInfo;
  state: StateWriter;
  metrics: MetricsTextfile;
}

/** Starts the repository's daemon, its state file and metrics; on failure removes what was made and throws. */
async function startServing(options: RepoHostOptions, log: (text: string) => void, pipe: ControlPipe, cleanup: () => void): Promise<Serving> {
  let daemon: Daemon | undefined;
  const state = stateWriter(options, () => daemon);
  const metrics = new MetricsTextfile(options.dir, log);
  // What the gate emits arrives here as messages, never as printed lines read back: the log gets
  // the line, the metrics and the starter's warnings the message itself.
  const output = new ControlOutput((message, line) => {
    options.sink.line(line, message.type === 'WARNING');
    options.onEmitted?.(message, line);
    metrics.observe(message);
  });
  try {
    const repo = await findRepo(options.dir);
    daemon = await startDaemon(
      repo.cwd,
      { output, log, onStopping: options.onStopping, network: options.network },
      {
        pool: options.pool,
        endpointHost: options.endpointHost,
        onStateChange: () => state.changed(),
        onWorkerRestart: (remote) => metrics.restarted(remote),
        onConfig: (config) => {
          metrics.configured(
            config.remotes.map((r) => r.name),
            config.raw.get('remotedaemon.metricsfile')?.at(-1),
          );
          state.changed();
        },
      },
    );
    return { running: daemon, repo, state, metrics };
  } catch (err) {
    pipe.close();
    state.close();
    metrics.remove();
    cleanup();
    throw err;
  }
}

/** state.json as `status` reads it, from what the daemon says now (defaults until it is up). */
function stateWriter(options: RepoHostOptions, daemon: () => Daemon | undefined): StateWriter {
  const startedAt = Date.now();
  return new StateWriter(options.paths.state, (): DaemonState => {
    const coordinator = daemon()?.coordinator;
    return {
      version: 1,
      pid: process.pid,
      startedAt,
      updatedAt: Date.now(),
      cwd: options.dir,
      mode: coordinator?.currentMode ?? 'running',
      logTo: options.logTo,
      ...(options.mode === 'shared' && { shared: true }),
      remotes: coordinator?.status() ?? [],
      warnings: coordinator?.daemonWarnings() ?? [],
      ignored: coordinator?.ignoredRemotes() ?? [],
      endpoints: coordinator?.endpointStatus() ?? [],
    };
  });
}

/** The watchdog against orphans: stops the daemon when its repository or worktree is gone; `ended` is told why first. */
function stopWhenGone(paths: DaemonPaths, repo: RepoInfo, repair: FileRepair, log: (text: string) => void, running: Daemon, ended: (why: string) => void): () => void {
  return watchRepository({
    worktree: repo.cwd,
    commonDir: paths.commonDir,
    gone: (what) => {
      log(`${what} is gone; stopping`);
      ended(`${what} is gone`);
      // Made again by us while the repository was being deleted, they would keep its directory
      // from being removed: take them away too.
      if (repair.remade) rmSync(paths.dir, { recursive: true, force: true });
      void running.stop();
    },
    ownDir: paths.dir,
    check: () => repair.run(false),
  });
}

function watchConfig(options: RepoHostOptions, repo: RepoInfo, log: (text: string) => void, reload: () => void): ConfigWatcher {
  return new ConfigWatcher({
    repo,
    commonDir: options.paths.commonDir,
    log,
    skipGlobal: options.globalConfigWatched,
    onChange: () => {
      log('config changed; reloading');
      reload();
    },
  });
}
