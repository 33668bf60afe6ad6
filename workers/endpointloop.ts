// The one message loop of every shared endpoint (the webhook receiver, the XMPP login, the p2p
// node): what the coordinator says (attach, detach, settings, control, changed, stop) handled one
// message at a time, in order; which remotes are attached and what each said; when the carrier
// (whatever the endpoint runs on the network for its remotes) starts, restarts and stops, a stop
// that takes too long ended by force. An endpoint brings only what is its own: its carrier, what
// it keeps of each remote, what it answers. No timer or port of its own: a test drives it with a
// fake clock and fake ports.

import type { MessagePort } from 'node:worker_threads';
import type { FromEndpoint, ToEndpoint } from '../shared/plugin.js';

/** A message port as the loop uses it (the coordinator's, a remote's): a test passes a fake. */
export interface LoopPort {
  postMessage(message: unknown): void;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  close(): void;
}

export interface Clock {
  /** Runs `fn` after `ms`; the result cancels it. */
  later(fn: () => void, ms: number): () => void;
}

const realClock: Clock = {
  later: (fn, ms) => {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

/** What the endpoint runs on the network for its remotes: a listening socket, a login, a node. */
export interface Carrier {
  start(): void | Promise<void>;
  /** Resolves once it is gone. */
  stop(): Promise<void>;
  /** Ends at once what `stop` began: it took longer than the grace. */
  kill?(): void;
  /** How long `stop` may take before `kill`; without it, as long as it takes. */
  stopGraceMs?: number;
}

/** An attached remote, as the endpoint sees it. */
export interface Attached<Link> {
  readonly name: string;
  /** What the endpoint keeps of it (a peer key, a normalised URL). */
  readonly link: Link;
  tell(message: unknown): void;
}

/** The notice hub (workers/notice/hub.ts) of an endpoint that carries notices. */
export interface NoticeLinks {
  /** `own`: the remote's repository's own settings (EndpointPlugin.own), when the plugin has any. */
  attach(remote: string, url: string, port: MessagePort, own?: Record<string, unknown>): void;
  detach(remote: string): void;
  stop(): void;
}

export interface EndpointSpec<Link> {
  carrier: Carrier;
  /** What the endpoint keeps of a remote that attaches with `url` (and its repository's own settings, if any). */
  link(remote: string, url: string, own?: Record<string, unknown>): Link;
  /** Just attached: what it hears first. */
  attached?(remote: Attached<Link>): void;
  /** Something the remote said on its port. */
  heard?(remote: Attached<Link>, message: unknown): void;
  /** Detached: nothing held for it is sent any more. */
  detached?(remote: string): void;
  /** Links of `notices: true` (an endpoint that carries change notices); stopped before the carrier. */
  notices?: NoticeLinks;
  /** Settings from the config changed; the next message waits for what this returns. */
  settings?(settings: Record<string, unknown>): void | Promise<void>;
  control?(what: 'pause' | 'lostnet' | 'resume' | 'reload'): void;
  changed?(refs: string[]): void;
  /** The carrier is gone for good, on stop: nothing more may fire. */
  stopped?(): void;
  clock?: Clock;
}

interface Entry<Link> extends Attached<Link> {
  port: LoopPort;
}

export class EndpointLoop<Link> {
  private readonly remotes = new Map<string, Entry<Link>>();
  private readonly clock: Clock;
  /**
   * Messages from the coordinator, each handled once the one before is done: a settings change
   * that restarts the carrier finishes before the next attach hears whether it runs.
   */
  private queue: Promise<void> = Promise.resolve();
  /** The carrier's start, restart or stop under way: the next one waits, so two never overlap. */
  private carrierWork: Promise<void> = Promise.resolve();
  /** A restart asked for that has not yet started the carrier again: later asks share it. */
  private restarting: Promise<void> | undefined;
  private stopping = false;
  private finish!: () => void;
  private crash!: (err: Error) => void;
  /** Resolves on a clean stop; rejects when the endpoint failed (the supervisor restarts it). */
  readonly done: Promise<void>;

  constructor(
    private readonly port: LoopPort,
    private readonly spec: EndpointSpec<Link>,
  ) {
    this.clock = spec.clock ?? realClock;
    this.done = new Promise<void>((resolve, reject) => {
      this.finish = resolve;
      this.crash = reject;
    });
    this.done.catch(() => {});
  }

  /** Starts the carrier and serves the coordinator until it says stop (or the endpoint fails). */
  run(): Promise<void> {
    this.enqueue(() => this.startCarrier());
    this.port.on('message', (message) => this.enqueue(() => this.handle(message as ToEndpoint)));
    return this.done;
  }

  /** To the coordinator. */
  say(message: FromEndpoint): void {
    try {
      this.port.postMessage(message);
    } catch {
      // the coordinator let go of us; a stop follows
    }
  }

  log(text: string): void {
    this.say({ type: 'log', text });
  }

  get attached(): Attached<Link>[] {
    return [...this.remotes.values()];
  }

  get(remote: string): Attached<Link> | undefined {
    return this.remotes.get(remote);
  }

  /** Tells every attached remote (those `only` picks): `message`, or what it makes of the remote. */
  tell(message: object | ((remote: Attached<Link>) => object), only?: (remote: Attached<Link>) => boolean): void {
    for (const remote of this.remotes.values()) {
      if (only && !only(remote)) continue;
      remote.tell(typeof message === 'function' ? message(remote) : message);
    }
  }

  /**
   * Stops the carrier and starts it again once it is gone (never two at once: they would fight
   * over a port or an identity), unless the endpoint stops meanwhile.
   */
  restart(): Promise<void> {
    if (this.restarting) return this.restarting;
    const restarting = this.afterCarrier(async () => {
      try {
        await this.stopCarrier();
      } finally {
        this.restarting = undefined;
      }
      if (!this.stopping) await this.spec.carrier.start();
    });
    this.restarting = restarting;
    return restarting;
  }

  /** The endpoint cannot go on (its carrier died): the task fails, unless it is stopping anyway. */
  fail(err: Error): void {
    if (!this.stopping) this.crash(err);
  }

  private enqueue(work: () => void | Promise<void>): void {
    this.queue = this.queue.then(work).catch((err: unknown) => this.fail(err instanceof Error ? err : new Error(String(err))));
  }

  private afterCarrier(work: () => Promise<void>): Promise<void> {
    const next = this.carrierWork.then(work);
    this.carrierWork = next.catch(() => {});
    return next;
  }

  private startCarrier(): Promise<void> {
    return this.afterCarrier(async () => {
      if (!this.stopping) await this.spec.carrier.start();
    });
  }

  private async stopCarrier(): Promise<void> {
    const { carrier } = this.spec;
    const gone = carrier.stop();
    if (carrier.kill === undefined || carrier.stopGraceMs === undefined) return gone;
    const cancel = this.clock.later(() => carrier.kill!(), carrier.stopGraceMs);
    try {
      await gone;
    } finally {
      cancel();
    }
  }

  private handle(message: ToEndpoint): void | Promise<void> {
    switch (message.type) {
      case 'attach':
        if (message.notices) return this.spec.notices?.attach(message.remote, message.url, message.port, message.own);
        return this.attach(message.remote, message.url, message.port, message.own);
      case 'detach':
        if (message.notices) return this.spec.notices?.detach(message.remote);
        return this.detach(message.remote);
      case 'settings':
        return this.spec.settings?.(message.settings);
      case 'control':
        return this.spec.control?.(message.what);
      case 'changed':
        return this.spec.changed?.(message.refs);
      case 'stop':
        return this.stop();
    }
  }

  private attach(name: string, url: string, port: LoopPort, own?: Record<string, unknown>): void {
    this.remotes.get(name)?.port.close();
    const entry: Entry<Link> = { name, link: this.spec.link(name, url, own), port, tell: (m) => port.postMessage(m) };
    this.remotes.set(name, entry);
    port.on('message', (message) => {
      if (this.remotes.get(name) === entry) this.spec.heard?.(entry, message);
    });
    this.spec.attached?.(entry);
  }

  private detach(name: string): void {
    this.spec.detached?.(name);
    this.remotes.get(name)?.port.close();
    this.remotes.delete(name);
  }

  private async stop(): Promise<void> {
    this.stopping = true;
    this.spec.notices?.stop();
    try {
      await this.afterCarrier(() => this.stopCarrier());
    } finally {
      // A carrier that failed to stop cleanly is gone all the same: the stop is not held up.
      this.spec.stopped?.();
      for (const remote of this.remotes.values()) remote.port.close();
      this.remotes.clear();
      this.port.close();
      this.finish();
    }
  }
}
