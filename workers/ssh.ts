// The ssh transport: one held ssh2 connection per remote. Over it run the notifier (changes are
// known within milliseconds of a push), the ref listing for the catch-up after every (re)connect,
// and every `git fetch` of the remote (through the tunnel: no second handshake). A remote without a
// notifier is polled over the same connection instead of being reconnected in a loop.

import type { RemoteSpec, RepoInfo } from '../src/workerapi.js';
import { NeedsUser, type Connection, type RefMap, type Transport, type TransportEvents } from './transport.js';
import { ChannelQueue } from './ssh/channels.js';
import { AuthenticationError, connectSsh, HostKeyError, UnsupportedSetting, type SshConnection } from './ssh/connect.js';
import { parseSshUrl, SshCommandError, type SshUrl } from './ssh/config.js';
import { notifierCommand, startNotifier, type RunningNotifier } from './ssh/notifier.js';
import { listRemoteRefs } from './ssh/refs.js';
import { startTunnel, type Tunnel } from './ssh/tunnel.js';
import { DELETED } from '../src/refs/objectid.js';
import { sqQuote } from '../src/server/sqquote.js';


export function sshTransport(spec: RemoteSpec, _repo: RepoInfo): Transport {
  const url = parseSshUrl(spec.url);
  // Said once per transport (a worker's life), not on every reconnect.
  const said = new Set<string>();
  return {
    async connect(events: TransportEvents, signal: AbortSignal): Promise<Connection> {
      if (!url) throw new NeedsUser(`not an ssh URL git understands: ${spec.url}`);
      const warnOnce = (key: string, text: string) => {
        if (said.has(key)) return events.log(text);
        said.add(key);
        events.warn(text);
      };
      let ssh: SshConnection;
      try {
        ssh = await connectSsh(
          { host: url.host, ...(url.user !== undefined && { user: url.user }), ...(url.port !== undefined && { port: url.port }) },
          { sshCommand: spec.sshCommand, signal, log: (text) => events.log(text) },
        );
      } catch (err) {
        throw needsUserIfHopeless(err);
      }
      for (const warning of ssh.warnings) warnOnce(warning, warning);
      try {
        return await HeldConnection.start(ssh, url, spec, events, warnOnce, signal);
      } catch (err) {
        await ssh.close();
        throw err;
      }
    },
  };
}

/** Failures that retrying cannot fix: the user must act, then RESUME or RELOAD. */
function needsUserIfHopeless(err: unknown): unknown {
  if (err instanceof HostKeyError || err instanceof UnsupportedSetting || err instanceof AuthenticationError || err instanceof SshCommandError) {
    const wrapped = new NeedsUser((err as Error).message);
    wrapped.cause = err;
    return wrapped;
  }
  return err;
}

/** What the session loop holds while connected. */
export class HeldConnection implements Connection {
  readonly done: Promise<void>;
  private settleDone!: { resolve(): void; reject(err: Error): void };
  private closing: Promise<void> | undefined;
  private notifier: RunningNotifier | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private tunnelPromise: Promise<Tunnel> | undefined;

  private constructor(
    private readonly ssh: SshConnection,
    private readonly queue: ChannelQueue,
    private readonly url: SshUrl,
    private readonly spec: RemoteSpec,
    private readonly events: TransportEvents,
  ) {
    this.done = new Promise<void>((resolve, reject) => (this.settleDone = { resolve, reject }));
    this.done.catch(() => {}); // the session loop awaits it; a lost connection is not unhandled here
  }

  /**
   * Starts the notifier (or polling) on an authenticated connection. Resolves once changes will be
   * noticed; rejects (having closed what it started) when the remote cannot be watched at all.
   */
  static async start(
    ssh: SshConnection,
    url: SshUrl,
    spec: RemoteSpec,
    events: TransportEvents,
    warnOnce: (key: string, text: string) => void,
    signal: AbortSignal,
  ): Promise<HeldConnection> {
    // Nagle is already off: connectSsh makes its socket with noDelay (ssh2 would leave it on).
    const queue = new ChannelQueue(ssh.client);
    const held = new HeldConnection(ssh, queue, url, spec, events);
    const onAbort = () => void held.close();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      ssh.closed.then(
        (reason) => held.lost(reason ?? new Error('ssh connection closed')),
        (err: Error) => held.lost(err),
      );
      held.tunnelPromise = held.openTunnel();
      const start = await startNotifier(queue, notifierCommand(spec.notifier, url.path), {
        changed: (shas) => events.changed({ kind: 'shas', shas }),
        garbage: (line) =>
          warnOnce('garbage', `the notifier on ${url.host} sent a line that is not READY or CHANGED: ${JSON.stringify(line.slice(0, 120))}`),
        log: (text) => events.log(text),
      });
      signal.throwIfAborted();
      if (start.kind === 'ready') {
        held.notifier = start.notifier;
        start.notifier.ended.then(
          () => {},
          (err: Error) => held.lost(err),
        );
      } else {
        // List the refs before warning: if that fails too, the connection (or the repository) is
        // the problem, not a missing notifier, and the error says so instead.
        await held.startPolling();
        if (held.lostReason) throw held.lostReason;
        const setting = `remote.${spec.name}.remotedaemon-notifier`;
        warnOnce(
          'no-notifier',
          `no notifier on ${url.host} (${start.reason}); checking for changes every ${spec.pollIntervalSeconds} s instead. ` +
            `Install git-remote-daemon on the server, or set ${setting} to a notifier it has (e.g. "git-annex-shell notifychanges")`,
        );
      }
      signal.throwIfAborted();
      await held.tunnelPromise; // fetches must find the tunnel ready once CONNECTED is reported
      return held;
    } catch (err) {
      await held.close();
      throw signal.aborted ? (signal.reason ?? err) : err;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  listRefs(): Promise<RefMap> {
    return listRemoteRefs(this.queue, this.url.path);
  }

  async fetchEnv(): Promise<Record<string, string>> {
    if (!this.tunnelPromise) throw new Error('not connected');
    return (await this.tunnelPromise).env;
  }

  close(): Promise<void> {
    return this.shutdown(undefined);
  }

  /** Why the connection was lost, once it was. */
  lostReason: Error | undefined;

  /** The connection or its notifier failed: end everything and say why through `done`. */
  private lost(reason: Error): void {
    if (this.closing) return;
    this.lostReason = reason;
    void this.shutdown(reason);
  }

  /**
   * Ends channels, tunnel and connection, then settles `done` whatever the cleanup met: a `done`
   * left unsettled would keep the remote from ever reconnecting.
   */
  private shutdown(reason: Error | undefined): Promise<void> {
    this.closing ??= (async () => {
      try {
        clearTimeout(this.pollTimer);
        this.notifier?.close();
        this.queue.close(reason ?? new Error('connection closed'));
        const tunnel = await this.tunnelPromise?.catch(() => undefined);
        await Promise.allSettled([tunnel?.close(), this.ssh.close()]);
      } finally {
        if (reason) this.settleDone.reject(reason);
        else this.settleDone.resolve();
      }
    })();
    return this.closing;
  }

  private openTunnel(): Promise<Tunnel> {
    const promise = startTunnel({
      queue: this.queue,
      userHost: this.url.user !== undefined ? `${this.url.user}@${this.url.host}` : this.url.host,
      port: this.url.port !== undefined ? String(this.url.port) : '',
      fallbackSsh: this.spec.sshCommand,
      standbyCommand: `git-upload-pack ${sqQuote(this.url.path)}`,
      log: (text) => this.events.log(text),
    });
    promise.catch(() => {});
    return promise;
  }

  /** No notifier: list the refs now and every poll interval, and report what moved. */
  async startPolling(): Promise<void> {
    let previous = await this.listRefs();
    const intervalMs = Math.max(0.05, this.spec.pollIntervalSeconds) * 1000;
    const poll = async () => {
      if (this.closing) return;
      try {
        const current = await this.listRefs();
        const moved = movedRefs(previous, current);
        previous = current;
        if (moved.size > 0 && !this.closing) this.events.changed({ kind: 'refs', refs: moved });
      } catch (err) {
        return this.lost(err as Error);
      }
      if (!this.closing) this.pollTimer = setTimeout(poll, intervalMs);
    };
    this.pollTimer = setTimeout(poll, intervalMs);
  }
}

/** Refs that are new or moved, and deleted ones as the zero id (a fetch prunes them if asked to). */
export function movedRefs(before: RefMap, after: RefMap): RefMap {
  const moved: RefMap = new Map();
  for (const [ref, sha] of after) if (before.get(ref) !== sha) moved.set(ref, sha);
  for (const ref of before.keys()) if (!after.has(ref)) moved.set(ref, DELETED);
  return moved;
}
