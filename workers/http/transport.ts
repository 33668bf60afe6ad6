// The http(s):// and git:// transport. Nothing on these servers can tell us of a push except a
// forge's webhook, so "connected" means "the refs could be listed", and changes are found by
// listing again: every poll interval (jittered, at a phase of its own), at once when the webhook
// endpoint nudges, and never earlier than a server's Retry-After.
//
// Failure policy: a failed poll ends the connection (done rejects) and the session's lifecycle
// backs off and reconnects, exactly as for a dropped ssh connection; NeedsUser (no or refused
// credentials) makes the remote wait for RESUME or RELOAD. Throttling is not a failure: the
// connection stays, and nothing is sent before the server's Retry-After.

import type { TransportContext } from '../../shared/plugin.js';
import { startPolling, type Poller } from '../poll.js';
import { NeedsUser, type Connection, type FetchPlan, type RefMap, type Transport, type TransportEvents } from '../../shared/transport.js';
import { isFromWebhook } from './messages.js';
import { NO_PROMPT_ARGS, NO_PROMPT_ENV } from './noprompt.js';
import { readOptions } from './options.js';
import { RefLister, Throttled } from './lister.js';
import { refPrefixes } from './refprefixes.js';
import { MAX_RETRY_AFTER_MS } from './retryafter.js';
import { nextPollDelay, phaseOf, pollIntervalSeconds } from './schedule.js';
import { parseRemoteUrl } from './urls.js';

/** How long the listing made while connecting answers the session's catch-up listRefs(). */
const FRESH_MS = 2000;

export function create(context: TransportContext): Transport {
  const { spec, repo } = context;
  const options = readOptions(spec.options);
  const prefixes = refPrefixes(spec.fetchRefspecs, spec.followTags);
  const phase = phaseOf(spec.url);
  return {
    async connect(events: TransportEvents, signal: AbortSignal): Promise<Connection> {
      const url = parseRemoteUrl(spec.url);
      if (!url) throw new NeedsUser(`not an http(s):// or git:// URL this daemon can read: ${spec.url.replace(/\/\/[^/@]*@/, '//')}`);
      const lister = new RefLister({ url, remote: spec.name, cwd: repo.cwd, prefixes, options, log: (text) => events.log(text) });
      const connection = new HttpConnection(lister, context, events, phase);
      const onAbort = () => void connection.close();
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        await connection.start(signal);
        return connection;
      } catch (err) {
        await connection.close();
        throw signal.aborted ? (signal.reason ?? err) : err;
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
    },
  };
}

class HttpConnection implements Connection {
  readonly done: Promise<void>;
  private settle!: { resolve(): void; reject(err: Error): void };
  private readonly stopping = new AbortController();
  private poller: Poller | undefined;
  private unsubscribe: (() => void) | undefined;
  /** The last listing: what a throttled poll reports (nothing moved). */
  private last: RefMap = new Map();
  private lastAt = 0;
  private initialUnused = false;
  /** Refusals (429, 503 + Retry-After) since the last listing the server answered. */
  private throttledInARow = 0;
  /** No request before this (a server's Retry-After). */
  private notBefore = 0;
  private webhook = false;
  private watchingText = '';
  private closed = false;

  constructor(
    private readonly lister: RefLister,
    private readonly context: TransportContext,
    private readonly events: TransportEvents,
    private readonly phase: number,
  ) {
    this.done = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }));
    this.done.catch(() => {}); // the session awaits it; a lost connection is not unhandled here
  }

  async start(signal: AbortSignal): Promise<void> {
    const both = AbortSignal.any([signal, this.stopping.signal]);
    const refs = await this.listPatiently(both);
    this.initialUnused = true;
    this.poller = startPolling(refs, {
      list: () => this.poll(),
      nextDelayMs: () => this.nextDelayMs(),
      changed: (change) => this.events.changed(change),
      failed: (err) => this.lose(err),
      scheduled: (at) => this.events.nextLook?.(at),
    });
    const endpoint = this.context.endpoint;
    if (endpoint) {
      const off = endpoint.onMessage((message) => this.fromWebhook(message));
      // The receiver turned off in the config: no `listening: false` can come from it any more.
      const offGone = endpoint.onGone?.(() => this.fromWebhook({ type: 'status', listening: false }));
      this.unsubscribe = () => {
        off();
        offGone?.();
      };
      endpoint.post({ type: 'hello' });
    }
    this.reportWatching();
  }

  async listRefs(): Promise<RefMap> {
    // The session's catch-up right after connecting: the listing just made is the answer.
    if (this.initialUnused && Date.now() - this.lastAt < FRESH_MS) {
      this.initialUnused = false;
      return this.last;
    }
    const refs = await this.listPatiently(this.stopping.signal);
    this.poller?.observe(refs);
    return refs;
  }

  async fetchPlan(): Promise<FetchPlan> {
    // git fetch asks the credential helpers itself; it must never ask a person instead.
    return { env: { ...NO_PROMPT_ENV }, gitArgs: [...NO_PROMPT_ARGS] };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.poller?.stop();
    this.unsubscribe?.();
    this.stopping.abort(new Error('connection closed'));
    this.lister.close();
    this.settle.resolve();
  }

  /** A listing that waits out the server's Retry-After instead of failing on it. */
  private async listPatiently(signal: AbortSignal): Promise<RefMap> {
    for (;;) {
      await sleep(this.notBefore - Date.now(), signal);
      try {
        return this.remember(await this.lister.list(signal));
      } catch (err) {
        if (!(err instanceof Throttled)) throw err;
        this.throttled(err);
      }
    }
  }

  /** One scheduled or nudged poll: a single listing, or none while the server wants quiet. */
  private async poll(): Promise<RefMap> {
    if (Date.now() < this.notBefore) return this.last;
    this.initialUnused = false;
    try {
      return this.remember(await this.lister.list(this.stopping.signal));
    } catch (err) {
      if (!(err instanceof Throttled)) throw err;
      this.throttled(err);
      return this.last;
    }
  }

  private remember(refs: RefMap): RefMap {
    this.throttledInARow = 0;
    this.last = refs;
    this.lastAt = Date.now();
    return refs;
  }

  private throttled(err: Throttled): void {
    // Without a Retry-After, one poll interval; with one, what the server asked, but never less
    // than 1 s doubling with each refusal in a row (up to the interval): a server that answers
    // "Retry-After: 0" forever would otherwise get a request, and a log line, per round trip.
    const intervalMs = this.intervalSeconds() * 1000;
    const floorMs = Math.min(1000 * 2 ** Math.min(this.throttledInARow, 20), intervalMs);
    this.throttledInARow++;
    const waitMs = Math.min(Math.max(err.waitMs ?? intervalMs, floorMs), MAX_RETRY_AFTER_MS);
    this.notBefore = Date.now() + waitMs;
    this.events.log(`${err.message}: no request for ${Math.ceil(waitMs / 1000)} s`);
    this.events.serverWait?.(this.notBefore, waitMs);
  }

  private intervalSeconds(): number {
    return pollIntervalSeconds(this.context.live().pollIntervalSeconds, this.webhook);
  }

  private nextDelayMs(): number {
    this.reportWatching(); // the live interval may have changed
    const delay = nextPollDelay(this.intervalSeconds() * 1000, this.phase, Date.now(), Math.random());
    return Math.max(delay, this.notBefore - Date.now());
  }

  /** A new poll interval: the pending poll moves to its phase of the new interval at once. */
  liveChanged(): void {
    if (this.closed) return;
    this.reportWatching();
    this.poller?.reschedule();
  }

  private fromWebhook(message: unknown): void {
    if (this.closed || !isFromWebhook(message)) return;
    // A look now goes the one way every cause takes (the session's coalesced listing), which
    // tells the poller what it saw: the next poll does not report the same move again.
    if (message.type === 'nudge') {
      this.events.log(`${message.forge} webhook: listing refs`);
      this.events.changed({ kind: 'nudge' });
    } else if (message.listening !== this.webhook) {
      this.webhook = message.listening;
      this.reportWatching();
      // Back to plain polling: pushes announced while the receiver was down were missed, and the
      // timer may be a whole safety-net interval away. Look now; the next delay is the short one.
      if (!this.webhook) {
        this.poller?.reschedule();
        this.events.changed({ kind: 'nudge' });
      }
    }
  }

  private reportWatching(): void {
    const seconds = this.intervalSeconds();
    const text = this.webhook ? `webhook + polling every ${seconds} s` : `polling every ${seconds} s`;
    if (text !== this.watchingText) {
      this.watchingText = text;
      this.events.watching(text);
    }
  }

  private lose(err: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.poller?.stop();
    this.unsubscribe?.();
    this.stopping.abort(err);
    this.lister.close();
    this.settle.reject(err);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
