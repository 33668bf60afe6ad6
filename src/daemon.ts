// Runs the daemon with a control channel: reads consumed messages, writes emitted ones, and shuts
// everything down on STOP, end of input, or a signal.

import type { Readable } from 'node:stream';
import { Actions } from './actions/index.js';
import { Coordinator, type CoordinatorOptions } from './coordinator.js';
import { ControlOutput, badLineText, readControl, type ControlInputOptions } from './control.js';
import { findRepo } from './config.js';
import { watchNetwork } from './netwatch.js';
import { startGroupWatch, stopGroupWatch } from '../shared/kit/groupwatch.js';
import { Maintenance, maintenanceSettings } from './maintenance.js';
import { DAEMON } from './protocol.js';
import type { RepoInfo } from '../shared/workerapi.js';

/** Everything is stopped and the process gone within this time of STOP, EOF or a signal. */
const HARD_EXIT_MS = 1900;

export interface DaemonIO {
  /**
   * Where consumed messages come from; its end means STOP. Without it (background and service
   * modes), messages are handed in through `Daemon.control` and only STOP or a signal ends it.
   */
  input?: Readable;
  output: ControlOutput;
  log(text: string): void;
  /** Called once when stopping begins (to arm a deadline). */
  onStopping?(): void;
  /**
   * A process serving several repositories watches the network once: subscribe with this (it
   * returns the unsubscribe). Without it, the daemon watches the network itself.
   */
  network?: (changed: (why: string) => void) => () => void;
}

export interface Daemon {
  coordinator: Coordinator;
  /** The repository it keeps up to date. */
  repo: RepoInfo;
  /** Resolves once stopped, with the exit code. */
  finished: Promise<number>;
  stop(): Promise<number>;
  /** Feeds consumed messages (or bad lines) from another source, such as the named pipe. */
  control: ControlInputOptions;
  /** After-fetch actions; `idle()` is for tests. */
  actions: Actions;
  /** git's housekeeping, run when the remotes are quiet. */
  maintenance: Maintenance;
}

export async function startDaemon(cwd: string, io: DaemonIO, extra: Partial<CoordinatorOptions> = {}): Promise<Daemon> {
  const repo = await findRepo(cwd);
  const actions = new Actions({
    repo,
    // Only called once the coordinator exists: actions act on its config and fetches.
    warn: (remote, text) => coordinator.warn(remote, text),
    log: io.log,
  });
  // git's housekeeping, which the fetches leave out: one schedule for the repository.
  const maintenance = new Maintenance({ cwd: repo.cwd, log: io.log });
  const coordinator = new Coordinator({
    repo,
    // The output's one writer goes to the coordinator's gate: no other door for protocol lines.
    emit: io.output.claim(),
    log: io.log,
    wantsUpdates: () => actions.wantsUpdates(),
    onFetched: (remote, ok, updates) => {
      maintenance.fetched();
      actions.fetched(remote, ok, updates);
    },
    ...extra,
    // The actions always see the config; whoever runs the daemon may want it too (status, metrics).
    onConfig: (config) => {
      actions.configure(config);
      maintenance.configure(maintenanceSettings(config.raw, config.maintenanceQuietSeconds));
      extra.onConfig?.(config);
    },
  });
  // Before any worker runs: every group a child of ours leads is ended if we die (kill -9 included).
  startGroupWatch();
  try {
    await coordinator.start();
  } catch (err) {
    await Promise.all([coordinator.stop(), maintenance.stop()]);
    stopGroupWatch();
    throw err;
  }
  const changed = (why: string) => coordinator.networkChanged(why);
  const network = io.network ? { stop: io.network(changed) } : watchNetwork({ changed, log: io.log });
  let finish!: (code: number) => void;
  const finished = new Promise<number>((resolve) => (finish = resolve));
  let stopping: Promise<number> | undefined;
  const stop = (): Promise<number> => {
    stopping ??= (async () => {
      io.onStopping?.();
      detach();
      network.stop();
      await Promise.all([coordinator.stop(), actions.stop(), maintenance.stop()]);
      stopGroupWatch();
      finish(0);
      return 0;
    })();
    return stopping;
  };
  const control: ControlInputOptions = {
    onMessage: (message) => (message.type === 'STOP' ? void stop() : coordinator.handle(message)),
    onBadLine: (problem) => coordinator.gate.warn(DAEMON, badLineText(problem)),
    onEnd: () => void stop(),
  };
  const detach = io.input ? readControl(io.input, control) : () => {};
  return { coordinator, repo, finished, stop, control, actions, maintenance };
}

/** A deadline for the whole process once stopping has begun: nothing may hang it. */
export function armHardExit(): void {
  setTimeout(() => process.exit(0), HARD_EXIT_MS).unref();
}

/** For the process running the daemon: signals stop it, and it exits once stopped. */
export function exitWhenDone(daemon: Daemon): void {
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => void daemon.stop());
  void daemon.finished.then((code) => {
    process.exitCode = code;
    // stdin may still hold the event loop open (a terminal); nothing else is left to wait for.
    setImmediate(() => process.exit(code));
  });
}
