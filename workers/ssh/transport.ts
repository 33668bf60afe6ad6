// The ssh transport: one held ssh2 connection per remote. Over it run the notifier (changes are
// known within milliseconds of a push), the ref listing for the catch-up after every (re)connect,
// and every `git fetch` of the remote (through the tunnel: no second handshake). A remote without a
// notifier is polled over the same connection instead of being reconnected in a loop.
//
// A notifier that fails after READY (breaks the protocol, floods, stops answering PING, exits) costs
// only itself: the connection stays, the remote is polled over it for the rest of that connection,
// and the next connection tries the notifier again. Dropping the connection instead would cut off
// the catch-up fetch every connect starts, and a broken notifier would keep the remote from ever
// syncing. Condition kinds are fixed words, so each is said once however often it recurs.
//
// A notifier whose liveness cannot be checked (it never answers PING, as git-annex-shell does not)
// is kept, with a safety-net listing over the same connection at the poll interval: READY and then
// silence would otherwise leave the remote blind.

import type { TransportContext } from '../../shared/plugin.js';
import { startPolling, type Poller } from '../poll.js';
import { NeedsUser, type Connection, type FetchPlan, type RefMap, type Transport, type TransportEvents } from '../../shared/transport.js';
import { ChannelQueue } from './channels.js';
import { AuthenticationError, connectSsh, HostKeyError, UnsupportedSetting, type SshConnection } from './connect.js';
import { parseSshUrl, SshCommandError, type SshUrl } from './config.js';
import { DEFAULT_LIMITS, notifierCommand, startNotifier, type NotifierLimits, type RunningNotifier } from './notifier.js';
import type { SshOptions } from './options.js';
import { fallbackAdvice } from './notifierrefusal.js';
import { listRemoteRefs } from './listrefs.js';
import { startTunnel, type Tunnel } from './tunnel.js';
import { directFetch } from '../direct/fetch.js';
import { sqQuote } from '../../shared/kit/shell.js';

/** Condition kinds this transport raises. */
export const NO_NOTIFIER = 'no-notifier';
export const NOTIFIER = 'notifier';
/** A notifier that behaved this long (or answered a PING) has shown it works: its WARNING is over. */
const NOTIFIER_PROVEN_MS = 60_000;
/** Remotes (by their transport's context) whose log already says their notifier does not answer PING. */
const saidMute = new WeakSet<TransportContext>();

/** `tuning`: tests shorten the notifier's limits; the daemon uses the defaults. */
export function create(context: TransportContext, tuning: Partial<NotifierLimits> = {}): Transport {
  const { spec } = context;
  const options = spec.options as SshOptions;
  const url = parseSshUrl(spec.url);
  return {
    async connect(events: TransportEvents, signal: AbortSignal): Promise<Connection> {
      if (!url) throw new NeedsUser(`not an ssh URL git understands: ${spec.url}`);
      let ssh: SshConnection;
      try {
        ssh = await connectSsh(
          { host: url.host, ...(url.user !== undefined && { user: url.user }), ...(url.port !== undefined && { port: url.port }) },
          { sshCommand: options.sshCommand, signal, log: (text) => events.log(text) },
        );
      } catch (err) {
        throw needsUserIfHopeless(err);
      }
      // Settings ssh2 cannot honour: one condition, said once however often we reconnect.
      events.condition('ssh-settings', ssh.warnings.length > 0 ? ssh.warnings.join('; ') : null);
      try {
        return await HeldConnection.start(ssh, url, context, options, events, signal, limitsFor(ssh, tuning));
      } catch (err) {
        await ssh.close();
        throw err;
      }
    },
  };
}

/**
 * A PONG is waited for longer than ssh's keepalive takes to give up on a stalled link: when the
 * link is what stopped, the error says so, rather than blaming the notifier.
 */
function limitsFor(ssh: SshConnection, tuning: Partial<NotifierLimits>): NotifierLimits {
  const limits = { ...DEFAULT_LIMITS, ...tuning };
  if (tuning.pongTimeoutMs === undefined) limits.pongTimeoutMs = Math.max(limits.pongTimeoutMs, ssh.stallDetectMs + 5000);
  return limits;
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
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
  private poller: Poller | undefined;
  private provenTimer: NodeJS.Timeout | undefined;
  /**
   * The notifier's condition is reported clear on this connection, and nothing raised it since:
   * each PONG (one a minute) need not say so again. Every message to the coordinator wakes its
   * thread, and an idle daemon's main thread then woke once a minute per remote for nothing.
   */
  notifierClear = false;
  /** Listing at the poll interval beside a notifier that has not answered a PING (yet). */
  private safetyNet: Poller | undefined;
  /** When its next listing is due; shown in status once the notifier turned out mute. */
  private safetyNetNext: number | undefined;
  private mute = false;
  /** The notifier answered a PING: it is ours, and its liveness is checked. */
  answering = false;
  private tunnelPromise: Promise<Tunnel> | undefined;

  private constructor(
    private readonly ssh: SshConnection,
    private readonly queue: ChannelQueue,
    private readonly url: SshUrl,
    private readonly context: TransportContext,
    private readonly options: SshOptions,
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
    context: TransportContext,
    options: SshOptions,
    events: TransportEvents,
    signal: AbortSignal,
    limits: NotifierLimits = DEFAULT_LIMITS,
  ): Promise<HeldConnection> {
    // Nagle is already off: connectSsh makes its socket with noDelay (ssh2 would leave it on).
    const queue = new ChannelQueue(ssh.client);
    const held = new HeldConnection(ssh, queue, url, context, options, events);
    const onAbort = () => void held.close();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      ssh.closed.then(
        (reason) => held.lost(reason ?? new Error('ssh connection closed')),
        (err: Error) => held.lost(err),
      );
      held.tunnelPromise = held.openTunnel();
      const start = await startNotifier(
        queue,
        notifierCommand(options.notifier, url.path),
        {
          changed: (shas) => events.changed({ kind: 'shas', shas }),
          garbage: (line) => {
            held.notifierClear = false;
            events.condition(NOTIFIER, `the notifier on ${url.host} sent a line that is not READY or CHANGED: ${JSON.stringify(line.slice(0, 120))}`);
          },
          answered: () => {
            if (!held.answering) events.watching('notifier (answers PING)');
            held.answering = true;
            held.stopSafetyNet(); // its liveness is checked from now on: no need to list
            held.notifierProven();
          },
          mute: () => held.notifierMute(),
          log: (text) => events.log(text),
        },
        limits,
        ssh.keepalive,
      );
      signal.throwIfAborted();
      if (start.kind === 'ready') {
        held.notifier = start.notifier;
        events.condition(NO_NOTIFIER, null);
        events.watching('notifier');
        // Until it answers a PING, nothing shows it alive: list now and then meanwhile. Ours answers
        // within milliseconds, long before the first listing is due.
        held.startSafetyNet();
        held.provenTimer = setTimeout(() => held.notifierProven(), NOTIFIER_PROVEN_MS);
        start.notifier.ended.then(
          () => {},
          // Deferred a turn: when the whole connection died, its own reason (a keepalive timeout,
          // the server going away) arrives first and is the one reported.
          (err: Error) => void setImmediate(() => void held.notifierFailed(err)),
        );
      } else {
        // List the refs before warning: if that fails too, the connection (or the repository) is
        // the problem, not a missing notifier, and the error says so instead.
        await held.startPolling();
        if (held.lostReason) throw held.lostReason;
        const setting = `remote.${context.spec.name}.remotedaemon-notifier`;
        const advice = fallbackAdvice(start.refusal ?? 'other', setting);
        held.sayPolling(NO_NOTIFIER, (every) => `no notifier on ${url.host} (${start.reason}); checking for changes every ${every} s instead. ${capitalise(advice)}`);
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

  /** The session's own look (catch-up, nudge, RESUME): the pollers compare with it next. */
  async listRefs(): Promise<RefMap> {
    const refs = await this.listOnServer();
    this.poller?.observe(refs);
    this.safetyNet?.observe(refs);
    return refs;
  }

  private listOnServer(): Promise<RefMap> {
    return listRemoteRefs(this.queue, this.url.path);
  }

  async fetchPlan(): Promise<FetchPlan> {
    if (!this.tunnelPromise) throw new Error('not connected');
    const tunnel = await this.tunnelPromise;
    return { env: tunnel.env, direct: (request) => directFetch(request, this.options.direct, () => tunnel.openUploadPack()) };
  }

  close(): Promise<void> {
    return this.shutdown(undefined);
  }

  /** The notifier worked long enough, or answered a PING: what was said about it is over. */
  private notifierProven(): void {
    clearTimeout(this.provenTimer);
    if (this.closing || !this.notifier || this.notifierClear) return;
    this.notifierClear = true;
    this.events.condition(NOTIFIER, null);
  }

  /**
   * Beside a notifier whose liveness is not (yet) checked: list every poll interval and report what
   * moved. It starts from nothing known, so its first listing reports every ref and the session
   * fetches only what it lacks; a notifier that works makes every listing after that find nothing.
   */
  private startSafetyNet(): void {
    if (this.answering) return;
    this.safetyNet = startPolling(new Map(), {
      list: () => this.listOnServer(),
      nextDelayMs: () => this.context.live().pollIntervalSeconds * 1000,
      changed: (change) => this.events.changed(change),
      failed: (err) => this.lost(err),
      scheduled: (at) => {
        this.safetyNetNext = at;
        if (this.mute) this.events.nextLook?.(at);
      },
    });
  }

  private stopSafetyNet(): void {
    this.safetyNet?.stop();
    this.safetyNet = undefined;
  }

  /**
   * The notifier did not answer the first PING. git-annex-shell never does, so it is no WARNING;
   * but a wedged notifier does not either, so the safety-net listing stays for this connection.
   * Said once per remote in the log, not on every reconnect.
   */
  private notifierMute(): void {
    if (this.closing || !this.notifier) return;
    this.mute = true;
    const every = this.context.live().pollIntervalSeconds;
    this.events.watching(`notifier (does not answer PING), and listing every ${every} s`);
    if (this.safetyNetNext !== undefined) this.events.nextLook?.(this.safetyNetNext);
    if (saidMute.has(this.context)) return;
    saidMute.add(this.context);
    this.events.log(
      `the notifier on ${this.url.host} does not answer PING (git-annex-shell does not): its liveness cannot be checked, ` +
        `so its refs are also listed every ${every} s over the same connection`,
    );
  }

  /**
   * The notifier failed after READY while the connection still works: poll over the connection for
   * the rest of its life. Whatever moved while the notifier was failing is compared at once.
   */
  private async notifierFailed(err: Error): Promise<void> {
    clearTimeout(this.provenTimer);
    if (this.closing || !this.notifier) return;
    this.notifier.close();
    this.notifier = undefined;
    this.stopSafetyNet(); // the polling below takes over
    this.sayPolling(NOTIFIER, (every) => `${err.message}; checking ${this.url.host} for changes every ${every} s over the same connection until it reconnects`);
    try {
      const initial = await this.startPolling();
      if (initial) this.events.changed({ kind: 'refs', refs: initial });
    } catch (listErr) {
      this.lost(listErr instanceof Error ? listErr : new Error(String(listErr)));
    }
  }

  /** The condition that says why this connection polls; it names the interval, so it follows it. */
  private pollingCondition: { kind: string; text: (every: number) => string } | undefined;

  sayPolling(kind: string, text: (every: number) => string): void {
    this.pollingCondition = { kind, text };
    this.events.condition(kind, text(this.context.live().pollIntervalSeconds));
  }

  /** A new poll interval: the pending look moves to it, and status and the condition say it. */
  liveChanged(): void {
    if (this.closing) return;
    const every = this.context.live().pollIntervalSeconds;
    if (!this.poller) {
      // Beside a notifier, only the safety-net listing follows the interval.
      if (this.mute) this.events.watching(`notifier (does not answer PING), and listing every ${every} s`);
      this.safetyNet?.reschedule();
      return;
    }
    this.events.watching(`polling every ${every} s`);
    if (this.pollingCondition) this.events.condition(this.pollingCondition.kind, this.pollingCondition.text(every));
    this.poller.reschedule();
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
        clearTimeout(this.provenTimer);
        this.poller?.stop();
        this.safetyNet?.stop();
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
      fallbackSsh: this.options.sshCommand,
      standbyCommand: `git-upload-pack ${sqQuote(this.url.path)}`,
      log: (text) => this.events.log(text),
    });
    promise.catch(() => {});
    return promise;
  }

  /** No notifier: list the refs now and every poll interval, and report what moved. */
  async startPolling(): Promise<RefMap | undefined> {
    const initial = await this.listOnServer();
    if (this.closing) return undefined;
    this.events.watching(`polling every ${this.context.live().pollIntervalSeconds} s`);
    this.poller = startPolling(initial, {
      list: () => this.listOnServer(),
      // Counted from the last look: shortened from 60 s to 5 s after 30 s, the next look is now.
      nextDelayMs: (sinceLastMs) => this.context.live().pollIntervalSeconds * 1000 - sinceLastMs,
      changed: (change) => this.events.changed(change),
      failed: (err) => this.lost(err),
      scheduled: (at) => this.events.nextLook?.(at),
    });
    return initial;
  }
}
