// An in-memory transport for fast tests of the session and lifecycle: the test decides when a
// connect succeeds, fails, needs the user or hangs, and when a change is seen. Fetches still run
// real git against a real local repository (a few ms), so what is proved is real.

import { execFileSync } from 'node:child_process';
import type { TransportContext, TransportPlugin } from '../../shared/plugin.js';
import { NeedsUser, type Connection, type FetchPlan, type RefMap, type RemoteChange, type Transport, type TransportEvents } from '../../shared/transport.js';

export type Outcome = 'ok' | 'hang' | 'fail' | 'needs-user';

export class FakeConnection implements Connection {
  readonly done: Promise<void>;
  private settle!: { resolve(): void; reject(err: Error): void };
  closed = false;
  /** Ref listings made, the most ever in flight at once, and how long each takes. */
  listings = 0;
  maxListingsInFlight = 0;
  listDelayMs = 0;
  private inFlight = 0;

  constructor(
    private readonly gitDir: string,
    readonly events: TransportEvents,
    /** Told after each listing, so a test can wait for one. */
    private readonly listed: () => void = () => {},
  ) {
    this.done = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    this.done.catch(() => {});
  }

  async listRefs(): Promise<RefMap> {
    this.listings++;
    this.maxListingsInFlight = Math.max(this.maxListingsInFlight, ++this.inFlight);
    try {
      if (this.listDelayMs) await new Promise((resolve) => setTimeout(resolve, this.listDelayMs));
      return this.list();
    } finally {
      this.inFlight--;
      this.listed();
    }
  }

  private list(): RefMap {
    const out = execFileSync('git', ['--git-dir', this.gitDir, 'for-each-ref', '--format=%(objectname) %(refname)'], { encoding: 'utf8' });
    return new Map(out.split('\n').filter(Boolean).map((l) => [l.slice(l.indexOf(' ') + 1), l.slice(0, l.indexOf(' '))] as [string, string]));
  }

  async fetchPlan(): Promise<FetchPlan> {
    return {};
  }

  async close(): Promise<void> {
    this.closed = true;
    this.settle.resolve();
  }

  /** The remote side went away. */
  lose(reason: Error): void {
    this.settle.reject(reason);
  }

  change(change: RemoteChange): void {
    this.events.changed(change);
  }
}

export class FakeRemote {
  /** Outcomes of the next connects, in order; 'ok' once it runs out. */
  readonly outcomes: Outcome[] = [];
  readonly connections: FakeConnection[] = [];
  readonly signals: AbortSignal[] = [];
  private readonly waiters = new Set<() => void>();
  /** What the session gave the transport (its `reachable` hook, say), once it was created. */
  context: TransportContext | undefined;

  constructor(private readonly gitDir: string) {}

  readonly plugin: TransportPlugin = {
    name: 'fake',
    network: true,
    claims: () => false,
    load: async () => ({
      create: (context: TransportContext): Transport => {
        this.context = context;
        return { connect: (events, signal) => this.connect(events, signal) };
      },
    }),
  };

  get attempts(): number {
    return this.signals.length;
  }

  /** Resolves once `predicate` holds, re-checked after every connect attempt, connection or listing. */
  async until(predicate: () => boolean): Promise<void> {
    while (!predicate()) await new Promise<void>((resolve) => this.waiters.add(resolve));
  }

  private wake(): void {
    for (const w of [...this.waiters]) {
      this.waiters.delete(w);
      w();
    }
  }

  private async connect(events: TransportEvents, signal: AbortSignal): Promise<Connection> {
    this.signals.push(signal);
    this.wake();
    signal.throwIfAborted();
    const outcome = this.outcomes.shift() ?? 'ok';
    if (outcome === 'fail') throw new Error('connection refused (fake)');
    if (outcome === 'needs-user') throw new NeedsUser('unknown host key (fake)');
    if (outcome === 'hang') {
      await new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }));
    }
    const connection = new FakeConnection(this.gitDir, events, () => this.wake());
    this.connections.push(connection);
    this.wake();
    return connection;
  }
}
