// The coordinator of one repository: owns its set of remotes, one supervised worker per remote
// (src/supervisor.ts), and the shared endpoints their transports declare (src/endpoints.ts). It
// turns control messages into instructions for the workers and passes what they report through
// the protocol gate (src/gate.ts), the only way a protocol line leaves.

import type { MessagePort } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import { loadConfig, type LoadedConfig } from './config.js';
import { Endpoints, type EndpointHost } from './endpoints.js';
import { killGroups } from '../shared/kit/group.js';
import { unwatchGroup, watchGroup } from '../shared/kit/groupwatch.js';
import { ProtocolGate, type PairingGuard } from './gate.js';
import { DAEMON, type Consumed, type Emitted } from './protocol.js';
import { createPool, Supervised } from './supervisor.js';
import type { ControlMode, FromWorker, LiveSettings, RefUpdate, RemoteSpec, RemoteState, RepoInfo, SessionTask, ToWorker } from '../shared/workerapi.js';
import { ENDPOINT_OWNERS } from '../workers/registry.js';
import type { EndpointStatus } from '../shared/plugin.js';

export type Mode = ControlMode;

export interface CoordinatorOptions {
  repo: RepoInfo;
  /** Writes one emitted message to the controller; only the gate calls it (src/control.ts, claim). */
  emit(message: Emitted): void;
  /** Detail for the daemon's log. */
  log(text: string): void;
  /** Something `status()` or `currentMode` would now report differently. */
  onStateChange?(): void;
  /** Every config read that was applied (at start and on each successful reload). */
  onConfig?(config: LoadedConfig): void;
  /** Whether fetches must report which refs they moved (after-fetch actions want them). */
  wantsUpdates?(config: LoadedConfig): boolean;
  /** A remote's worker failed and will be restarted (every time: its WARNING is said once). */
  onWorkerRestart?(remote: string): void;
  /** A remote's fetch is over; `updates` are the local refs it moved (for after-fetch actions). */
  onFetched?(remote: string, ok: boolean, updates: RefUpdate[]): void;
  env?: NodeJS.ProcessEnv;
  /** The process's thread pool, when several repositories share one; else the coordinator makes its own. */
  pool?: Piscina;
  /** The process's endpoint threads, when several repositories share them; else it has its own. */
  endpointHost?: EndpointHost;
  /**
   * The module each remote's worker runs, when not workers/session.ts: a wrapper around the real
   * session (the tests' misbehaving workers), so that the session itself holds no test hook.
   */
  sessionFile?: URL;
  /** Test-only: restart backoff. */
  restartBackoff?: { initialMs: number; maxMs: number };
}

export interface RemoteStatus extends RemoteState {
  name: string;
  transport: string;
  url: string;
}

interface Remote {
  spec: RemoteSpec;
  /** The spec as compared to tell a changed remote (live settings excluded). */
  key: string;
  live: LiveSettings;
  unit: Supervised<FromWorker>;
  /** The current worker's pairing guard (a new one per run: pairs are kept per worker). */
  pairing: PairingGuard;
  children: Set<number>;
  state: Omit<RemoteState, 'connected' | 'warnings'>;
}

export class Coordinator {
  private readonly pool: Piscina;
  private readonly ownsPool: boolean;
  readonly gate: ProtocolGate;
  private readonly endpoints: Endpoints;
  private readonly remotes = new Map<string, Remote>();
  private mode: Mode = 'running';
  private stopped = false;
  /** The remotes the config asks for, as last read. */
  private wanted = new Map<string, { spec: RemoteSpec; live: LiveSettings }>();
  /** Remotes whose old worker is still stopping before a new one starts. */
  private readonly replacing = new Set<string>();
  private ignored: { name: string; reason: string }[] = [];
  private reloading: Promise<void> = Promise.resolve();

  constructor(private readonly options: CoordinatorOptions) {
    this.ownsPool = !options.pool;
    this.pool = options.pool ?? createPool(options.log);
    this.gate = new ProtocolGate({ emit: options.emit, log: options.log, changed: () => this.options.onStateChange?.() });
    this.endpoints = new Endpoints({
      pool: this.pool,
      ...(options.endpointHost && { host: options.endpointHost }),
      repo: options.repo,
      gate: this.gate,
      log: options.log,
      restartBackoff: options.restartBackoff,
      relink: (remote, port, carrier) =>
        this.remotes.get(remote)?.unit.post((carrier ? { type: 'carrier', carrier, port } : { type: 'endpoint', port }) satisfies ToWorker, [port]),
      gone: (remote, carrier) => this.remotes.get(remote)?.unit.post({ type: 'endpoint-gone', ...(carrier && { carrier }) } satisfies ToWorker),
      onStatus: () => this.options.onStateChange?.(),
    });
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
        this.endpoints.control('pause');
        return this.setMode('paused', { type: 'pause' });
      case 'LOSTNET':
        this.endpoints.control('lostnet');
        return this.setMode('lostnet', { type: 'lostnet' });
      case 'RESUME':
        // Asked to try again: whatever still stands in the way of a remote is said again.
        for (const name of this.remotes.keys()) this.gate.forgetRemote(name);
        this.gate.forgetWhere((remote, kind) => remote === DAEMON && kind.startsWith('endpoint:'));
        this.endpoints.resay();
        this.endpoints.control('resume');
        return this.setMode('running', { type: 'resume' });
      case 'CHANGED':
        this.endpoints.changed(message.refs);
        return this.broadcast({ type: 'changed', refs: message.refs });
      case 'RELOAD':
        void this.reload();
        return;
      case 'FETCH':
        return this.fetchNow(message.remotes);
      case 'STOP':
        return; // the caller owns shutdown: it must also close the control channel
    }
  }

  /** Re-reads the config; a broken config is reported and changes nothing. Never rejects. */
  reload(): Promise<void> {
    this.reloading = this.reloading.then(async () => {
      if (this.stopped) return;
      let config: LoadedConfig;
      try {
        config = await loadConfig(this.options.repo, this.options.env);
      } catch (err) {
        if (!this.stopped) this.gate.raise(DAEMON, 'reload', `RELOAD failed, keeping the current remotes: ${(err as Error).message}`);
        return;
      }
      this.gate.clear(DAEMON, 'reload');
      if (this.stopped) return; // STOP may have come while git read the config
      try {
        this.apply(config);
        // Unchanged remotes waiting for the user (or backing off) try again: RELOAD is how the
        // user says "I fixed it".
        for (const remote of this.remotes.values()) if (!remote.unit.isStopping) remote.unit.post({ type: 'reload' } satisfies ToWorker);
        if (this.mode === 'running') this.endpoints.control('reload');
      } catch (err) {
        this.options.log(`applying the config failed: ${(err as Error).stack ?? err}`);
      }
    });
    return this.reloading;
  }

  status(): RemoteStatus[] {
    return [...this.remotes.values()].map((r) => ({
      name: r.spec.name,
      transport: r.spec.transport,
      url: r.spec.url,
      ...r.state,
      connected: r.pairing.connected,
      warnings: this.gate.held(r.spec.name),
    }));
  }

  /** The shared endpoints that report a status (the XMPP link: as whom, last notice...). */
  endpointStatus(): ({ name: string } & EndpointStatus)[] {
    return this.endpoints.status();
  }

  /**
   * The daemon-wide conditions that hold now (a config that could not be reloaded, a config
   * problem, an endpoint that cannot connect...), for status. Ignored remotes are listed apart.
   */
  daemonWarnings(): { at: number; kind: string; text: string }[] {
    return this.gate.held(DAEMON).filter((c) => !c.kind.startsWith('ignored:'));
  }

  /** Remotes the config names but the daemon does not act on, and why. */
  ignoredRemotes(): { name: string; reason: string }[] {
    return this.ignored;
  }

  /** A condition raised outside the workers (after-fetch actions): said once, shown in status. */
  warn(remote: string, text: string, kind = `action:${text}`): void {
    this.gate.raise(remote, kind, text);
    this.options.onStateChange?.();
  }

  get currentMode(): Mode {
    return this.mode;
  }

  /** Stops every worker (cleanly if it can, by force if it must) and the pool. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.reloading.catch(() => {});
    await Promise.all([...this.remotes.values()].map((r) => this.stopRemote(r)));
    await this.endpoints.stop();
    if (this.ownsPool) await this.pool.destroy();
  }

  private apply(config: LoadedConfig): void {
    this.options.onConfig?.(config);
    const reportUpdates = this.options.wantsUpdates?.(config) ?? false;
    const problems = [...config.problems, ...this.endpoints.configure(ENDPOINT_OWNERS, config.raw)];
    // Config conditions are said once and again only after they went away and came back.
    this.gate.replaceFamily(DAEMON, 'config:', new Map(problems.map((p) => [`config:${p}`, p])));
    const ignoredNow = new Map<string, Map<string, string>>();
    this.ignored = [];
    for (const { name, reason, quiet } of config.ignored) {
      this.ignored.push({ name, reason });
      if (quiet) {
        this.options.log(`${name}: ignored, ${reason}`);
        continue;
      }
      if (!ignoredNow.has(name)) ignoredNow.set(name, new Map());
      ignoredNow.get(name)!.set(`ignored:${reason}`, `ignored: ${reason}`);
    }
    for (const remote of new Set([...this.gate.remotes(), ...ignoredNow.keys()])) {
      this.gate.replaceFamily(remote, 'ignored:', ignoredNow.get(remote) ?? new Map());
    }
    const none = config.remotes.length === 0;
    this.gate.replaceFamily(DAEMON, 'no-remotes', new Map(none ? [['no-remotes', 'no remotes to act on; add one (git remote add) and the daemon picks it up by itself (with --foreground: on RELOAD)']] : []));

    this.wanted = new Map(config.remotes.map((spec) => [spec.name, { spec, live: { pollIntervalSeconds: config.pollIntervalSeconds(spec.name), reportUpdates, fetchStallSeconds: config.fetchStallSeconds } }]));
    for (const [name, remote] of this.remotes) {
      const wanted = this.wanted.get(name);
      if (wanted && JSON.stringify(wanted.spec) === remote.key) {
        // Unchanged: only live settings may differ, and they need no restart.
        if (JSON.stringify(wanted.live) !== JSON.stringify(remote.live)) {
          remote.live = wanted.live;
          remote.unit.post({ type: 'live', live: wanted.live } satisfies ToWorker);
        }
        continue;
      }
      this.remotes.delete(name);
      // A changed remote starts again only once its old worker is gone, so that the old one's
      // DISCONNECTED can never follow the new one's CONNECTED.
      this.replacing.add(name);
      void this.stopRemote(remote).then(() => {
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
    for (const [name, { spec, live }] of this.wanted) {
      if (!this.remotes.has(name) && !this.replacing.has(name)) this.startRemote(spec, live);
    }
  }

  private startRemote(spec: RemoteSpec, live: LiveSettings): void {
    const name = spec.name;
    const now = Date.now();
    const remote: Remote = {
      spec,
      key: JSON.stringify(spec),
      live,
      pairing: this.gate.pairingGuard(name),
      children: new Set(),
      state: { phase: { kind: 'connecting', attempt: 0 }, since: now },
      unit: new Supervised<FromWorker>({
        pool: this.pool,
        ...(this.options.sessionFile && { filename: this.options.sessionFile }),
        restartBackoff: this.options.restartBackoff,
        task: (port: MessagePort) => {
          const endpointPort = this.endpoints.link(spec.transport, name, spec.url);
          const noticePorts = this.endpoints.linkNotices(name, spec.url);
          const task: SessionTask = {
            kind: 'session',
            spec,
            live: remote.live,
            repo: this.options.repo,
            port,
            initialMode: this.mode,
            ...(endpointPort && { endpointPort }),
            ...(noticePorts.length > 0 && { noticePorts }),
          };
          return { task, transfer: [...(endpointPort ? [endpointPort] : []), ...noticePorts.map((n) => n.port)] };
        },
        onStarted: () => (remote.pairing = this.gate.pairingGuard(name)),
        onMessage: (message) => this.fromWorker(remote, message),
        onEnded: (err, restartInMs) => this.ended(remote, err, restartInMs),
        log: (text) => this.options.log(`${name}: worker ${text}`),
      }),
    };
    this.remotes.set(name, remote);
    remote.unit.start();
  }

  private fromWorker(remote: Remote, message: FromWorker): void {
    const name = remote.spec.name;
    const current = this.remotes.get(name) === remote && !remote.unit.isStopping;
    switch (message.type) {
      case 'emit': {
        const { pairing } = remote;
        const now = Date.now();
        if (message.line === 'CONNECTED') {
          if (pairing.connect()) {
            remote.state.since = now;
            this.gate.clear(name, 'worker'); // a restarted worker that connects has recovered
          }
        } else if (message.line === 'DISCONNECTED') {
          if (pairing.disconnect()) remote.state.since = now;
        } else if (message.line === 'SYNCING') {
          if (pairing.sync()) remote.state.fetching = { since: now };
        } else if (pairing.doneSyncing(message.ok)) {
          remote.state.lastFetch = { at: now, ok: message.ok };
          remote.state.fetching = undefined;
        }
        break;
      }
      case 'condition':
        // A worker being replaced has nothing more to say about a remote that lives on without it.
        if (!current) return;
        if (message.text === null) this.gate.clear(name, message.kind);
        else this.gate.raise(name, message.kind, message.text);
        break;
      case 'log':
        return this.options.log(`${name}: ${message.text}`);
      case 'phase':
        remote.state.phase = message.phase;
        break;
      case 'watching':
        remote.state.watching = message.how;
        break;
      case 'next-look':
        remote.state.nextLookAt = message.at;
        break;
      case 'server-wait':
        remote.state.serverWait = { until: message.until, seconds: message.seconds };
        break;
      case 'moved':
        remote.state.lastChange = { at: Date.now(), summary: message.summary };
        break;
      case 'fetch-progress':
        if (!remote.state.fetching) return;
        remote.state.fetching = { since: remote.state.fetching.since, stage: message.stage, percent: message.percent, bytes: message.bytes };
        break;
      case 'child':
        if (message.alive) {
          remote.children.add(message.pid);
          watchGroup(message.pid);
        } else {
          remote.children.delete(message.pid);
          unwatchGroup(message.pid);
        }
        return;
      case 'fetched':
        if (current) this.options.onFetched?.(name, message.ok, message.updates);
        return;
    }
    this.options.onStateChange?.();
  }

  /** A worker's run is over: a clean stop, or a crash that costs only this remote. */
  private ended(remote: Remote, err: Error | undefined, restartInMs: number | undefined): void {
    // After a clean stop the worker has already asked its children to end: let git clean up its
    // lock files. A crashed worker could not: nothing of it may be left behind.
    killGroups(remote.children, err ? 'SIGKILL' : 'SIGTERM');
    forgetChildren(remote);
    const { closedSync } = remote.pairing.end();
    if (closedSync) remote.state.lastFetch = { at: Date.now(), ok: false };
    remote.state.fetching = undefined;
    remote.state.since = Date.now();
    if (restartInMs !== undefined) {
      remote.state.phase = { kind: 'backoff', until: Date.now() + restartInMs, reason: `worker failed (${err?.message})` };
      this.options.onWorkerRestart?.(remote.spec.name);
      this.gate.raise(remote.spec.name, 'worker', `worker failed (${err?.message}); restarting in ${(restartInMs / 1000).toFixed(1)} s`);
    }
    this.options.onStateChange?.();
  }

  private async stopRemote(remote: Remote): Promise<void> {
    remote.pairing.stopping();
    await remote.unit.stop({ type: 'stop' } satisfies ToWorker);
    killGroups(remote.children, 'SIGKILL');
    forgetChildren(remote);
    this.endpoints.unlink(remote.spec.transport, remote.spec.name);
    // Gone or replaced: what its worker said no longer holds (why it is ignored, if it is, does).
    const name = remote.spec.name;
    if (this.remotes.get(name) !== remote) this.gate.forgetWhere((r, kind) => r === name && !kind.startsWith('ignored:'));
  }

  /** The machine has a new way out (src/netwatch.ts): remotes backing off try at once. */
  networkChanged(why: string): void {
    if (this.stopped) return;
    this.options.log(`${why}; remotes waiting to retry try now`);
    if (this.mode === 'running') this.broadcast({ type: 'network-changed' });
  }

  /** FETCH: the named remotes (all when none is named) fetch now, through their connections. */
  private fetchNow(names: string[]): void {
    const targets = names.length === 0 ? [...this.remotes.keys()] : names;
    for (const name of targets) {
      const remote = this.remotes.get(name);
      if (!remote || remote.unit.isStopping) {
        const ignored = this.ignored.find((i) => i.name === name);
        this.gate.warn(name, `cannot fetch: ${ignored ? `ignored: ${ignored.reason}` : 'the daemon does not act on this remote'}`);
        continue;
      }
      remote.unit.post({ type: 'fetch' } satisfies ToWorker);
    }
  }

  private setMode(mode: Mode, message: ToWorker): void {
    this.mode = mode;
    this.options.onStateChange?.();
    this.broadcast(message);
  }

  private broadcast(message: ToWorker): void {
    for (const remote of this.remotes.values()) if (!remote.unit.isStopping) remote.unit.post(message);
  }
}

/** Signalled already: no longer ours to end if we die (their ids may be reused). */
function forgetChildren(remote: Remote): void {
  for (const pid of remote.children) unwatchGroup(pid);
  remote.children.clear();
}
