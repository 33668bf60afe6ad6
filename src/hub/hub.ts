// The shared daemon: one process serving every registered repository (registered.ts). Each
// repository is a RepoHost (background/repohost.ts), with its own lock, pid file, control pipe,
// state file and log in its own `.git/remote-daemon/`, exactly as its own daemon would keep them,
// so the per-repository commands work unchanged. What there is one of per process is shared: the
// thread pool (each remote still in its own worker thread), the network watcher, the watcher of
// children's process groups (refcounted in shared/kit/groupwatch.ts), signals, the exit.
//
// Repositories are as isolated as remotes: one that cannot start (not a git repository, a config
// git refuses, held by a daemon of its own) is logged once here and set aside until its config or
// lock changes, or the registered set does; one that goes away (directory deleted) is dropped with
// one line; the rest keep running. `stop` inside a repository (STOP on its pipe) stops serving that
// one alone until the shared daemon restarts, is reloaded (SIGHUP), or `register` asks again.
//
// The set is read again when the global config changes (its files' directories are watched) and
// when `register`/`unregister` send SIGUSR1.

import { existsSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import type { Piscina } from 'piscina';
import { globalConfigFiles } from '../configwatch.js';
import { FilesWatch } from '../fileswatch.js';
import { watchNetwork, type NetWatch } from '../netwatch.js';
import { createPool } from '../supervisor.js';
import { EndpointHost } from '../endpoints.js';
import { pathsIn, ensureDir } from '../background/paths.js';
import { locateRepo } from '../background/gitdirwalk.js';
import { LogFile } from '../background/log.js';
import { fileSink, hostRepository, type RepoHost } from '../background/repohost.js';
import { globalSettingsBesidesSet, readRegistered } from './registered.js';
import { pruneSetAside, reconcile, setChanged } from './reconcile.js';

const SETTLE_MS = 200;

export interface HubOptions {
  /** The shared daemon's own lines (served, dropped, set aside...). */
  log(text: string): void;
}

type Aside = { why: 'stopped' | 'failed' | 'held'; watchers: FSWatcher[] };

export class Hub {
  private readonly hosts = new Map<string, RepoHost>();
  /** Being started: not served yet, not to be started twice. */
  private readonly starting = new Map<string, Promise<void>>();
  private readonly aside = new Map<string, Aside>();
  private readonly pool: Piscina;
  /** Endpoint threads (webhook listener, XMPP login...) shared by the repositories asking for the same one. */
  private readonly endpoints: EndpointHost;
  private readonly network: NetWatch;
  private readonly listeners = new Set<(why: string) => void>();
  private readonly globalConfig = new FilesWatch({ onChange: () => void this.globalConfigChanged(), debounceMs: SETTLE_MS });
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  private lastSet: string[] = [];
  /** The global config's settings besides the set, as last read (globalSettingsBesidesSet). */
  private globalSettings: Promise<string> = Promise.resolve('');

  constructor(private readonly options: HubOptions) {
    this.pool = createPool(options.log);
    this.endpoints = new EndpointHost({ pool: this.pool, qualify: true });
    this.network = watchNetwork({ changed: (why) => this.listeners.forEach((l) => l(why)), log: options.log });
  }

  /** Reads the set and serves it; resolves once every repository in it was tried. */
  async start(): Promise<void> {
    this.globalSettings = globalSettingsBesidesSet();
    this.watchGlobalConfig();
    await this.sync();
  }

  /** Served repositories, by path. */
  served(): string[] {
    return [...this.hosts.keys()];
  }

  /** Re-reads the set (coalesced: one run at a time, one more after it if asked meanwhile). */
  sync(forget = false): Promise<void> {
    this.running = this.running.then(() => this.syncNow(forget));
    return this.running;
  }

  /** SIGHUP: forget every mark, re-read the set, reload every repository's config. */
  async reloadAll(): Promise<void> {
    for (const host of this.hosts.values()) host.reload('SIGHUP: reloading');
    await this.sync(true);
  }

  /** SIGUSR2: a command found us in /proc; make every repository's deleted files again. */
  repairAll(): void {
    for (const host of this.hosts.values()) host.repair();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.globalConfig.close();
    for (const entry of this.aside.values()) entry.watchers.forEach((w) => w.close());
    await Promise.allSettled([...this.starting.values()]);
    await Promise.allSettled([...this.hosts.values()].map((h) => h.stop()));
    this.network.stop();
    await this.pool.destroy();
  }

  /** Synchronous, for exit handlers: every repository's files removed. */
  cleanup(): void {
    for (const host of this.hosts.values()) host.cleanup();
  }

  private async syncNow(forget: boolean): Promise<void> {
    if (this.stopped) return;
    let set: string[];
    try {
      const read = await readRegistered();
      for (const path of read.ignored) if (!this.lastSet.includes(`!${path}`)) this.options.log(`registered path ${path} is not absolute; ignored`);
      set = read.paths;
      const now = [...set, ...read.ignored.map((p) => `!${p}`)];
      // The set changed: what failed to start is tried again (what was stopped on request is not).
      if (setChanged(this.lastSet, now)) this.clearAside((path) => this.aside.get(path)?.why === 'failed');
      this.lastSet = now;
    } catch (err) {
      this.options.log(`cannot read the registered repositories: ${(err as Error).message}; serving the same as before`);
      return;
    }
    if (forget) this.clearAside(() => true);
    for (const mark of pruneSetAside(this.aside, set)) mark.watchers.forEach((w) => w.close());
    const plan = reconcile(set, [...this.hosts.keys(), ...this.starting.keys()], new Set(this.aside.keys()));
    await Promise.all([...plan.stop.map((path) => this.stopServing(path)), ...plan.start.map((path) => this.serve(path))]);
  }

  private clearAside(which: (path: string) => boolean): void {
    for (const [path, entry] of this.aside) {
      if (!which(path)) continue;
      entry.watchers.forEach((w) => w.close());
      this.aside.delete(path);
    }
  }

  private async stopServing(path: string): Promise<void> {
    await this.starting.get(path);
    const host = this.hosts.get(path);
    if (!host) return;
    this.options.log(`${path}: unregistered; stopping its remotes`);
    await host.stop();
  }

  private serve(path: string): Promise<void> {
    const started = this.serveNow(path).finally(() => this.starting.delete(path));
    this.starting.set(path, started);
    return started;
  }

  private async serveNow(path: string): Promise<void> {
    const located = existsSync(path) ? locateRepo(path, {}) : undefined;
    if (!located) {
      this.setAside(path, 'failed', existsSync(path) ? 'not a git repository' : 'no such directory');
      return;
    }
    const paths = pathsIn(located.commonDir);
    let hosted;
    try {
      ensureDir(paths);
      const sink = fileSink(new LogFile(paths.log, paths.oldLog));
      try {
        hosted = await hostRepository({
          dir: path,
          paths,
          mode: 'shared',
          sink,
          logTo: 'file',
          pool: this.pool,
          endpointHost: this.endpoints,
          globalConfigWatched: true,
          network: (changed) => {
            this.listeners.add(changed);
            return () => this.listeners.delete(changed);
          },
        });
      } catch (err) {
        sink.close();
        throw err;
      }
      if (!hosted.ok) {
        sink.close();
        const who = hosted.holder ? ` (pid ${hosted.holder.pid})` : '';
        this.setAside(path, 'held', `a daemon of its own serves it${who}; left alone until it stops`, located.commonDir);
        return;
      }
      const host = hosted.host;
      this.hosts.set(path, host);
      this.options.log(`${path}: serving`);
      void host.finished.then(() => {
        this.hosts.delete(path);
        sink.close();
        if (this.stopped) return;
        const ended = host.endedBy();
        if (ended === 'stop') this.setAside(path, 'stopped', 'stopped on request; not served until the shared daemon restarts or reloads, or `register` asks again');
        else if (ended) this.setAside(path, 'failed', `dropped: ${ended}`, existsSync(located.commonDir) ? located.commonDir : undefined);
        else this.options.log(`${path}: stopped`);
        // Unregistered while stopping, or stopped by us: nothing more to do.
      });
    } catch (err) {
      this.setAside(path, 'failed', `cannot serve it: ${(err as Error).message.split('\n')[0]}`, located.commonDir);
    }
  }

  /**
   * Logged once; tried again when the registered set is read again with `forget` (SIGHUP,
   * SIGUSR1), or, when `commonDir` is given, when its config changes (failed) or its lock goes
   * (held by a daemon of its own).
   */
  private setAside(path: string, why: Aside['why'], text: string, commonDir?: string): void {
    this.options.log(`${path}: ${text}`);
    const entry: Aside = { why, watchers: [] };
    this.aside.set(path, entry);
    if (!commonDir || this.stopped) return;
    const again = () => {
      if (this.aside.get(path) !== entry) return;
      this.clearAside((p) => p === path);
      this.options.log(`${path}: ${why === 'held' ? 'its own daemon stopped' : 'its config changed'}; trying again`);
      void this.sync();
    };
    const watchFor = (dir: string, name: string) => {
      try {
        const watcher = watch(dir, { persistent: false }, (_event, file) => {
          if (file !== null && file.toString() !== name) return;
          if (name === 'lock' && existsSync(join(dir, name))) return; // still there: held
          setTimeout(again, SETTLE_MS).unref();
        });
        watcher.on('error', () => watcher.close());
        entry.watchers.push(watcher);
      } catch {
        // gone meanwhile: the set changing tries again
      }
    };
    if (why === 'held') watchFor(join(commonDir, 'remote-daemon'), 'lock');
    else watchFor(commonDir, 'config');
  }

  /**
   * The global config changed: the set is read again, and only when a setting besides it changed
   * (an insteadOf, a remotedaemon.* default) does every repository reload. The repositories'
   * own watchers leave the global files to this one (globalConfigWatched).
   */
  private async globalConfigChanged(): Promise<void> {
    const before = await this.globalSettings;
    const now = globalSettingsBesidesSet();
    this.globalSettings = now;
    if ((await now) !== before && !this.stopped) {
      for (const host of this.hosts.values()) host.reload('global config changed; reloading');
    }
    await this.sync();
  }

  /** Edits to the global config (a hand-made `git config --global --add remotedaemon.repo`). */
  private watchGlobalConfig(): void {
    // A directory that does not exist (~/.config/git) is not watched: register signals us anyway.
    this.globalConfig.set(globalConfigFiles());
  }
}
