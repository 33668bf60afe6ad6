// What the coordinator and a remote's worker say to each other over their MessagePort.
// Everything here must survive structured cloning: plain data only.

import type { Emitted } from './protocol.js';

export type TransportKind = 'local' | 'ssh';

/** One remote as the daemon acts on it; built by src/config.ts from git's own view of the config. */
export interface RemoteSpec {
  name: string;
  /** The URL after `url.<base>.insteadOf` rewriting, as git would use it. */
  url: string;
  transport: TransportKind;
  /** `remote.<name>.fetch`, in order; git's default when the remote has none. */
  fetchRefspecs: string[];
  /** `git fetch` prunes here (`remote.<name>.prune`, else `fetch.prune`): a deletion is worth a fetch. */
  prune?: boolean;
  /** `git fetch` follows tags here (unless `remote.<name>.tagOpt` is `--no-tags`). */
  followTags?: boolean;
  /** Command run on the server to learn of changes (`remote.<name>.remotedaemon-notifier`). */
  notifier?: string;
  /** Seconds between ref polls when the remote has no notifier (`remotedaemon.pollInterval`). */
  pollIntervalSeconds: number;
  /** `core.sshCommand` (or `GIT_SSH_COMMAND` from the environment), as the user set it. */
  sshCommand?: string;
  /**
   * Tell the coordinator which refs each fetch moved (costs a ref listing before and after every
   * fetch, so only when `remotedaemon.afterFetch` wants them).
   */
  reportUpdates?: boolean;
}

/** The repository the daemon keeps up to date. */
export interface RepoInfo {
  /** Absolute path git commands run in (top of the work tree, or the git dir when bare). */
  cwd: string;
  /** Absolute path of the repository's git dir (`git rev-parse --absolute-git-dir`). */
  gitDir: string;
}

/** The task a worker runs for as long as its remote is configured. */
export interface SessionTask {
  spec: RemoteSpec;
  repo: RepoInfo;
  port: MessagePort | import('node:worker_threads').MessagePort;
  /** Start paused or offline, when the coordinator is (PAUSE/LOSTNET arrived before this start). */
  initialState: 'running' | 'paused' | 'lostnet';
  /** Test hook, only settable through the coordinator's constructor options (never config). */
  crash?: CrashTest;
}

export type ToWorker =
  | { type: 'pause' }
  | { type: 'lostnet' }
  | { type: 'resume' }
  | { type: 'changed'; refs: string[] }
  | { type: 'stop' };

/** A snapshot of what a remote is doing, for `status`. */
export interface RemoteState {
  connected: boolean;
  /** When `connected` last changed (ms since epoch). */
  since: number;
  lastFetch?: { at: number; ok: boolean };
  /** When the next connection attempt is due, while disconnected and waiting. */
  nextRetry?: number;
  lastWarning?: { at: number; text: string };
}

export type FromWorker =
  | { type: 'emit'; message: Emitted }
  /** Detail for the log only (stderr of git, reasons behind a retry); not a protocol message. */
  | { type: 'log'; text: string }
  | { type: 'retry'; at: number | null }
  /** A process the worker started or saw end, so the coordinator can clean up after a crash. */
  | { type: 'child'; pid: number; alive: boolean }
  /** A fetch is over (sent just before its DONESYNCING): which local refs it moved, for after-fetch actions. */
  | { type: 'fetched'; ok: boolean; updates: RefUpdate[] };

/** One local ref a fetch changed; `old`/`new` are the all-zero id when the ref was created/deleted. */
export interface RefUpdate {
  ref: string;
  old: string;
  new: string;
}

/** How a test makes a worker misbehave: throw, reject unhandled, exhaust its memory, or print. */
export interface CrashTest {
  afterMs: number;
  how: 'throw' | 'reject' | 'oom' | 'print';
}
