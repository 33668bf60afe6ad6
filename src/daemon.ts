// Runs the daemon with a control channel: reads consumed messages, writes emitted ones, and shuts
// everything down on STOP, end of input, or a signal.

import type { Readable } from 'node:stream';
import { Coordinator, type CoordinatorOptions } from './coordinator.js';
import { ControlOutput, badLineWarning, readControl } from './control.js';
import { findRepo } from './config.js';
import type { Emitted } from './protocol.js';

/** Everything is stopped and the process gone within this time of STOP, EOF or a signal. */
const HARD_EXIT_MS = 1900;

export interface DaemonIO {
  /** Where consumed messages come from; its end means STOP. */
  input: Readable;
  output: ControlOutput;
  log(text: string): void;
  /** Called once when stopping begins (to arm a deadline). */
  onStopping?(): void;
}

export interface Daemon {
  coordinator: Coordinator;
  /** Resolves once stopped, with the exit code. */
  finished: Promise<number>;
  stop(): Promise<number>;
}

export async function startDaemon(cwd: string, io: DaemonIO, extra: Partial<CoordinatorOptions> = {}): Promise<Daemon> {
  const repo = await findRepo(cwd);
  const coordinator = new Coordinator({
    repo,
    emit: (message: Emitted) => io.output.write(message),
    log: io.log,
    ...extra,
  });
  try {
    await coordinator.start();
  } catch (err) {
    await coordinator.stop();
    throw err;
  }
  let finish!: (code: number) => void;
  const finished = new Promise<number>((resolve) => (finish = resolve));
  let stopping: Promise<number> | undefined;
  const stop = (): Promise<number> => {
    stopping ??= (async () => {
      io.onStopping?.();
      detach();
      await coordinator.stop();
      finish(0);
      return 0;
    })();
    return stopping;
  };
  const detach = readControl(io.input, {
    onMessage: (message) => (message.type === 'STOP' ? void stop() : coordinator.handle(message)),
    onBadLine: (problem) => io.output.write(badLineWarning(problem)),
    onEnd: () => void stop(),
  });
  return { coordinator, finished, stop };
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
