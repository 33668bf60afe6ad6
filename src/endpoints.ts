// Shared endpoints: the daemon-level part of a transport that several remotes share (a listening
// socket, a peer-to-peer node, an account's login). Each runs once per daemon in its own thread,
// supervised like a remote's worker (a crash is reported and restarted with backoff), and each of
// the transport's remotes gets a message channel to it. The coordinator only wires ports.

import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import type { GitConfig } from './gitconfig.js';
import { DAEMON } from './protocol.js';
import type { ProtocolGate } from './gate.js';
import { Supervised } from './supervisor.js';
import type { RepoInfo } from './workerapi.js';
import type { EndpointTask, FromEndpoint, ToEndpoint, TransportPlugin } from '../workers/plugin.js';

export interface EndpointsOptions {
  pool: Piscina;
  repo: RepoInfo;
  gate: ProtocolGate;
  log(text: string): void;
  /** The endpoint was restarted: hand `port` (the remote's new end) to that remote's worker. */
  relink(remote: string, port: MessagePort): void;
  restartBackoff?: { initialMs: number; maxMs: number };
}

interface Running {
  unit: Supervised<FromEndpoint>;
  settings: Record<string, unknown>;
  key: string;
  /** Remotes linked to it, with the URL they serve. */
  linked: Map<string, string>;
}

export class Endpoints {
  private readonly running = new Map<string, Running>();

  constructor(private readonly options: EndpointsOptions) {}

  /** Starts, updates or stops each transport's endpoint as the config asks; returns config problems. */
  configure(transports: readonly TransportPlugin[], config: GitConfig): string[] {
    const problems: string[] = [];
    for (const plugin of transports) {
      if (!plugin.endpoint) continue;
      const wanted = plugin.endpoint.settings(config);
      problems.push(...(wanted?.problems ?? []));
      const current = this.running.get(plugin.name);
      if (!wanted) {
        if (current) void this.stopOne(plugin.name);
        continue;
      }
      const key = JSON.stringify(wanted.settings);
      if (current) {
        if (current.key !== key) {
          current.settings = wanted.settings;
          current.key = key;
          current.unit.post({ type: 'settings', settings: wanted.settings } satisfies ToEndpoint);
        }
        continue;
      }
      this.startOne(plugin, wanted.settings, key);
    }
    return problems;
  }

  /** Links a remote of `transport` to its endpoint; the remote's end of the channel, or none. */
  link(transport: string, remote: string, url: string): MessagePort | undefined {
    const running = this.running.get(transport);
    if (!running) return undefined;
    running.linked.set(remote, url);
    return this.attach(running, remote, url);
  }

  unlink(transport: string, remote: string): void {
    const running = this.running.get(transport);
    if (!running?.linked.delete(remote)) return;
    running.unit.post({ type: 'detach', remote } satisfies ToEndpoint);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.running.keys()].map((name) => this.stopOne(name)));
  }

  private attach(running: Running, remote: string, url: string): MessagePort {
    const channel = new MessageChannel();
    running.unit.post({ type: 'attach', remote, url, port: channel.port1 } satisfies ToEndpoint, [channel.port1]);
    return channel.port2;
  }

  private startOne(plugin: TransportPlugin, settings: Record<string, unknown>, key: string): void {
    const name = plugin.name;
    const kind = (k: string) => `endpoint:${name}:${k}`;
    const running: Running = {
      settings,
      key,
      linked: new Map(),
      unit: new Supervised<FromEndpoint>({
        pool: this.options.pool,
        filename: plugin.endpoint!.file,
        restartBackoff: this.options.restartBackoff,
        task: (port) => ({
          task: { kind: 'endpoint', plugin: name, settings: running.settings, repo: this.options.repo, port } satisfies EndpointTask,
        }),
        log: (text) => this.options.log(`${name} endpoint: ${text}`),
        onMessage: (message) => {
          if (message.type === 'log') this.options.log(`${name} endpoint: ${message.text}`);
          else if (message.text === null) this.options.gate.clear(DAEMON, kind(message.kind));
          else this.options.gate.raise(DAEMON, kind(message.kind), `${name} endpoint: ${message.text}`);
        },
        onStarted: () => {
          // A restarted endpoint knows no remote: link them all again, with fresh channels.
          for (const [remote, url] of running.linked) this.options.relink(remote, this.attach(running, remote, url));
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

  private async stopOne(name: string): Promise<void> {
    const running = this.running.get(name);
    if (!running) return;
    this.running.delete(name);
    await running.unit.stop({ type: 'stop' } satisfies ToEndpoint);
  }
}
