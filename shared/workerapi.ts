// What the coordinator and a remote's worker say to each other over their MessagePort.
// Everything here must survive structured cloning: plain data only (and transferred ports).

import type { MessagePort } from 'node:worker_threads';
import type { ControlMode, Phase } from './phase.js';

export type { ControlMode, Phase };

/** One remote as the daemon acts on it; built by src/config.ts from git's own view of the config. */
export interface RemoteSpec {
  name: string;
  /** The URL after `url.<base>.insteadOf` rewriting, as git would use it. */
  url: string;
  /** The name of the transport that claimed the URL (workers/transports.ts). */
  transport: string;
  /** `remote.<name>.fetch`, in order. */
  fetchRefspecs: string[];
  /** `git fetch` prunes here (`remote.<name>.prune`, else `fetch.prune`): a deletion is worth a fetch. */
  prune?: boolean;
  /** `git fetch` follows tags here (unless `remote.<name>.tagOpt` is `--no-tags`). */
  followTags?: boolean;
  /** The transport's own settings for this remote (its plugin's remoteOptions). */
  options: Record<string, unknown>;
}

/**
 * Settings a running remote picks up without a restart: changing them must not cost a reconnect.
 * Resolved per remote (a remote's own setting, else the daemon's).
 */
/** How long a fetch may receive nothing: a big server may count objects for minutes, and says so. */
export const DEFAULT_FETCH_STALL_SECONDS = 180;

export interface LiveSettings {
  /** Seconds between ref listings when nothing tells the remote of changes. */
  pollIntervalSeconds: number;
  /**
   * Tell the coordinator which refs each fetch moved (costs a ref listing before and after every
   * fetch, so only when something, such as `remotedaemon.afterFetch`, wants them).
   */
  reportUpdates: boolean;
  /** A fetch that receives nothing for this long is ended and retried (`remotedaemon.fetchStallTimeout`); default 180. */
  fetchStallSeconds?: number;
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
  kind: 'session';
  spec: RemoteSpec;
  live: LiveSettings;
  repo: RepoInfo;
  port: MessagePort;
  /** Start paused or offline, when the coordinator is (PAUSE/LOSTNET arrived before this start). */
  initialMode: ControlMode;
  /** The link to the transport's shared endpoint, when it has one. */
  endpointPort?: MessagePort;
  /** Links to the notice carriers that run (workers/notice/), whatever this remote's transport. */
  noticePorts?: { carrier: string; port: MessagePort }[];
}

export type ToWorker =
  | { type: 'pause' }
  | { type: 'lostnet' }
  | { type: 'resume' }
  /** RELOAD with this remote unchanged: a remote waiting for the user tries again. */
  | { type: 'reload' }
  | { type: 'live'; live: LiveSettings }
  | { type: 'changed'; refs: string[] }
  /** The machine's network changed (or it woke up): a remote backing off tries at once. */
  | { type: 'network-changed' }
  /** FETCH: fetch now if connected (else the catch-up at the next CONNECTED does it). */
  | { type: 'fetch' }
  /** The shared endpoint was restarted: here is the new link. */
  | { type: 'endpoint'; port: MessagePort }
  /** A notice carrier was (re)started: here is the remote's link to it. */
  | { type: 'carrier'; carrier: string; port: MessagePort }
  /** The config no longer asks for that endpoint (the notice carrier `carrier`, else the transport's): its link is gone. */
  | { type: 'endpoint-gone'; carrier?: string }
  | { type: 'stop' };

/** A snapshot of what a remote is doing, for `status`. */
export interface RemoteState {
  /** The remote's lifecycle phase, as its worker last reported it. */
  phase: Phase;
  /** Whether the controller was told CONNECTED (and not yet DISCONNECTED). */
  connected: boolean;
  /** When `connected` last changed (ms since epoch). */
  since: number;
  /** How changes are noticed while connected ("notifier", "polling every 60 s", ...). */
  watching?: string;
  /** When a polled remote is next looked at. */
  nextLookAt?: number;
  /** The server's last Retry-After: no request before `until` (in force while it is in the future). */
  serverWait?: { until: number; seconds: number };
  lastFetch?: { at: number; ok: boolean };
  /** The last fetch that moved refs: when, and what it moved (at most a few, as git reported them). */
  lastChange?: { at: number; summary: string };
  /** A fetch under way: since when, and how far it has come as git reports it. */
  fetching?: { since: number; stage?: string; percent?: number; bytes?: number };
  /** The conditions said as WARNING that still hold. */
  warnings: { at: number; kind: string; text: string }[];
}

export type FromWorker =
  /** A protocol line about this remote; the gate (src/gate.ts) keeps them paired. */
  | { type: 'emit'; line: 'CONNECTED' }
  | { type: 'emit'; line: 'DISCONNECTED' }
  | { type: 'emit'; line: 'SYNCING' }
  | { type: 'emit'; line: 'DONESYNCING'; ok: boolean }
  /**
   * A condition worth one WARNING until it stops being true (text null clears it). `kind` names the
   * condition ("connect", "fetch", "notifier"...): the same kind is said once, however often it recurs.
   */
  | { type: 'condition'; kind: string; text: string | null }
  /** Detail for the log only (stderr of git, reasons behind a retry); not a protocol message. */
  | { type: 'log'; text: string }
  | { type: 'phase'; phase: Phase }
  /** A fetch moved refs; `summary` as status shows it ("main: 3 new commits"). */
  | { type: 'moved'; summary: string }
  /** How far the running fetch has come (at most one a second). */
  | { type: 'fetch-progress'; stage: string; percent?: number; bytes?: number }
  | { type: 'watching'; how: string }
  /** A polled remote's next look (ms since epoch). */
  | { type: 'next-look'; at: number }
  /** The server asked us to wait (Retry-After): no request before `until` (ms since epoch). */
  | { type: 'server-wait'; until: number; seconds: number }
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

