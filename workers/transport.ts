// The one small interface every transport (local, ssh, ...) implements. The session loop in
// workers/session.ts owns retries, pausing and fetching; a transport only connects, watches and
// tells what it saw.

/** Ref name -> object id. */
export type RefMap = Map<string, string>;

/** What a transport learned about the remote's refs. */
export type RemoteChange =
  /** Names and new values (the local watcher knows both). */
  | { kind: 'refs'; refs: RefMap }
  /** New values only: what `notifychanges` sends (`CHANGED <sha>...`). */
  | { kind: 'shas'; shas: string[] };

export interface TransportEvents {
  /** The remote's refs changed while connected. */
  changed(change: RemoteChange): void;
  /** A user-visible problem that does not end the connection (becomes a WARNING). */
  warn(text: string): void;
  /** Detail for the daemon's log only. */
  log(text: string): void;
}

export interface Connection {
  /**
   * Settles when the connection is over: resolves after close(), rejects with the reason when it
   * was lost. A rejection with NeedsUser stops retries until RESUME or RELOAD.
   */
  readonly done: Promise<void>;
  /** The remote's refs as they are now: for the catch-up after (re)connecting. */
  listRefs(): Promise<RefMap>;
  /** Environment for `git fetch <remote>` so that the fetch goes through this connection. */
  fetchEnv(): Promise<Record<string, string>>;
  /** Ends the connection and everything it started; idempotent. */
  close(): Promise<void>;
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
 * support): reported once, then the remote waits for RESUME or RELOAD instead of retrying.
 */
export class NeedsUser extends Error {
  override name = 'NeedsUser';
}
