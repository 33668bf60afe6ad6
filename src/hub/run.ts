// The shared daemon's process (`start --all` runs it in the background with --daemon-child;
// `--service --all` in the foreground for systemd's user unit, docs/git-remote-daemon.service).
// It owns what there is one of: its lock and pid file in the user's state directory (one shared
// daemon per user), its log (there, or stderr as a service), signals and the exit. Each
// repository's own lines go to that repository's `.git/remote-daemon/log`.
//
// Signals: SIGTERM/SIGINT stop everything; SIGHUP re-reads the set, forgets what was set aside and
// reloads every repository; SIGUSR1 (sent by register/unregister) re-reads the set and forgets what
// was set aside; SIGUSR2 (a command found one of our repositories' daemons in /proc) makes deleted
// files again.

import { armHardExit } from '../daemon.js';
import { claimDaemon } from '../background/claim.js';
import { LogFile } from '../background/log.js';
import { ensureDir } from '../background/paths.js';
import { fileSink, type Sink } from '../background/repohost.js';
import { messageOf, Starter, stderrSink, type RunMode } from '../background/run.js';
import { Hub } from './hub.js';
import { hubPaths } from './paths.js';

/** The title the shared daemon's process carries (daemonprocesses.ts recognises daemons by its prefix). */
export const HUB_TITLE = 'git-remote-daemon --all';

/**
 * What git calls its repository-local environment (`git rev-parse --local-env-vars`): set by a hook
 * or a `GIT_DIR=... git remote-daemon start --all`, it would point every repository's git at one.
 * A process serving many repositories drops them, as git does when it enters a submodule.
 */
export const LOCAL_ENV_VARS = [
  'GIT_ALTERNATE_OBJECT_DIRECTORIES', 'GIT_CONFIG', 'GIT_CONFIG_PARAMETERS', 'GIT_CONFIG_COUNT', 'GIT_OBJECT_DIRECTORY',
  'GIT_DIR', 'GIT_WORK_TREE', 'GIT_IMPLICIT_WORK_TREE', 'GIT_GRAFT_FILE', 'GIT_INDEX_FILE', 'GIT_NO_REPLACE_OBJECTS',
  'GIT_REPLACE_REF_BASE', 'GIT_PREFIX', 'GIT_INTERNAL_SUPER_PREFIX', 'GIT_SHALLOW_FILE', 'GIT_COMMON_DIR',
];

export async function runHub(mode: RunMode): Promise<void> {
  dropRepositoryEnvironment();
  const starter = new Starter(mode);
  let cleanup = () => {};
  const fail = (message: string): never => {
    cleanup();
    return starter.failed(message);
  };
  const paths = hubPaths();
  let sink: Sink;
  try {
    ensureDir(paths);
    sink = mode === 'background' ? fileSink(new LogFile(paths.log, paths.oldLog)) : stderrSink();
  } catch (err) {
    return fail(messageOf(err));
  }
  const log = (text: string) => sink.line(`# ${text}`);
  process.title = HUB_TITLE;

  let claimed;
  try {
    claimed = await claimDaemon(paths, 'shared');
  } catch (err) {
    return fail(messageOf(err));
  }
  if (!claimed.ok) return starter.already(claimed.pid, `the shared daemon is already running${claimed.pid ? ` (pid ${claimed.pid})` : ''}`);
  const lock = claimed.lock;
  const release = claimed.releasePidFile;
  let hub: Hub | undefined;
  cleanup = () => {
    hub?.cleanup();
    release();
    lock.release();
  };
  process.on('exit', () => cleanup());
  process.on('uncaughtException', (err) => {
    log(`fatal: ${err.stack ?? err.message}`);
    cleanup();
    starter.crashed(err.message, paths.log);
  });

  answerSignals(log, sink, () => hub);
  // Every handle the daemon keeps is unref'd (the lock's socket, the watchers, the network monitor),
  // and with no repository registered there is no worker thread either: the process ended with 0
  // right after `serving 0 repositories`, though `register` signals it to serve (a container's
  // first start, a replica whose shard is empty). This holds it until it is stopped (process.exit).
  setInterval(() => {}, 2 ** 31 - 1);
  hub = new Hub({ log });
  try {
    await hub.start();
  } catch (err) {
    return fail(messageOf(err));
  }
  log(`started (pid ${process.pid}); serving ${hub.served().length} repositor${hub.served().length === 1 ? 'y' : 'ies'}`);
  starter.tell(`READY ${process.pid}`);
}

/**
 * Drops what would point every repository's git at one (see LOCAL_ENV_VARS), and the config `git -c` passed on.
 * Exported for its test (test/hub/run.test.ts) only.
 */
export function dropRepositoryEnvironment(): void {
  for (const name of LOCAL_ENV_VARS) delete process.env[name];
  for (const name of Object.keys(process.env)) if (/^GIT_CONFIG_(KEY|VALUE)_\d+$/.test(name)) delete process.env[name];
}

/** The signals, as the header says; `hub` is undefined until there is one. */
function answerSignals(log: (text: string) => void, sink: Sink, hub: () => Hub | undefined): void {
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      log('stopping every repository');
      armHardExit();
      await hub()?.stop();
      log('stopped');
      sink.close();
      process.exit(0);
    })();
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, stop);
  process.on('SIGHUP', () => {
    log('SIGHUP: reading the registered repositories again and reloading each');
    void hub()?.reloadAll();
  });
  process.on('SIGUSR1', () => {
    log('asked to read the registered repositories again');
    void hub()?.sync(true);
  });
  process.on('SIGUSR2', () => hub()?.repairAll());
}
