// Shared endpoints: the daemon-level part of a transport that several remotes share (a listening
// socket, a peer-to-peer node, an account's login). Each runs once per daemon in its own thread,
// supervised like a remote's worker (a crash is reported and restarted with backoff), and each of
// the transport's remotes gets a message channel to it. An endpoint that carries change notices
// (`notices: true`, workers/notice/) is linked to every remote instead, whatever its transport.
// The coordinator only wires ports.
//
// Every change applies to the running daemon: an endpoint the config asks for starts and links
// the remotes already running; one it no longer asks for stops, and its remotes hear it is gone.
// While paused, no endpoint runs at all (nothing listens, nothing connects, whatever RELOAD or the
// config asks); RESUME starts each one the config wants, at once, and relinks its remotes.

import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import type { GitConfig } from '../shared/gitconfig.js';
import { DAEMON } from './protocol.js';
import type { ProtocolGate } from './gate.js';
import { Supervised } from './supervisor.js';
import type { RepoInfo } from '../shared/workerapi.js';
import type { EndpointOwner, EndpointStatus, EndpointTask, FromEndpoint, ToEndpoint } from '../shared/plugin.js';

export interface EndpointsOptions {
  pool: Piscina;
  repo: RepoInfo;
  gate: ProtocolGate;
  log(text: string): void;
  /**
   * The endpoint was (re)started: hand `port` (the remote's new end) to that remote's worker; as
   * its transport's endpoint, or as the notice carrier `carrier`.
   */
  relink(remote: string, port: MessagePort, carrier?: string): void;
  /**
   * The config no longer asks for the endpoint: that remote's link to it (as its transport's
   * endpoint, or as the notice carrier `carrier`) is gone for good, not restarting.
   */
  gone?(remote: string, carrier?: string): void;
  /** What an endpoint shows in status changed. */
  onStatus?(): void;
  restartBackoff?: { initialMs: number; maxMs: number };
}

interface Running {
  unit: Supervised<FromEndpoint>;
  settings: Record<string, unknown>;
  key: string;
  /** Remotes linked to it, with the URL they serve. */
  linked: Map<string, string>;
  /** It carries notices: every remote is linked to it (these ones), whatever its transport. */
  notices: boolean;
  noticeLinked: Map<string, string>;
  status?: EndpointStatus;
  /**
   * The conditions it reports that hold now (kind -> text): said again on RESUME, unless RESUME
   * makes the endpoint try again (then its attempt says whether they still hold).
   */
  conditions: Map<string, { text: string; retriedOnResume: boolean }>;
}

/** What the config asks of one endpoint, as last read. */
interface Wanted {
  plugin: EndpointOwner;
  settings: Record<string, unknown>;
  key: string;
}

/** Shown in status for an endpoint the config wants while the daemon is paused. */
export const PAUSED_ENDPOINT = 'paused: not listening, not connected (RESUME starts it)';

export class Endpoints {
  private readonly running = new Map<string, Running>();
  private readonly wanted = new Map<string, Wanted>();
  /** Endpoints whose thread is still ending: a new one of that name starts only after. */
  private readonly ending = new Map<string, Promise<void>>();
  /** Every remote with a worker, its URL and transport: what an endpoint started later links to. */
  private readonly known = new Map<string, { url: string; transport?: string }>();
  private paused = false;
  private lostnet = false;
  private closed = false;

  constructor(private readonly options: EndpointsOptions) {}

  /** Starts, updates or stops each endpoint as the config asks; returns config problems. */
  configure(owners: readonly EndpointOwner[], config: GitConfig): string[] {
    const problems: string[] = [];
    for (const plugin of owners) {
      if (!plugin.endpoint) continue;
      const wanted = plugin.endpoint.settings(config);
      problems.push(...(wanted?.problems ?? []));
      const current = this.running.get(plugin.name);
      if (!wanted?.settings) {
        this.wanted.delete(plugin.name);
        if (current) void this.stopOne(plugin.name, true);
        continue;
      }
      const key = JSON.stringify(wanted.settings);
      this.wanted.set(plugin.name, { plugin, settings: wanted.settings, key });
      if (current) {
        if (current.key !== key) {
          current.settings = wanted.settings;
          current.key = key;
          current.unit.post({ type: 'settings', settings: wanted.settings } satisfies ToEndpoint);
        }
        continue;
      }
      this.startWanted(plugin.name);
    }
    this.options.onStatus?.();
    return problems;
  }

  /**
   * Links a remote of `transport` to its endpoint; the remote's end of the channel, or none. The
   * remote is remembered either way: an endpoint started later links it then.
   */
  link(transport: string, remote: string, url: string): MessagePort | undefined {
    this.known.set(remote, { url, transport });
    const running = this.running.get(transport);
    if (!running) return undefined;
    running.linked.set(remote, url);
    return this.attach(running, remote, url);
  }

  /** Links a remote to every notice carrier that runs; the remote's ends of the channels. */
  linkNotices(remote: string, url: string): { carrier: string; port: MessagePort }[] {
    this.known.set(remote, { url, transport: this.known.get(remote)?.transport });
    const ports: { carrier: string; port: MessagePort }[] = [];
    for (const [carrier, running] of this.running) {
      if (!running.notices) continue;
      running.noticeLinked.set(remote, url);
      ports.push({ carrier, port: this.attach(running, remote, url, true) });
    }
    return ports;
  }

  unlink(transport: string, remote: string): void {
    this.known.delete(remote);
    for (const running of this.running.values()) {
      if (running.noticeLinked.delete(remote)) running.unit.post({ type: 'detach', remote, notices: true } satisfies ToEndpoint);
    }
    const running = this.running.get(transport);
    if (!running?.linked.delete(remote)) return;
    running.unit.post({ type: 'detach', remote } satisfies ToEndpoint);
  }

  /**
   * The controller's PAUSE, LOSTNET, RESUME or RELOAD. PAUSE stops every endpoint (a listening
   * socket, a login, a peer node: nothing of the daemon stays on the network) until RESUME starts
   * them again; the others are passed on to the endpoints, which follow them as their network use
   * asks. LOSTNET after PAUSE starts nothing: only RESUME does.
   */
  control(what: 'pause' | 'lostnet' | 'resume' | 'reload'): void {
    if (what === 'pause') {
      this.paused = true;
      for (const name of [...this.running.keys()]) void this.stopOne(name, false);
      this.options.onStatus?.();
      return;
    }
    if (what === 'lostnet') this.lostnet = true;
    if (what === 'resume') this.lostnet = false;
    for (const running of this.running.values()) running.unit.post({ type: 'control', what } satisfies ToEndpoint);
    if (what === 'resume' && this.paused) {
      this.paused = false;
      for (const name of this.wanted.keys()) this.startWanted(name);
      this.options.onStatus?.();
    }
  }

  /** CHANGED: endpoints that offer refs to others (peers) hear it even with no remote of theirs. */
  changed(refs: string[]): void {
    for (const running of this.running.values()) running.unit.post({ type: 'changed', refs } satisfies ToEndpoint);
  }

  /**
   * RESUME made the gate forget what it said: every endpoint condition that still holds is said
   * again (status keeps showing it; an endpoint says a condition only when it changes), except
   * those that RESUME makes the endpoint try again: saying now what held before the retry would
   * tell the user who just fixed it that it still fails.
   */
  resay(): void {
    for (const [name, running] of this.running) {
      for (const [kind, { text, retriedOnResume }] of running.conditions) {
        if (retriedOnResume) continue;
        this.options.gate.raise(DAEMON, `endpoint:${name}:${kind}`, `${name} endpoint: ${text}`);
      }
    }
  }

  status(): ({ name: string } & EndpointStatus)[] {
    const shown = [...this.running].filter(([, r]) => r.status).map(([name, r]) => ({ name, ...r.status! }));
    if (this.paused) for (const name of this.wanted.keys()) shown.push({ name, summary: PAUSED_ENDPOINT });
    return shown;
  }

  async stop(): Promise<void> {
    this.closed = true;
    await Promise.all([...[...this.running.keys()].map((name) => this.stopOne(name, false)), ...this.ending.values()]);
  }

  /** Starts the endpoint the config wants under `name`, unless paused, or once its old thread has ended. */
  private startWanted(name: string): void {
    if (this.closed || this.paused || this.running.has(name)) return;
    const wanted = this.wanted.get(name);
    if (!wanted) return;
    const ending = this.ending.get(name);
    // Two of them at once would fight over a port (the webhook's) or an identity (a peer key).
    if (ending) return void ending.then(() => this.startWanted(name));
    this.startOne(wanted.plugin, wanted.settings, wanted.key);
  }

  private attach(running: Running, remote: string, url: string, notices = false): MessagePort {
    const channel = new MessageChannel();
    running.unit.post({ type: 'attach', remote, url, port: channel.port1, ...(notices && { notices }) } satisfies ToEndpoint, [channel.port1]);
    return channel.port2;
  }

  private startOne(plugin: EndpointOwner, settings: Record<string, unknown>, key: string): void {
    const name = plugin.name;
    const kind = (k: string) => `endpoint:${name}:${k}`;
    const running: Running = {
      settings,
      key,
      linked: new Map(),
      notices: plugin.endpoint!.notices === true,
      noticeLinked: new Map(),
      conditions: new Map(),
      unit: new Supervised<FromEndpoint>({
        pool: this.options.pool,
        filename: plugin.endpoint!.file,
        restartBackoff: this.options.restartBackoff,
        task: (port) => ({
          task: { kind: 'endpoint', plugin: name, settings: running.settings, repo: this.options.repo, port, ...(this.lostnet && { lostnet: true }) } satisfies EndpointTask,
        }),
        log: (text) => this.options.log(`${name} endpoint: ${text}`),
        onMessage: (message) => {
          if (message.type === 'log') this.options.log(`${name} endpoint: ${message.text}`);
          else if (message.type === 'status') {
            running.status = message.status;
            this.options.onStatus?.();
          } else if (message.text === null) {
            running.conditions.delete(message.kind);
            this.options.gate.clear(DAEMON, kind(message.kind));
          } else {
            running.conditions.set(message.kind, { text: message.text, retriedOnResume: message.retriedOnResume === true });
            this.options.gate.raise(DAEMON, kind(message.kind), `${name} endpoint: ${message.text}`);
          }
        },
        onStarted: () => {
          // (Re)started: "failed; restarting in N s" is over, and what the last run said held then;
          // the new run says what holds now (a new failure says it again).
          running.conditions.clear();
          this.options.gate.forgetWhere((remote, k) => remote === DAEMON && k.startsWith(kind('')));
          // Started after its remotes (by RELOAD, a config change, RESUME) or restarted: it knows
          // no remote; link every one of its transport's, with fresh channels.
          for (const [remote, { url, transport }] of this.known) {
            if (transport !== name) continue;
            running.linked.set(remote, url);
            this.options.relink(remote, this.attach(running, remote, url));
          }
          // A carrier: every remote, whatever its transport.
          if (running.notices) {
            for (const [remote, { url }] of this.known) {
              running.noticeLinked.set(remote, url);
              this.options.relink(remote, this.attach(running, remote, url, true), name);
            }
          }
        },
        onEnded: (err, restartInMs) => {
          if (restartInMs === undefined) return;
          this.options.gate.raise(DAEMON, kind('crash'), `the ${name} endpoint failed (${err?.message}); restarting in ${(restartInMs / 1000).toFixed(1)} s`);
        },
      }),
    };
    this.running.set(name, running);
    running.unit.start();
  }

  /** Stops a running endpoint; `gone`: for good (the config dropped it), so its remotes are told. */
  private async stopOne(name: string, gone: boolean): Promise<void> {
    const running = this.running.get(name);
    if (!running) return;
    this.running.delete(name);
    this.options.onStatus?.();
    if (gone) {
      for (const remote of running.linked.keys()) this.options.gone?.(remote);
      for (const remote of running.noticeLinked.keys()) this.options.gone?.(remote, name);
    }
    const ending = running.unit.stop({ type: 'stop' } satisfies ToEndpoint);
    this.ending.set(name, ending);
    await ending;
    if (this.ending.get(name) === ending) this.ending.delete(name);
    // Gone from the config: nothing it said holds any more (a new one says its own).
    if (!this.running.has(name)) this.options.gate.forgetWhere((remote, kind) => remote === DAEMON && kind.startsWith(`endpoint:${name}:`));
  }
}
