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
  // Told once: afterwards fd 3 is closed, and its number may belong to some other file.
  let told = false;
  const tell = (line: string) => {
    if (mode !== 'background' || told) return;
    told = true;
    try {
      writeSync(READY_FD, `${line}\n`);
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
  };
  process.on('exit', () => cleanup());

  // A stop asked for while starting up is honoured as soon as there is something to stop.
  let stopRequested = false;
  let daemon: Daemon | undefined;

  // Listening starts at once, so a `send` during start-up is not refused; what arrives before the
  // daemon is up waits for it.
  let early: ((running: Daemon) => void)[] | undefined = [];
  const dispatch = (act: (running: Daemon) => void) => (early ? early.push(act) : act(daemon!));
  let fifo: FifoReader;
  try {
    makeFifo(paths.control);
  } catch (err) {
    return fail(`cannot create the control pipe ${paths.control}: ${why(err)}`);
  }
  try {
    fifo = new FifoReader(paths.control, {
      message: (message) => {
        log(`control pipe: ${formatConsumed(message)}`);
        dispatch((running) => (message.type === 'RELOAD' ? reload() : running.control.onMessage(message)));
      },
      badLine: (problem) => dispatch((running) => running.control.onBadLine(problem)),
    });
  } catch (err) {
    return fail(`cannot open the control pipe ${paths.control}: ${why(err)}`);
  }
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      stopRequested = true;
      void daemon?.stop();
    });
  }
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
    endpoints: daemon?.coordinator.endpointStatus() ?? [],
  }));
  const output = new ControlOutput(
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        for (const line of chunk.toString('utf8').split('\n')) if (line !== '') sink.line(line);
        callback();
      },
    }),
  );

  let repo;
  try {
    repo = await findRepo(process.cwd());
    daemon = await startDaemon(repo.cwd, { output, log, onStopping: armHardExit }, { onStateChange: () => state.changed() });
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

  for (const act of early) act(running);
  early = undefined;
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
