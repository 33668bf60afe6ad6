// The one small interface every transport (local, ssh, ...) implements. The session loop in
// workers/session.ts owns retries, pausing and fetching; a transport only connects, watches and
// tells what it saw. shared/plugin.ts says how a transport describes itself to the registry.

/** Ref name -> object id. */
export type RefMap = Map<string, string>;

/** What a transport learned about the remote's refs. */
export type RemoteChange =
  /** Names and new values (a ref listing, the local watcher). Deleted refs carry the all-zero id. */
  | { kind: 'refs'; refs: RefMap }
  /** New values only: what `notifychanges` sends (`CHANGED <sha>...`). */
  | { kind: 'shas'; shas: string[] }
  /** Something may have changed (a webhook, a peer's notice): list the refs and see. */
  | { kind: 'nudge' };

export interface TransportEvents {
  /** The remote's refs changed while connected. */
  changed(change: RemoteChange): void;
  /**
   * A user-visible condition that does not end the connection: one WARNING per `kind` until it is
   * cleared (text null), however often it recurs. Kinds are the transport's own words.
   */
  condition(kind: string, text: string | null): void;
  /** How changes are noticed now, for status ("notifier", "polling every 60 s", "webhook"...). */
  watching(how: string): void;
  /** When a polled remote is next looked at (ms since epoch), for status. */
  nextLook?(at: number): void;
  /** The server asked for no request before `until` (Retry-After, ms since epoch; waitMs long), for status. */
  serverWait?(until: number, waitMs: number): void;
  /** Detail for the daemon's log only. */
  log(text: string): void;
}

/** How `git fetch` reaches the remote through a connection. */
export interface FetchPlan {
  /** Added to git's environment (ssh: GIT_SSH_COMMAND pointing at the held connection's tunnel). */
  env?: Record<string, string>;
  /** Added before `fetch` (`-c key=value`...). */
  gitArgs?: string[];
  /**
   * Tried first: the fetch carried out without `git fetch` (ssh: workers/direct/), or the reason it
   * must be git fetch after all, which then runs as if this were not here.
   */
  direct?: (request: DirectFetchRequest) => Promise<DirectFetchResult>;
}

export interface DirectFetchRequest {
  remote: string;
  /** The remote's URL, for the report's `From` line. */
  url: string;
  cwd: string;
  gitDir: string;
  /** Some refspec stores into FETCH_HEAD: git fetch's, then. */
  writeFetchHead: boolean;
  /** Aborted by a stop, a cancel or a stall: the direct fetch ends, and does not fall back. */
  signal: AbortSignal;
  /** The server's progress, as git prints it (`remote: ...`). */
  onProgress(line: string): void;
  /** Bytes arrived from the server (the stall timer starts again). */
  onData(): void;
}

/** `carried`: the refs moved as git fetch would have moved them (`report`: its lines for them). */
export type DirectFetchResult = { carried: true; report: string } | { carried: false; why: string };

export interface Connection {
  /**
   * Settles when the connection is over: resolves after close(), rejects with the reason when it
   * was lost. A rejection with NeedsUser stops retries until RESUME or RELOAD.
   */
  readonly done: Promise<void>;
  /** The remote's refs as they are now: for the catch-up after (re)connecting, and nudges. */
  listRefs(): Promise<RefMap>;
  /** How to run `git fetch <remote>` so that it goes through this connection. */
  fetchPlan(): Promise<FetchPlan>;
  /** Ends the connection and everything it started; idempotent. */
  close(): Promise<void>;
  /**
   * Live settings changed (TransportContext.live()): a polled connection reschedules its pending
   * look and says the new interval (watching, and any condition that names it) at once.
   */
  liveChanged?(): void;
}

export interface Transport {
  /**
   * Connects and starts watching. Resolves once changes will be noticed (the session then reports
   * CONNECTED); rejects when it could not connect. Must give up promptly when `signal` aborts.
   */
  connect(events: TransportEvents, signal: AbortSignal): Promise<Connection>;
}

/**
 * A failure that retrying cannot fix (an unknown host key, a setting the transport does not
 * support, no credentials): reported once, then the remote waits for RESUME or RELOAD.
 */
export class NeedsUser extends Error {
  override name = 'NeedsUser';
}
