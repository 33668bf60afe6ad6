// The p2p endpoint: runs in a thread of its own, once per repository (never two of one key in a
// process: see the plugin's identity). It starts the peer node in a
// child process (node.ts) and supervises it: a node that dies takes its links with it, every
// remote hears DISCONNECTED-worthy news, and this task fails so that the daemon's supervisor
// restarts it with backoff and reports it like a crashed worker. It routes between the remotes'
// workers (by peer key) and the node.

import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { findGitDir } from '../../shared/kit/gitdir.js';
import type { EndpointTask } from '../../shared/plugin.js';
import { EndpointLoop, type Attached, type Carrier } from '../endpointloop.js';
import { decodeNotice } from '../notice/format.js';
import { NoticeHub, type CarrierOut } from '../notice/hub.js';
import { keyOf } from './address.js';
import type { FromNode, ToNode } from './nodeapi.js';
import type { NodeSettings } from './settings.js';
import type { FromP2pEndpoint, ToP2pEndpoint } from './transport.js';

const STOP_GRACE_MS = 800;

/** The endpoint loop (workers/endpointloop.ts) keeps each remote's peer key. */
type PeerLoop = EndpointLoop<string>;

export default async function endpoint(task: EndpointTask): Promise<string> {
  const instance = randomUUID();
  let settings = task.settings as unknown as NodeSettings;
  const hub = new NoticeHub({ log: (text) => loop.log(text) });
  const node = new NodeCarrier(findGitDir(task.repo.gitDir), () => settings, {
    heard: (m) => fromNode(m, loop, hub, peers),
    exited(crash) {
      peers.clear();
      if (crash === undefined) return;
      loop.tell({ type: 'down', reason: crash } satisfies FromP2pEndpoint);
      loop.fail(new Error(crash));
    },
  });
  const peers = new PeerLinks(hub, node, () => settings);
  const loop: PeerLoop = new EndpointLoop(task.port, {
    carrier: node,
    link: (_, url) => keyOf(url) ?? '',
    attached: (remote) => remote.tell({ type: 'hello', instance } satisfies FromP2pEndpoint),
    heard(remote, m) {
      if ((m as ToP2pEndpoint | null)?.type === 'dial') dial(remote, node, loop);
    },
    notices: hub,
    // Offered to interested peers, whether or not this repository has a peer as a remote
    // (one that only serves, through remotedaemon.p2p.allow, has none). The node reads the
    // values itself; a repeat costs nothing.
    changed(refs) {
      if (Array.isArray(refs)) node.send({ type: 'offer', refs: refs.slice(0, 1000) });
    },
    settings(raw) {
      const next = raw as unknown as NodeSettings;
      const rebind = discovery(next) !== discovery(settings);
      settings = next;
      if (!rebind) return node.send({ type: 'settings', settings });
      // A DHT is bound to its bootstrap and socket for life: a new one, and the links anew.
      loop.tell({ type: 'down', reason: 'the peer node restarts with new discovery settings' } satisfies FromP2pEndpoint);
      void loop.restart();
    },
  });
  await loop.run();
  return 'stopped';
}

/** A remote wants its peer's held link up. (Exported for its test: test/p2p/endpoint.test.ts.) */
export function dial(remote: Attached<string>, node: NodeCarrier, loop: PeerLoop): void {
  const key = remote.link;
  if (node.fatal !== undefined) {
    // RELOAD after fixing the key file: the remote tries again, and so does the node. A node
    // that refused is still on its way out (a loaded machine takes its time): start the new
    // one once it is gone, rather than refuse a user who has just fixed the file.
    void loop.restart().then(() => node.send({ type: 'dial', key }));
    return;
  }
  if (!node.connected) return remote.tell({ type: 'failed', key, reason: 'the peer node is restarting', needsUser: false } satisfies FromP2pEndpoint);
  node.send({ type: 'dial', key });
}

/** What the node says, routed: to the coordinator, to the remotes of that peer, to the hub. (Exported for its test.) */
export function fromNode(m: FromNode, loop: PeerLoop, hub: NoticeHub, peers: PeerLinks): void {
  const tell = (key: string, message: FromP2pEndpoint) => loop.tell(message, (remote) => remote.link === key);
  switch (m.type) {
    case 'log':
      return loop.log(m.text);
    case 'condition':
      return loop.say(m);
    case 'fatal':
      loop.say({ type: 'condition', kind: 'identity', text: m.text });
      return loop.tell((remote) => ({ type: 'failed', key: remote.link, reason: m.text, needsUser: true }) satisfies FromP2pEndpoint);
    case 'ready':
      return loop.say({ type: 'condition', kind: 'identity', text: null });
    case 'up':
      peers.up(m.key);
      return tell(m.key, { type: 'up' });
    case 'down':
      peers.down(m.key);
      return tell(m.key, { type: 'down', reason: m.reason });
    case 'reachable':
      // Every remote: those backing off because no peer could be found retry now.
      return loop.tell({ type: 'reachable' } satisfies FromP2pEndpoint);
    case 'notice': {
      const notice = decodeNotice(m.text);
      if (notice) hub.hear(`peer ${m.key.slice(0, 12)}`, notice);
      return;
    }
    case 'dial-failed':
      return tell(m.key, { type: 'failed', key: m.key, reason: m.reason, needsUser: m.needsUser });
    case 'refs':
      return tell(m.key, { type: 'refs', refs: m.refs });
  }
}

/**
 * The same change notices as over XMPP (workers/notice/), carried on the held peer links: a
 * push to a remote both devices share reaches the other device without any server of ours.
 * (Exported for its test.)
 */
export class PeerLinks {
  private readonly linked = new Set<string>();
  private readonly carrier: CarrierOut = {
    // The node sends it only to our own devices that said they have this remote.
    send: (encoded, url) => {
      this.node.send({ type: 'notice', text: encoded, url });
      return [...this.linked].filter((key) => this.settings().peers.some((p) => p.key === key)).length;
    },
  };

  constructor(
    private readonly hub: NoticeHub,
    private readonly node: NodeCarrier,
    private readonly settings: () => NodeSettings,
  ) {}

  up(key: string): void {
    const first = !this.linked.has(key);
    this.linked.add(key);
    this.hub.setCarrier(this.carrier);
    if (first) this.hub.catchUp('a peer link is up');
  }

  down(key: string): void {
    this.linked.delete(key);
    if (this.linked.size === 0) this.hub.setCarrier(undefined);
  }

  /** The node is gone, and its links with it. */
  clear(): void {
    this.linked.clear();
    this.hub.setCarrier(undefined);
  }
}

/** The peer node in a child process, as the endpoint loop's carrier: one at a time. */
class NodeCarrier implements Carrier {
  readonly stopGraceMs = STOP_GRACE_MS;
  private child: ChildProcess | undefined;
  /** The node being stopped: killed if it takes longer than the grace. */
  private leaving: ChildProcess | undefined;
  /** Why the node cannot run until the user acts (a key file others can read). */
  fatal: string | undefined;
  /** Nodes we stopped on purpose (new discovery settings, the endpoint's stop): their exit is no crash. */
  private readonly retired = new WeakSet<ChildProcess>();

  constructor(
    private readonly gitDir: string,
    private readonly settings: () => NodeSettings,
    private readonly on: { heard(m: FromNode): void; exited(crash: string | undefined): void },
  ) {}

  get connected(): boolean {
    return this.child?.connected === true;
  }

  send(m: ToNode): void {
    if (this.child?.connected) this.child.send(m);
  }

  start(): void {
    this.fatal = undefined;
    const node = fork(fileURLToPath(new URL('./node.js', import.meta.url)), [], {
      execArgv: [],
      // Never the daemon's stdout: that is the control protocol.
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'json',
    });
    this.child = node;
    const logStream = (s: NodeJS.ReadableStream | null) =>
      s?.setEncoding('utf8').on('data', (d: string) => this.on.heard({ type: 'log', text: `peer node printed: ${d.trimEnd().slice(0, 2000)}` }));
    logStream(node.stdout);
    logStream(node.stderr);
    node.on('message', (m: FromNode) => {
      if (m.type === 'fatal') this.fatal = m.text;
      this.on.heard(m);
    });
    node.on('exit', (code, signal) => {
      if (this.child === node) this.child = undefined;
      const expected = this.fatal !== undefined || this.retired.has(node);
      this.on.exited(expected ? undefined : `the peer node exited (${signal ?? `code ${code}`})`);
    });
    node.send({ type: 'start', settings: this.settings(), gitDir: this.gitDir } satisfies ToNode);
  }

  async stop(): Promise<void> {
    const node = this.child;
    this.child = undefined;
    if (!node) return;
    this.retired.add(node);
    if (node.exitCode !== null || node.signalCode !== null) return;
    this.leaving = node;
    const exited = new Promise<void>((resolve) => node.once('exit', () => resolve()));
    if (node.connected) node.send({ type: 'stop' } satisfies ToNode);
    await exited;
  }

  kill(): void {
    this.leaving?.kill('SIGKILL');
  }
}

/** The settings a DHT is bound to for life: a change needs a new node. (Exported for its test.) */
export function discovery(s: NodeSettings): string {
  return JSON.stringify([s.bootstrap, s.host, s.port, s.reachable]);
}
