// Process-level pieces: the thread pool every worker runs in, and the supervision of one long
// task in it (a remote's session, a shared endpoint): start it with a fresh message channel,
// restart it with backoff when it dies, stop it cleanly or, past a grace period, by force.

import { MessageChannel, type MessagePort, type Transferable } from 'node:worker_threads';
import { setFlagsFromString } from 'node:v8';
import { StartSlots } from './startslots.js';
import { Piscina } from 'piscina';
import { Backoff } from '../shared/backoff.js';
import { groupWatchChannel } from '../shared/kit/groupwatch.js';
import { SESSION_FILE } from '../workers/registry.js';

/** How long a task gets to stop cleanly before its thread is terminated. */
export const STOP_GRACE_MS = 1200;
/**
 * A task that ran this long before dying gets its restart backoff reset. This is not a remote's
 * "healthy" (workers/lifecycle.ts: caught up with the remote, whatever its age), on purpose: a
 * thread dies of a bug of ours or a breached resource limit, not of a server restart, and the same
 * input kills it again, often right after the catch-up that reads it. Resetting on "caught up"
 * would restart a worker that dies on every catch-up about once a second forever; only a long run
 * without dying shows that the cause has gone.
 */
const STABLE_RUN_MS = 60_000;

/** Per worker thread; what a worker reads from a remote must be bounded well below this (ssh/listrefs.ts). */
export const WORKER_RESOURCE_LIMITS = { maxOldGenerationSizeMb: 256, maxYoungGenerationSizeMb: 3 } as const;

/**
 * V8's "favour memory over speed" for the worker threads: with it a remote's thread costs 7.0 MB
 * PSS instead of 11.7 (measured with 1 and 10 local remotes, `node dist/bench/proof.js memory`),
 * below a bare waiting Worker without it, for JS that waits on I/O nearly all its life. V8 reads
 * most of it when an isolate is made, so it is set here, before the first worker: the main
 * thread's isolate, made at start-up, keeps its settings. Node refuses it in NODE_OPTIONS, so it
 * cannot be given on the command line of a `#!/usr/bin/env node` script either. Where a later V8
 * ignores a flag set at run time, this costs the memory back, nothing else.
 */
export const WORKER_V8_FLAGS = '--optimize-for-size';

/** One long-lived task per remote: the pool must never make a remote wait for a thread. */
export const POOL_MAX_THREADS = 4096;

/** Each pool's start slots: the pool is the process's (shared by every repository it serves). */
const startSlots = new WeakMap<Piscina, StartSlots>();

function slotsOf(pool: Piscina): StartSlots {
  let slots = startSlots.get(pool);
  if (!slots) startSlots.set(pool, (slots = new StartSlots()));
  return slots;
}

export function createPool(log: (text: string) => void): Piscina {
  setFlagsFromString(WORKER_V8_FLAGS);
  const pool = new Piscina({
    filename: SESSION_FILE.href,
    minThreads: 0,
    maxThreads: POOL_MAX_THREADS,
    idleTimeout: 1000,
    concurrentTasksPerWorker: 1,
    // Tasks await I/O for hours; atomics would spin the thread waiting for the next task.
    atomics: 'disabled',
    resourceLimits: WORKER_RESOURCE_LIMITS,
    // Workers list their children's process groups with the watcher themselves (groupwatch.ts).
    workerData: { groupWatch: groupWatchChannel() },
  });
  pool.on('error', (err: Error) => log(`worker pool: ${err.message}`));
  return pool;
}

export interface SupervisedOptions<M> {
  pool: Piscina;
  /** The task module, when not the pool's default (a remote's session). */
  filename?: URL;
  /** Builds the task for one run; `port` is its end of the channel to us. */
  task(port: MessagePort): { task: unknown; transfer?: Transferable[] };
  onMessage(message: M): void;
  /** A run is over. `restartInMs` is set when it died and will be started again. */
  onEnded(err: Error | undefined, restartInMs: number | undefined): void;
  /** A run started (again): its port is live. */
  onStarted?(port: MessagePort): void;
  log(text: string): void;
  restartBackoff?: { initialMs: number; maxMs: number };
}

export class Supervised<M> {
  private port: MessagePort | undefined;
  private abort: AbortController | undefined;
  private running: Promise<void> = Promise.resolve();
  private startedAt = 0;
  private readonly restarts: Backoff;
  private restartTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;

  constructor(private readonly options: SupervisedOptions<M>) {
    this.restarts = new Backoff(options.restartBackoff);
  }

  start(): void {
    if (this.stopping) return;
    const channel = new MessageChannel();
    const abort = new AbortController();
    const { task, transfer = [] } = this.options.task(channel.port2);
    this.port = channel.port1;
    this.abort = abort;
    this.startedAt = Date.now();
    const port = channel.port1;
    port.on('message', (message: M) => this.options.onMessage(message));
    const { pool } = this.options;
    // Messages posted meanwhile wait in the channel: the task reads them once it runs.
    this.running = slotsOf(pool)
      .take(abort.signal)
      .then((release) => {
        if (!release) throw abort.signal.reason ?? new Error('stopped before it started');
        port.once('message', release);
        return pool
          .run(task, {
            ...(this.options.filename && { filename: this.options.filename.href }),
            transferList: [channel.port2, ...transfer] as never,
            signal: abort.signal,
          })
          .finally(release);
      })
      .then(
        () => this.ended(port, undefined),
        (err: unknown) => this.ended(port, err instanceof Error ? err : new Error(String(err))),
      );
    this.options.onStarted?.(port);
  }

  /** Posts to the running task; false when there is none to hear it (between crash and restart). */
  post(message: unknown, transfer: Transferable[] = []): boolean {
    try {
      this.port?.postMessage(message, transfer as never);
      return this.port !== undefined;
    } catch {
      return false;
    }
  }

  get isStopping(): boolean {
    return this.stopping !== undefined;
  }

  /** Asks for a clean stop; terminates the thread if it has not stopped within the grace period. */
  stop(stopMessage: unknown): Promise<void> {
    this.stopping ??= (async () => {
      clearTimeout(this.restartTimer);
      this.post(stopMessage);
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), STOP_GRACE_MS)));
      const outcome = await Promise.race([this.running.then(() => 'done' as const), graceOver]);
      clearTimeout(timer);
      if (outcome === 'late') {
        this.options.log('did not stop in time; terminating its thread');
        this.abort?.abort();
        await this.running;
      }
    })();
    return this.stopping;
  }

  private ended(port: MessagePort, err: Error | undefined): void {
    port.close();
    if (this.port === port) this.port = undefined;
    if (this.stopping) return this.options.onEnded(err, undefined);
    err ??= new Error('ended unexpectedly');
    if (Date.now() - this.startedAt >= STABLE_RUN_MS) this.restarts.reset();
    const delay = this.restarts.next();
    this.options.onEnded(err, delay);
    this.restartTimer = setTimeout(() => this.start(), delay);
  }
}
