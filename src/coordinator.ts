// The coordinator: owns the set of remotes and one piscina worker per remote. It turns control
// messages into instructions for the workers, relays what the workers report, and restarts a
// worker that dies (with backoff) while the others carry on.

import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { Backoff } from './backoff.js';
import { loadConfig, type LoadedConfig } from './config.js';
import { DAEMON, type Consumed, type Emitted } from './protocol.js';
import type { CrashTest, FromWorker, RefUpdate, RemoteSpec, RemoteState, RepoInfo, SessionTask, ToWorker } from './workerapi.js';

export type Mode = 'running' | 'paused' | 'lostnet';

/** How long a worker gets to stop cleanly before its thread is terminated. */
const STOP_GRACE_MS = 1200;
/** A worker that ran this long before dying gets its restart backoff reset. */
const HEALTHY_AFTER_MS = 60_000;
/** Per worker thread; what a worker reads from a remote must be bounded well below this (refs.ts). */
export const WORKER_RESOURCE_LIMITS = { maxOldGenerationSizeMb: 256, maxYoungGenerationSizeMb: 32 } as const;

export interface CoordinatorOptions {
  repo: RepoInfo;
  /** Writes one emitted message to the controller. */
  emit(message: Emitted): void;
  /** Detail for the daemon's log. */
  log(text: string): void;
  /** Something `status()` or `currentMode` would now report differently. */
  onStateChange?(): void;
  /** Every config read that was applied (at start and on each successful reload). */
  onConfig?(config: LoadedConfig): void;
  /** A remote's fetch is over; `updates` are the local refs it moved (for after-fetch actions). */
  onFetched?(remote: string, ok: boolean, updates: RefUpdate[]): void;
  env?: NodeJS.ProcessEnv;
  /** Test-only: make the named remotes' first workers misbehave (restarted ones behave). */
  crash?: Record<string, CrashTest>;
  /** Test-only: restart backoff. */
  restartBackoff?: { initialMs: number; maxMs: number };
}

export interface RemoteStatus extends RemoteState {
  name: string;
  transport: string;
  url: string;
}

interface Handle {
  spec: RemoteSpec;
  key: string;
  port: MessagePort;
  abort: AbortController;
  task: Promise<void>;
  startedAt: number;
  children: Set<number>;
  state: RemoteState;
  stopping: boolean;
  /** Between SYNCING and DONESYNCING: a worker that ends then owes the controller a DONESYNCING 0. */
  syncing: boolean;
  restarts: Backoff;
  restartTimer?: NodeJS.Timeout;
}

const workerFile = new URL('../workers/session.js', import.meta.url);

export class Coordinator {
  private readonly pool: Piscina<SessionTask, string>;
  private readonly remotes = new Map<string, Handle>();
  private mode: Mode = 'running';
  private stopped = false;
  /** Ignored remotes already warned about, so a RELOAD does not repeat the same warning. */
  private warnedIgnored = new Set<string>();
  private warnedProblems = new Set<string>();
  /** The remotes the config asks for, as last read. */
  private wanted = new Map<string, RemoteSpec>();
  /** Remotes whose old worker is still stopping before a new one starts. */
  private readonly replacing = new Set<string>();
  /** Said once while there is nothing to do, again only after remotes came and went. */
  private warnedNoRemotes = false;
  private reloading: Promise<void> = Promise.resolve();

  constructor(private readonly options: CoordinatorOptions) {
    this.pool = new Piscina<SessionTask, string>({
      filename: workerFile.href,
      minThreads: 0,
      // One long-lived task per remote: the pool must never make a remote wait for a thread.
      maxThreads: 4096,
      idleTimeout: 1000,
      concurrentTasksPerWorker: 1,
      // Tasks await I/O for hours; atomics would spin the thread waiting for the next task.
      atomics: 'disabled',
      resourceLimits: WORKER_RESOURCE_LIMITS,
    });
    this.pool.on('error', (err: Error) => this.options.log(`worker pool: ${err.message}`));
  }

  /** Reads the config and starts a worker for each remote. Throws when the config is unreadable. */
  async start(): Promise<void> {
    const config = await loadConfig(this.options.repo, this.options.env);
    this.apply(config);
  }

  handle(message: Consumed): void {
    if (this.stopped) return;
    switch (message.type) {
      case 'PAUSE':
        return this.setMode('paused', { type: 'pause' });
      case 'LOSTNET':
        return this.setMode('lostnet', { type: 'lostnet' });
      case 'RESUME':
        return this.setMode('running', { type: 'resume' });
      case 'CHANGED':
        return this.broadcast({ type: 'changed', refs: message.refs });
      case 'RELOAD':
        void this.reload();
        return;
      case 'STOP':
        return; // the caller owns shutdown: it must also close the control channel
    }
  }

  /** Re-reads the config; a broken config is reported and changes nothing. */
  reload(): Promise<void> {
    this.reloading = this.reloading.then(async () => {
      if (this.stopped) return;
      let config: LoadedConfig;
      try {
        config = await loadConfig(this.options.repo, this.options.env);
      } catch (err) {
        if (!this.stopped) this.options.emit({ type: 'WARNING', remote: DAEMON, text: `RELOAD failed, keeping the current remotes: ${(err as Error).message}` });
        return;
      }
      if (!this.stopped) this.apply(config); // STOP may have come while git read the config
    });
    return this.reloading;
  }

  status(): RemoteStatus[] {
    return [...this.remotes.values()].map((h) => ({ name: h.spec.name, transport: h.spec.transport, url: h.spec.url, ...h.state }));
  }

  /** A WARNING raised outside the workers (after-fetch actions): shown in status, then emitted. */
  warn(remote: string, text: string): void {
    const handle = this.remotes.get(remote);
    if (handle) {
      handle.state.lastWarning = { at: Date.now(), text };
      this.options.onStateChange?.();
    }
    this.options.emit({ type: 'WARNING', remote, text });
  }

  get currentMode(): Mode {
    return this.mode;
  }

  /** Stops every worker (cleanly if it can, by force if it must) and the pool. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.reloading.catch(() => {});
    await Promise.all([...this.remotes.values()].map((h) => this.stopWorker(h)));
    await this.pool.destroy();
  }

  private apply(config: LoadedConfig): void {
    this.options.onConfig?.(config);
    // Config problems, like ignored remotes, are said once, not again at every reload.
    for (const problem of config.problems) {
      if (!this.warnedProblems.has(problem)) this.options.emit({ type: 'WARNING', remote: DAEMON, text: problem });
    }
    this.warnedProblems = new Set(config.problems);
    const ignoredNow = new Set<string>();
    for (const { name, reason, quiet } of config.ignored) {
      const key = `${name}\0${reason}`;
      ignoredNow.add(key);
      if (quiet) this.options.log(`${name}: ignored, ${reason}`);
      else if (!this.warnedIgnored.has(key)) this.options.emit({ type: 'WARNING', remote: name, text: `ignored: ${reason}` });
    }
    this.warnedIgnored = ignoredNow;
    if (config.remotes.length === 0 && !this.warnedNoRemotes) {
      this.options.emit({ type: 'WARNING', remote: DAEMON, text: 'no remotes to act on; add one (git remote add) and the daemon picks it up on RELOAD' });
    }
    this.warnedNoRemotes = config.remotes.length === 0;

    const wanted = new Map(config.remotes.map((spec) => [spec.name, spec]));
    this.wanted = wanted;
    for (const [name, handle] of this.remotes) {
      const spec = wanted.get(name);
      if (spec && JSON.stringify(spec) === handle.key) continue;
      this.remotes.delete(name);
      // A changed remote starts again only once its old worker is gone, so that the old one's
      // DISCONNECTED can never follow the new one's CONNECTED.
      this.replacing.add(name);
      void this.stopWorker(handle).then(() => {
        this.replacing.delete(name);
        this.startWanted();
      });
    }
    this.startWanted();
    this.options.onStateChange?.();
  }

  /** Starts a worker for every wanted remote that has none (and is not waiting for its old one to stop). */
  private startWanted(): void {
    if (this.stopped) return;
    for (const [name, spec] of this.wanted) {
      if (!this.remotes.has(name) && !this.replacing.has(name)) this.startWorker(spec, new Backoff(this.options.restartBackoff));
    }
  }

  private startWorker(spec: RemoteSpec, restarts: Backoff): void {
    const channel = new MessageChannel();
    const abort = new AbortController();
    const task: SessionTask = {
      spec,
      repo: this.options.repo,
      port: channel.port2,
      initialState: this.mode,
      crash: this.options.crash?.[spec.name],
    };
    if (this.options.crash) delete this.options.crash[spec.name];
    const handle: Handle = {
      spec,
      key: JSON.stringify(spec),
      port: channel.port1,
      abort,
      task: Promise.resolve(),
      startedAt: Date.now(),
      children: new Set(),
      state: { connected: false, since: Date.now() },
      stopping: false,
      syncing: false,
      restarts,
    };
    channel.port1.on('message', (message: FromWorker) => this.fromWorker(handle, message));
    handle.task = this.pool
      .run(task, { transferList: [channel.port2] as never, signal: abort.signal })
      .then(
        () => this.ended(handle, undefined),
        (err: unknown) => this.ended(handle, err instanceof Error ? err : new Error(String(err))),
      );
    this.remotes.set(spec.name, handle);
  }

  private fromWorker(handle: Handle, message: FromWorker): void {
    const name = handle.spec.name;
    switch (message.type) {
      case 'emit': {
        const m = message.message;
        if (m.remote !== name) return; // a worker speaks only for its own remote
        const now = Date.now();
        if (m.type === 'CONNECTED' || m.type === 'DISCONNECTED') {
          handle.state.connected = m.type === 'CONNECTED';
          handle.state.since = now;
          handle.state.nextRetry = undefined;
        } else if (m.type === 'SYNCING') handle.syncing = true;
        else if (m.type === 'DONESYNCING') {
          handle.syncing = false;
          handle.state.lastFetch = { at: now, ok: m.ok };
        } else if (m.type === 'WARNING') handle.state.lastWarning = { at: now, text: m.text };
        this.options.onStateChange?.();
        // A worker being stopped still closes what it opened; anything else it says is moot.
        if (handle.stopping && m.type !== 'DISCONNECTED' && m.type !== 'DONESYNCING') return;
        this.options.emit(m);
        return;
      }
      case 'log':
        return this.options.log(`${name}: ${message.text}`);
      case 'retry':
        handle.state.nextRetry = message.at ?? undefined;
        this.options.onStateChange?.();
        return;
      case 'child':
        if (message.alive) handle.children.add(message.pid);
        else handle.children.delete(message.pid);
        return;
      case 'fetched':
        if (!handle.stopping && this.remotes.get(name) === handle) this.options.onFetched?.(name, message.ok, message.updates);
        return;
    }
  }

  /** The worker's task is over: a clean stop, or a crash that costs only this remote. */
  private ended(handle: Handle, err: Error | undefined): void {
    handle.port.close();
    // After a clean stop the worker has already asked its children to end: let git clean up its
    // lock files. A crashed worker could not: nothing of it may be left behind.
    killGroups(handle.children, err ? 'SIGKILL' : 'SIGTERM');
    const name = handle.spec.name;
    if (handle.syncing) {
      handle.syncing = false;
      handle.state.lastFetch = { at: Date.now(), ok: false };
      this.options.emit({ type: 'DONESYNCING', remote: name, ok: false });
    }
    if (handle.state.connected) {
      handle.state.connected = false;
      handle.state.since = Date.now();
      this.options.emit({ type: 'DISCONNECTED', remote: name });
    }
    if (handle.stopping || this.stopped || this.remotes.get(name) !== handle) return;
    if (!err) err = new Error('worker ended unexpectedly');
    if (Date.now() - handle.startedAt >= HEALTHY_AFTER_MS) handle.restarts.reset();
    const delay = handle.restarts.next();
    const text = `worker failed (${err.message}); restarting in ${(delay / 1000).toFixed(1)} s`;
    handle.state.lastWarning = { at: Date.now(), text };
    handle.state.nextRetry = Date.now() + delay;
    this.options.emit({ type: 'WARNING', remote: name, text });
    this.options.onStateChange?.();
    handle.restartTimer = setTimeout(() => {
      if (this.stopped || this.remotes.get(name) !== handle) return;
      this.remotes.delete(name);
      this.startWorker(handle.spec, handle.restarts);
    }, delay);
  }

  private async stopWorker(handle: Handle): Promise<void> {
    handle.stopping = true;
    clearTimeout(handle.restartTimer);
    try {
      handle.port.postMessage({ type: 'stop' } satisfies ToWorker);
    } catch {
      // port already closed: the worker is gone
    }
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), STOP_GRACE_MS)));
    const outcome = await Promise.race([handle.task.then(() => 'done' as const), graceOver]);
    clearTimeout(timer);
    if (outcome === 'late') {
      this.options.log(`${handle.spec.name}: worker did not stop in time; terminating it`);
      handle.abort.abort();
      await handle.task;
      killGroups(handle.children, 'SIGKILL');
    }
  }

  private setMode(mode: Mode, message: ToWorker): void {
    this.mode = mode;
    this.options.onStateChange?.();
    this.broadcast(message);
  }

  private broadcast(message: ToWorker): void {
    for (const handle of this.remotes.values()) {
      if (handle.stopping) continue;
      try {
        handle.port.postMessage(message);
      } catch {
        // a worker between crash and restart; it starts in the current mode
      }
    }
  }
}

function killGroups(pids: Set<number>, signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(-pid, signal);
    } catch {
      // already gone
    }
  }
  pids.clear();
}
