// The daemon process of background and service modes: claims the pid file, listens on the control
// FIFO, logs, keeps the state file current and reloads when the config changes. In background mode
// (`--daemon-child`, started by `start.ts`) it logs to `.git/remote-daemon/log` and tells the
// starting process on fd 3 when it is up; in service mode (`--service`) it logs to stderr for
// journald and needs no stdin at all.

import { closeSync, writeSync } from 'node:fs';
import { Writable } from 'node:stream';
import { ConfigWatcher } from '../configwatch.js';
import { ControlOutput } from '../control.js';
import { formatConsumed } from '../protocol.js';
import { armHardExit, startDaemon, type Daemon } from '../daemon.js';
import { findRepo } from '../config.js';
import { acquirePidFile } from './pidfile.js';
import { FifoReader, makeFifo, removeFifo } from './fifo.js';
import { LogFile } from './log.js';
import { daemonPaths, ensureDir } from './paths.js';
import { StateWriter, removeState, type DaemonState } from './state.js';

/** The starting process reads this fd for one line: READY <pid>, ALREADY <pid> or ERROR <why>. */
export const READY_FD = 3;

export type RunMode = 'background' | 'service';

/** Where log lines go: a timestamped file, or stderr (journald adds its own timestamps). */
interface Sink {
  line(text: string): void;
  close(): void;
}

function stderrSink(): Sink {
  // With stderr connected to the journal, sd-daemon(3) priority prefixes set each line's level.
  const journal = Boolean(process.env.JOURNAL_STREAM);
  return {
    line(text) {
      const level = !journal ? '' : text.startsWith('WARNING ') ? '<4>' : text.startsWith('# ') ? '<7>' : '<6>';
      process.stderr.write(`${level}${text}\n`);
    },
    close() {},
  };
}

export async function runBackground(mode: RunMode): Promise<void> {
  const tell = (line: string) => {
    if (mode !== 'background') return;
    try {
      writeSync(READY_FD, `${line}\n`);
      closeSync(READY_FD);
    } catch {
      // the starting process is gone; nobody to tell
    }
  };
  let cleanup = () => {};
  const fail = (message: string): never => {
    cleanup(); // before telling: the starting process reports at once, and must find no pid file
    if (mode === 'background') tell(`ERROR ${message.replace(/\n/g, ' ')}`);
    else process.stderr.write(`git-remote-daemon: ${message}\n`);
    process.exit(1);
  };

  let paths;
  try {
    paths = await daemonPaths(process.cwd());
    ensureDir(paths);
  } catch (err) {
    return fail((err as Error).message);
  }
  const sink: Sink = mode === 'background' ? fileSink(new LogFile(paths.log, paths.oldLog)) : stderrSink();
  const log = (text: string) => sink.line(`# ${text}`);
  process.on('uncaughtException', (err) => {
    sink.line(`# fatal: ${err.stack ?? err.message}`);
    process.exit(70);
  });

  const claim = acquirePidFile(paths.pidFile);
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
  cleanup = () => {
    removeState(statePath);
    removeFifo(controlPath);
    claim.release();
  };
  process.on('exit', () => cleanup());

  try {
    makeFifo(paths.control);
  } catch (err) {
    return fail(`cannot create the control pipe ${paths.control}: ${(err as Error).message}`);
  }

  // A stop asked for while starting up is honoured as soon as there is something to stop.
  let stopRequested = false;
  let daemon: Daemon | undefined;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      stopRequested = true;
      void daemon?.stop();
    });
  }
  // SIGHUP is the classic "re-read your configuration" (systemctl reload): it acts as RELOAD.
  process.on('SIGHUP', () => {
    log('SIGHUP: reloading');
    daemon?.coordinator.handle({ type: 'RELOAD' });
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
  }));
  const output = new ControlOutput(
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        for (const line of chunk.toString('utf8').split('\n')) if (line !== '') sink.line(line);
        callback();
      },
    }),
  );

  try {
    const repo = await findRepo(process.cwd());
    daemon = await startDaemon(repo.cwd, { output, log, onStopping: armHardExit }, { onStateChange: () => state.changed() });
  } catch (err) {
    return fail((err as Error).message);
  }
  const running = daemon;
  const fifo = new FifoReader(paths.control, {
    message: (message) => {
      log(`control pipe: ${formatConsumed(message)}`);
      running.control.onMessage(message);
    },
    badLine: (problem) => running.control.onBadLine(problem),
  });
  const watcher = new ConfigWatcher({
    repo: await findRepo(process.cwd()),
    commonDir: paths.commonDir,
    log,
    onChange: () => {
      log('config changed; reloading');
      void running.coordinator.reload().then(() => watcher.refresh());
    },
  });
  await watcher.refresh();

  if (stopRequested) void running.stop();
  state.flush();
  log(`started (pid ${process.pid}) in ${process.cwd()}`);
  tell(`READY ${process.pid}`);

  const code = await running.finished;
  fifo.close();
  watcher.close();
  state.close();
  log('stopped');
  sink.close();
  process.exit(code);
}

function fileSink(file: LogFile): Sink {
  return { line: (text) => file.write(text), close: () => file.close() };
}
