// One remote's life inside its worker thread. The rules (when to connect, retry, wait for the
// user, report CONNECTED/DISCONNECTED) are the pure step function in ./lifecycle.ts; this file
// carries out its effects (connect through the transport, close, arm timers) and does the
// remote's work while connected: catch up after every (re)connect, and fetch whatever changes.
// This is the piscina task; it resolves only on a clean stop.

import { readlinkSync } from 'node:fs';
import type { MessagePort } from 'node:worker_threads';
import { backoffDelay } from '../shared/backoff.js';
import { DEFAULT_FETCH_STALL_SECONDS, type FromWorker, type LiveSettings, type SessionTask, type ToWorker } from '../shared/workerapi.js';
import { beginChildren, endChildren, killAll } from './children.js';
import { Coalesced } from './coalesce.js';
import { Fetching } from './fetching.js';
import { LogLimiter } from './loglimit.js';
import { initialState, start, step, type Effect, type LifeEvent, type LifeState } from './lifecycle.js';
import { NoticeLinks } from './notice/link.js';
import { ObjectChecker } from './objects.js';
import type { EndpointLink, TransportPlugin } from '../shared/plugin.js';
import { captureStrayPrints } from './strayprints.js';
import { TrackingRefs } from './tracking.js';
import { NeedsUser, type Connection, type RemoteChange, type Transport, type TransportEvents } from '../shared/transport.js';
import { loadTransport } from './transports.js';

/**
 * After losing a connection that caught up (lifecycle.ts: the one meaning of healthy), failed
 * connects retry at the shortest delay for this long: a restarting server is back within seconds.
 */
const QUICK_RETRY_MS = 30_000;
/** Object ids from notices waiting to be looked at; past this, a fetch settles them all. */
const MAX_PENDING_SHAS = 10_000;
/** Closing a connection may wait on a server; a stop must not. */
const CLOSE_TIMEOUT_MS = 3000;

export default async function session(task: SessionTask): Promise<string> {
  // Only this remote's transport: a worker that imported every plugin (and what their settings
  // import) paid for it in memory all its life (~1.8 MB per remote when p2p's pulled in protomux).
  const remoteSession = new Session(task, await loadTransport(task.spec.transport));
  const release = captureStrayPrints((text) => remoteSession.log(`printed: ${text.trimEnd()}`));
  // Which OS thread is this remote's (top -H, /proc/<pid>/task/<tid>): where its CPU and wake-ups go.
  remoteSession.log(`runs in thread ${osThreadId()}`);
  try {
    await remoteSession.run();
  } finally {
    release();
  }
  return 'stopped';
}

/** The attempt under way: its abort switch, and its connection once made. */
interface Attempt {
  id: number;
  abort: AbortController;
  connection?: Connection;
  /** We closed it (an effect), so its end is no loss. */
  closing?: Promise<void>;
}

export class Session {
  private readonly port: MessagePort;
  private state: LifeState;
  private live: LiveSettings;
  private transport: Promise<Transport> | undefined;
  private readonly objects: ObjectChecker;
  private readonly tracking: TrackingRefs;
  private readonly fetching: Fetching;
  private readonly listing: Coalesced;
  private readonly endpoint: PortLink | undefined;
  /** Tells the user's other devices when this remote moved, and hears when it moved there. */
  private readonly notices: NoticeLinks;
  private attempt: Attempt | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Effects run in order: a DISCONNECTED goes out only once its connection is closed. */
  private effects: Promise<void> = Promise.resolve();
  private finished!: () => void;
  private readonly done = new Promise<void>((resolve) => (this.finished = resolve));
  /** Every detail line leaves through this: a remote cannot flood the log. */
  private readonly logLimiter = new LogLimiter((text) => this.post({ type: 'log', text }));
  /** Object ids from notices, looked at in one batch while a look is running. */
  private pendingShas = new Set<string>();
  private pendingOverflow = false;
  private readonly examining: Coalesced;

  constructor(
    private readonly task: SessionTask,
    /** The remote's transport (loadTransport in workers/transports.ts, or a test's fake); none: each connect fails. */
    private readonly plugin: TransportPlugin | undefined,
  ) {
    this.port = task.port;
    this.live = task.live;
    const { spec, repo } = task;
    this.state = initialState(task.initialMode, this.plugin?.network ?? true);
    // A transport with a shared endpoint always gets its link, even while the endpoint does not
    // run (a webhook receiver turned on later): the port comes when the endpoint starts.
    this.endpoint = task.endpointPort || this.plugin?.endpoint ? new PortLink(task.endpointPort) : undefined;
    this.objects = new ObjectChecker(repo.cwd);
    this.tracking = new TrackingRefs(spec.fetchRefspecs, repo.cwd, this.objects, spec.followTags, spec.prune);
    this.fetching = new Fetching({
      remote: spec.name,
      url: spec.url,
      cwd: repo.cwd,
      gitDir: repo.gitDir,
      // Not connected (a queued fetch after PAUSE, LOSTNET or a lost link): no fetch at all, rather
      // than one that goes around the held connection; the catch-up on reconnecting covers it.
      plan: async () => this.connected()?.fetchPlan(),
      writeFetchHead: this.tracking.writesFetchHeadOnly(),
      snapshot: () => (this.live.reportUpdates ? () => this.tracking.read() : undefined),
      stallMs: () => (this.live.fetchStallSeconds ?? DEFAULT_FETCH_STALL_SECONDS) * 1000,
      post: (message) => this.post(message),
      condition: (text) => this.condition('fetch', text),
      log: (text) => this.log(text),
    });
    this.listing = new Coalesced(() => this.compareWithRemote());
    this.examining = new Coalesced(() => this.examineShas());
    this.notices = new NoticeLinks(
      { spec, repo, log: (text) => this.log(text), nudge: (why) => this.nudged(why) },
      task.noticePorts,
    );
    beginChildren((pid, alive) => this.post({ type: 'child', pid, alive }));
    this.port.on('message', (message: ToWorker) => this.command(message));
  }

  async run(): Promise<void> {
    // A transport that is missing or cannot load fails each connect, and is reported there.
    this.transport = this.plugin
      ?.load()
      .then((module) =>
        module.create({
          spec: this.task.spec,
          repo: this.task.repo,
          live: () => this.live,
          endpoint: this.endpoint,
          reachable: (why) => this.reachable(why),
        }),
      );
    this.transport?.catch(() => {});
    this.apply(start(this.state));
    await this.done;
  }

  private post(message: FromWorker): void {
    try {
      this.port.postMessage(message);
    } catch {
      // the port is closed: the coordinator is gone or has let go of this worker
    }
  }

  log(text: string): void {
    this.logLimiter.log(text);
  }

  /**
   * Every report goes to the coordinator as it is: saying a condition once, and how often its
   * changed text reaches the log, is decided in one place, the gate (src/gate.ts).
   */
  private condition(kind: string, text: string | null): void {
    this.post({ type: 'condition', kind, text });
  }

  private env() {
    return {
      now: Date.now(),
      delay: (failures: number) => backoffDelay(failures, Math.random()),
      quickRetryMs: QUICK_RETRY_MS,
    };
  }

  private dispatch(event: LifeEvent): void {
    this.apply(step(this.state, event, this.env()));
  }

  private apply([next, effects]: [LifeState, Effect[]]): void {
    const phaseChanged = next.phase !== this.state.phase;
    this.state = next;
    if (phaseChanged) this.post({ type: 'phase', phase: next.phase });
    for (const effect of effects) this.perform(effect);
  }

  private perform(effect: Effect): void {
    switch (effect.do) {
      case 'connect':
        return this.connect(effect.attempt);
      case 'disconnect':
        // The current attempt's connection goes (not a stray late one): no fetch retry over it.
        if (this.attempt?.id === effect.attempt) this.fetching.connection(false);
        this.effects = this.effects.then(() => this.disconnect(effect.attempt));
        return;
      case 'emit':
        this.effects = this.effects.then(() => {
          this.post(effect.line === 'CONNECTED' ? { type: 'emit', line: 'CONNECTED' } : { type: 'emit', line: 'DISCONNECTED' });
          if (effect.line === 'CONNECTED') {
            this.fetching.connection(true);
            void this.catchUp(this.state.attempt);
          }
        });
        return;
      case 'condition':
        return this.condition(effect.kind, effect.text);
      case 'timer':
        clearTimeout(this.timer);
        this.timer = setTimeout(() => this.dispatch({ type: 'retry-due' }), effect.ms);
        return;
      case 'cancel-timer':
        clearTimeout(this.timer);
        return;
      case 'finish':
        this.effects = this.effects.then(() => this.finish());
        return;
    }
  }

  private command(message: ToWorker): void {
    switch (message.type) {
      case 'pause':
      case 'lostnet':
      case 'resume':
      case 'reload':
      case 'network-changed':
      case 'stop':
        if (message.type === 'resume' || message.type === 'reload') this.fetching.reset();
        // RESUME leaves a working connection alone, but looks now: a polled remote (http, ssh
        // without a notifier) does not wait out its interval, and a missed notice costs nothing.
        if (message.type === 'resume' && this.connected()) void this.listing.request();
        return this.dispatch({ type: message.type });
      case 'live':
        this.live = message.live;
        this.attempt?.connection?.liveChanged?.();
        return;
      case 'fetch':
        if (this.connected()) void this.fetching.want();
        else this.log('FETCH while not connected: the catch-up after connecting will fetch what changed');
        return;
      case 'changed':
        // Offering them is the shared endpoints' business (peers: src/endpoints.ts routes CHANGED
        // to them directly); for a remote's worker it is a log line.
        return this.log(`local refs changed: ${message.refs.join(' ')}`);
      case 'endpoint':
        return this.endpoint?.replace(message.port);
      case 'carrier':
        return this.notices.link(message.carrier, message.port);
      case 'endpoint-gone':
        if (message.carrier !== undefined) return this.notices.unlink(message.carrier);
        return this.endpoint?.gone();
    }
  }

  /** The transport says the remote can be reached again: a backoff ends now. */
  private reachable(why: string): void {
    const { kind } = this.state.phase;
    if (kind === 'backoff') this.log(`${why}: trying again now`);
    else if (kind === 'connecting') this.log(`${why}: trying again at once if the attempt under way fails`);
    this.dispatch({ type: 'reachable' });
  }

  /** The connection of the current attempt, while the lifecycle counts it as connected. */
  private connected(attempt?: number): Connection | undefined {
    const { phase } = this.state;
    if (phase.kind !== 'connected' || (attempt !== undefined && phase.attempt !== attempt)) return undefined;
    return this.attempt?.id === phase.attempt ? this.attempt.connection : undefined;
  }

  private connect(id: number): void {
    const attempt: Attempt = { id, abort: new AbortController() };
    this.attempt = attempt;
    const events: TransportEvents = {
      changed: (change) => this.changed(id, change),
      condition: (kind, text) => this.condition(kind, text),
      watching: (how) => this.post({ type: 'watching', how }),
      nextLook: (at) => this.post({ type: 'next-look', at }),
      serverWait: (until, waitMs) => this.post({ type: 'server-wait', until, seconds: Math.ceil(waitMs / 1000) }),
      log: (text) => this.log(text),
    };
    void (async () => {
      try {
        if (!this.transport) throw new NeedsUser(`no transport named ${JSON.stringify(this.task.spec.transport)} in this version`);
        const connection = await (await this.transport).connect(events, attempt.abort.signal);
        attempt.connection = connection;
        connection.done.then(
          () => attempt.closing || this.dispatch({ type: 'lost', attempt: id, reason: 'the connection ended', needsUser: false }),
          (err: unknown) => attempt.closing || this.dispatch({ type: 'lost', attempt: id, reason: message(err), needsUser: err instanceof NeedsUser }),
        );
        if (attempt.abort.signal.aborted) await this.close(attempt);
        else this.dispatch({ type: 'connected', attempt: id });
      } catch (err) {
        if (attempt.abort.signal.aborted) return; // we gave up on it: nothing to report
        this.dispatch({ type: 'connect-failed', attempt: id, reason: message(err), needsUser: err instanceof NeedsUser });
      }
    })();
  }

  private async disconnect(id: number): Promise<void> {
    const attempt = this.attempt;
    if (!attempt || attempt.id !== id) return;
    attempt.abort.abort();
    // A fetch runs over its connection (ssh's tunnel, the peer's link, or the connection's say-so
    // for a poll): it ends with it, its DONESYNCING 0 before DISCONNECTED, and the catch-up after
    // the next CONNECTED does not queue behind a fetch hung on a link that is gone.
    await withTimeout(this.fetching.cancel('its connection was closed'), CLOSE_TIMEOUT_MS);
    await this.close(attempt);
  }

  private close(attempt: Attempt): Promise<void> {
    attempt.closing ??= (async () => {
      const connection = attempt.connection;
      if (!connection) return;
      await withTimeout(connection.close().catch(() => {}), CLOSE_TIMEOUT_MS);
    })();
    return attempt.closing;
  }

  private async finish(): Promise<void> {
    clearTimeout(this.timer);
    const fetchOver = this.fetching.stop();
    this.logLimiter.flush();
    killAll();
    await fetchOver; // its DONESYNCING must go out before the port closes
    this.objects.close();
    this.endpoint?.close();
    this.notices.close();
    endChildren();
    this.port.close();
    this.finished();
  }

  /** After every (re)connect: one fetch if the remote moved while nobody watched. */
  private async catchUp(id: number): Promise<void> {
    const connection = this.connected(id);
    if (!connection) return;
    let needed: boolean;
    try {
      needed = await this.tracking.differs(await connection.listRefs());
    } catch (err) {
      if (!this.connected(id)) return;
      // Not knowing is no reason to miss what changed meanwhile: fetch and let git find out.
      this.log(`cannot compare with the remote's refs (${message(err)}); fetching to be sure`);
      needed = true;
    }
    if (needed && this.connected(id)) await this.fetching.want();
    if (this.connected(id)) this.dispatch({ type: 'caught-up', attempt: id });
  }

  /** A change the transport saw: fetch if it brings anything new here. */
  private changed(id: number, change: RemoteChange): void {
    // Before CONNECTED (a notifier's first lines) or after the connection: the catch-up that
    // follows every CONNECTED covers it. A fetch already waiting to start will see it too.
    if (!this.connected(id) || this.fetching.queued) return;
    if (change.kind !== 'refs') {
      // However many notices come, one look at their ids runs and one waits, over a bounded set.
      const shas = change.kind === 'shas' ? change.shas : [];
      if (this.pendingShas.size + shas.length > MAX_PENDING_SHAS) this.pendingOverflow = true;
      else for (const sha of shas) this.pendingShas.add(sha);
      void this.examining.request();
      return;
    }
    void (async () => {
      try {
        if (await this.tracking.needsFetch(change.refs)) await this.fetchIfConnected(id);
      } catch (err) {
        if (this.connected(id)) this.condition('compare', `cannot compare with local refs: ${message(err)}`);
      }
    })();
  }

  /**
   * The ids noticed since the last look. One we lack means new commits: fetch at once. If we have
   * them all, a ref may still have moved onto one of them (a new branch at an old commit): ask the
   * remote which refs are where, one listing at a time however many notices come.
   */
  private async examineShas(): Promise<void> {
    const id = this.state.attempt;
    const shas = [...this.pendingShas];
    const overflow = this.pendingOverflow;
    this.pendingShas = new Set();
    this.pendingOverflow = false;
    if (!this.connected(id) || this.fetching.queued) return;
    try {
      if (overflow || (await this.tracking.anyMissing(shas))) return await this.fetchIfConnected(id);
      await this.listing.request();
    } catch (err) {
      if (this.connected(id)) this.condition('compare', `cannot compare with local refs: ${message(err)}`);
    }
  }

  /** Another device says the remote moved, or a carrier is back: look, as for a webhook. */
  private nudged(why: string): void {
    this.log(`nudged (${why})`);
    this.changed(this.state.attempt, { kind: 'nudge' });
  }

  private async compareWithRemote(): Promise<void> {
    const connection = this.connected();
    if (!connection) return;
    const id = this.state.attempt;
    try {
      // All of its refs: one gone there is news too when fetches prune (a deletion's notice).
      if (await this.tracking.differs(await connection.listRefs())) await this.fetchIfConnected(id);
      this.condition('compare', null);
    } catch (err) {
      if (this.connected(id)) this.condition('compare', `cannot list the remote's refs: ${message(err)}`);
    }
  }

  private async fetchIfConnected(id: number): Promise<void> {
    if (this.connected(id)) await this.fetching.want();
  }

}

/**
 * The remote's end of its link to a shared endpoint; survives the endpoint's restarts, and its
 * starting and stopping as the config asks (no port meanwhile: what is posted then is dropped).
 */
class PortLink implements EndpointLink {
  private readonly listeners = new Set<(message: unknown) => void>();
  private readonly goneListeners = new Set<() => void>();

  constructor(private port: MessagePort | undefined) {
    this.listen();
  }

  private listen(): void {
    this.port?.on('message', (message: unknown) => {
      for (const fn of this.listeners) fn(message);
    });
  }

  replace(port: MessagePort): void {
    this.port?.close();
    this.port = port;
    this.listen();
  }

  /** The config dropped the endpoint: no port until it is started again. */
  gone(): void {
    this.port?.close();
    this.port = undefined;
    for (const fn of this.goneListeners) fn();
  }

  post(message: unknown): void {
    try {
      this.port?.postMessage(message);
    } catch {
      // the endpoint is restarting; a new port follows
    }
  }

  onMessage(fn: (message: unknown) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  onGone(fn: () => void): () => void {
    this.goneListeners.add(fn);
    return () => this.goneListeners.delete(fn);
  }

  close(): void {
    this.listeners.clear();
    this.goneListeners.clear();
    this.port?.close();
  }
}

/** This thread's id as the kernel knows it (Linux; `?` elsewhere). */
function osThreadId(): string {
  try {
    return readlinkSync('/proc/thread-self').split('/').at(-1)!;
  } catch {
    return '?';
  }
}

/** Waits for `promise`, but no longer than `ms`. */
async function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  await Promise.race([promise, late]);
  clearTimeout(timer);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
