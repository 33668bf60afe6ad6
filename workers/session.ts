// One remote's life inside its worker thread: connect through the transport, report CONNECTED,
// catch up, fetch whatever changes, and reconnect with backoff when the connection is lost, until
// the coordinator says stop. This is the piscina task; it resolves only on a clean stop.

import type { MessagePort } from 'node:worker_threads';
import { Backoff } from '../src/backoff.js';
import type { Emitted } from '../src/protocol.js';
import type { CrashTest, FromWorker, SessionTask, ToWorker } from '../src/workerapi.js';
import { killAll, onChildren } from './children.js';
import { Fetcher } from './fetcher.js';
import { ObjectChecker } from './objects.js';
import { TrackingRefs } from './tracking.js';
import { NeedsUser, type Connection, type RemoteChange, type Transport } from './transport.js';
import { createTransport } from './transports.js';

// A worker's stdout and stderr are relayed into the daemon's own, and its stdout carries the
// control protocol: a stray print from a library in here could tear a protocol line. Whatever is
// printed in a worker goes to the log instead.
let printSink: (text: string) => void = () => {};
for (const stream of [process.stdout, process.stderr]) {
  stream.write = ((chunk: unknown, encoding?: unknown, callback?: unknown) => {
    printSink(String(chunk));
    const done = typeof encoding === 'function' ? encoding : callback;
    if (typeof done === 'function') queueMicrotask(() => (done as () => void)());
    return true;
  }) as typeof stream.write;
}

/** A connection that lasted this long resets the backoff: the remote is healthy again. */
const HEALTHY_AFTER_MS = 60_000;

type Mode = 'running' | 'paused' | 'lostnet' | 'stopping';

export default async function session(task: SessionTask): Promise<string> {
  const s = new Session(task);
  if (task.crash) misbehave(task.crash);
  await s.run();
  return 'stopped';
}

class Session {
  private readonly port: MessagePort;
  private readonly name: string;
  private mode: Mode;
  private needsUser = false;
  /** Called at the next PAUSE/LOSTNET/RESUME/STOP; each waiter removes itself when done. */
  private readonly modeListeners = new Set<() => void>();
  private readonly backoff = new Backoff();
  private readonly transport: Promise<Transport>;
  private readonly objects: ObjectChecker;
  private readonly tracking: TrackingRefs;
  private readonly fetcher: Fetcher;
  private connection: Connection | undefined;
  private lastWarning: string | undefined;
  /** A failed fetch is tried again while connected, backing off on its own scale. */
  private readonly fetchRetries = new Backoff({ initialMs: 1000, maxMs: 5 * 60_000 });
  private fetchRetryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly task: SessionTask) {
    this.port = task.port as MessagePort;
    this.name = task.spec.name;
    this.mode = task.initialState;
    const { spec, repo } = task;
    this.transport = createTransport(spec, repo);
    this.transport.catch(() => {}); // a transport that cannot load fails each connect, reported there
    this.objects = new ObjectChecker(repo.cwd);
    this.tracking = new TrackingRefs(spec.fetchRefspecs, repo.cwd, this.objects, spec.followTags, spec.prune);
    this.fetcher = new Fetcher({
      remote: spec.name,
      cwd: repo.cwd,
      // Not connected (a queued fetch after PAUSE, LOSTNET or a lost link): no fetch at all, rather
      // than one that goes around the held connection; the catch-up on reconnecting covers it.
      env: async () => (this.connection ? this.connection.fetchEnv() : undefined),
      writeFetchHead: this.tracking.writesFetchHeadOnly(),
      snapshot: spec.reportUpdates ? () => this.tracking.read() : undefined,
      onStart: () => this.emit({ type: 'SYNCING', remote: this.name }),
      onDone: ({ ok, stderr, updates }) => {
        if (stderr.trim()) this.log(`git fetch: ${stderr.trim()}`);
        if (!ok) this.warn(`git fetch failed: ${gitError(stderr)}`);
        this.post({ type: 'fetched', ok, updates });
        this.emit({ type: 'DONESYNCING', remote: this.name, ok });
        this.retryFetchIfFailed(ok);
      },
    });
    onChildren((pid, alive) => this.post({ type: 'child', pid, alive }));
    printSink = (text) => this.log(`printed: ${text.trimEnd()}`);
    this.port.on('message', (message: ToWorker) => this.command(message));
  }

  private post(message: FromWorker): void {
    this.port.postMessage(message);
  }

  private emit(message: Emitted): void {
    this.post({ type: 'emit', message });
  }

  private log(text: string): void {
    this.post({ type: 'log', text });
  }

  /** A WARNING, said once per change of state rather than once per attempt. */
  private warn(text: string): void {
    if (text === this.lastWarning) {
      this.log(text);
      return;
    }
    this.lastWarning = text;
    this.emit({ type: 'WARNING', remote: this.name, text });
  }

  private setMode(mode: Mode): void {
    if (this.mode === 'stopping') return;
    this.mode = mode;
    for (const listener of [...this.modeListeners]) listener();
  }

  /**
   * Runs `fn` once at the next PAUSE/LOSTNET/RESUME/STOP (with `leavingOnly`, only at one that
   * ends running: a RESUME must not drop a healthy connection); the returned function cancels it.
   */
  private onModeChange(fn: () => void, leavingOnly = false): () => void {
    const listener = () => {
      if (leavingOnly && this.mode === 'running') return;
      this.modeListeners.delete(listener);
      fn();
    };
    this.modeListeners.add(listener);
    return () => this.modeListeners.delete(listener);
  }

  /** Resolves at the next mode change or after `ms`, whichever is first, leaving nothing behind. */
  private waitForModeChange(ms?: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const cancel = this.onModeChange(() => {
        clearTimeout(timer);
        resolve();
      });
      if (ms !== undefined) {
        timer = setTimeout(() => {
          cancel();
          resolve();
        }, ms);
      }
    });
  }

  private command(message: ToWorker): void {
    switch (message.type) {
      case 'pause':
        return this.setMode('paused');
      case 'lostnet':
        return this.setMode('lostnet');
      case 'resume':
        this.needsUser = false;
        this.backoff.reset();
        this.lastWarning = undefined; // asked to try again: say again what stands in the way
        return this.setMode('running');
      case 'changed':
        // Offering local refs to the remote is not done yet; noted so the log shows it arrived.
        return this.log(`local refs changed: ${message.refs.join(' ')}`);
      case 'stop':
        return this.setMode('stopping');
    }
  }

  async run(): Promise<void> {
    while (this.mode !== 'stopping') {
      if (this.mode !== 'running' || this.needsUser) {
        await this.waitForModeChange();
        continue;
      }
      const connection = await this.connect();
      if (connection) await this.serve(connection);
    }
    clearTimeout(this.fetchRetryTimer);
    this.fetcher.stop();
    killAll();
    await this.fetcher.idle(); // its DONESYNCING must go out before the port closes
    this.objects.close();
    this.port.close();
  }

  /** One attempt; on failure waits out the backoff (or until told otherwise). */
  private async connect(): Promise<Connection | undefined> {
    const abort = new AbortController();
    const stopAborting = this.onModeChange(() => abort.abort(), true);
    let connection: Connection | undefined;
    try {
      connection = await (await this.transport).connect(
        {
          changed: (change) => this.changed(connection, change),
          warn: (text) => this.warn(text),
          log: (text) => this.log(text),
        },
        abort.signal,
      );
      if (this.mode !== 'running') {
        await connection.close(); // told to pause or stop while connecting
        return undefined;
      }
      return connection;
    } catch (err) {
      if (this.mode !== 'running' || abort.signal.aborted) return undefined; // told to stop trying
      const message = err instanceof Error ? err.message : String(err);
      if (err instanceof NeedsUser) {
        this.needsUser = true;
        this.warn(`${message}; not retrying until RESUME or RELOAD`);
        return undefined;
      }
      this.warn(`cannot connect: ${message}`);
      await this.waitBeforeRetry();
      return undefined;
    } finally {
      stopAborting();
    }
  }

  /** Connected: report it, catch up, and hold on until the connection ends or we are told to. */
  private async serve(connection: Connection): Promise<void> {
    this.connection = connection;
    this.lastWarning = undefined;
    const since = Date.now();
    this.emit({ type: 'CONNECTED', remote: this.name });
    void this.catchUp(connection);
    let stopListening = () => {};
    const ended = await Promise.race([
      connection.done.then(() => undefined, (err: unknown) => (err instanceof Error ? err : new Error(String(err)))),
      new Promise<'told'>((resolve) => (stopListening = this.onModeChange(() => resolve('told'), true))),
    ]);
    stopListening();
    this.connection = undefined;
    clearTimeout(this.fetchRetryTimer);
    await connection.close();
    if (ended instanceof NeedsUser) {
      this.needsUser = true;
      this.warn(`${ended.message}; not retrying until RESUME or RELOAD`);
    } else if (ended instanceof Error) {
      this.warn(`disconnected: ${ended.message}`);
    }
    this.emit({ type: 'DISCONNECTED', remote: this.name });
    if (Date.now() - since >= HEALTHY_AFTER_MS) this.backoff.reset();
    if (ended !== 'told' && this.mode === 'running' && !this.needsUser) await this.waitBeforeRetry();
  }

  /** Waits out the next backoff step, or less if PAUSE/RESUME/STOP comes first. */
  private async waitBeforeRetry(): Promise<void> {
    const delay = this.backoff.next();
    this.post({ type: 'retry', at: Date.now() + delay });
    await this.waitForModeChange(delay);
    this.post({ type: 'retry', at: null });
  }

  /** After every (re)connect: one fetch if the remote moved while nobody watched. */
  private async catchUp(connection: Connection): Promise<void> {
    let needed: boolean;
    try {
      needed = await this.tracking.differs(await connection.listRefs());
    } catch (err) {
      if (this.connection !== connection) return;
      // Not knowing is no reason to miss what changed meanwhile: fetch and let git find out.
      this.log(`cannot compare with the remote's refs (${(err as Error).message}); fetching to be sure`);
      needed = true;
    }
    if (needed && this.connection === connection) await this.fetcher.request();
  }

  /** A change the transport saw: fetch if it brings anything new here. */
  private changed(connection: Connection | undefined, change: RemoteChange): void {
    void (async () => {
      // Before CONNECTED (a notifier's first lines) or after the connection: the catch-up that
      // follows every CONNECTED covers it.
      if (connection === undefined || this.connection !== connection) return;
      // A fetch already waiting to start will see this change too.
      if (this.fetcher.queued) return;
      try {
        if (await this.needsFetch(connection, change)) {
          if (this.connection === connection) await this.fetcher.request();
        }
      } catch (err) {
        if (this.connection === connection) this.warn(`cannot compare with local refs: ${(err as Error).message}`);
      }
    })();
  }

  private async needsFetch(connection: Connection, change: RemoteChange): Promise<boolean> {
    if (change.kind === 'refs') return this.tracking.needsFetch(change.refs);
    // Only new object ids, no ref names. One we lack means new commits: fetch at once. If we have
    // them all, a ref may still have moved onto one of them (a new branch at an old commit, a
    // fast-forward onto another branch's tip): ask the remote which refs are where.
    if (await this.tracking.anyMissing(change.shas)) return true;
    return this.tracking.needsFetch(await connection.listRefs());
  }

  /** After a failed fetch, while still connected: again, later, until one succeeds. */
  private retryFetchIfFailed(ok: boolean): void {
    clearTimeout(this.fetchRetryTimer);
    if (ok) {
      this.fetchRetries.reset();
      return;
    }
    const connection = this.connection;
    if (!connection || this.mode !== 'running') return;
    const delay = this.fetchRetries.next();
    this.log(`trying the fetch again in ${(delay / 1000).toFixed(1)} s`);
    this.fetchRetryTimer = setTimeout(() => {
      if (this.connection === connection) void this.fetcher.request();
    }, delay);
  }
}

/** The line of git's stderr that says what went wrong (git's advice follows it, if any). */
function gitError(stderr: string): string {
  const lines = stderr.trim().split('\n');
  return lines.find((l) => /^(fatal|error): /.test(l)) ?? lines.at(-1) ?? '';
}

/** Test-only: reachable solely through the coordinator's constructor options, never config. */
function misbehave({ afterMs, how }: CrashTest): void {
  setTimeout(() => {
    if (how === 'throw') throw new Error('worker crash requested by test');
    if (how === 'reject') void Promise.reject(new Error('unhandled rejection requested by test'));
    if (how === 'print') {
      process.stdout.write('half a line without newline ');
      console.log('CONNECTED fake');
      console.error('to stderr');
      return;
    }
    const hoard: number[][] = [];
    for (;;) hoard.push(new Array(1 << 20).fill(hoard.length));
  }, afterMs).unref();
}
