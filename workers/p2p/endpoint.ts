// The p2p endpoint: runs in a thread of its own, once per daemon. It starts the peer node in a
// child process (node.ts) and supervises it: a node that dies takes its links with it, every
// remote hears DISCONNECTED-worthy news, and this task fails so that the daemon's supervisor
// restarts it with backoff and reports it like a crashed worker. It routes between the remotes'
// workers (by peer key) and the node.

import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { MessagePort } from 'node:worker_threads';
import { findGitDir } from '../../shared/kit/gitdir.js';
import type { EndpointTask, FromEndpoint, ToEndpoint } from '../../shared/plugin.js';
import { decodeNotice } from '../notice/format.js';
import { NoticeHub } from '../notice/hub.js';
import { keyOf } from './address.js';
import type { FromNode, ToNode } from './nodeapi.js';
import type { NodeSettings } from './settings.js';
import type { FromP2pEndpoint, ToP2pEndpoint } from './transport.js';

const STOP_GRACE_MS = 800;

export default async function endpoint(task: EndpointTask): Promise<string> {
  const instance = randomUUID();
  const gitDir = findGitDir(task.repo.gitDir);
  let settings = task.settings as unknown as NodeSettings;
  const say = (m: FromEndpoint) => task.port.postMessage(m);
  const remotes = new Map<string, { key: string; port: MessagePort }>();
  const tell = (key: string, m: FromP2pEndpoint) => {
    for (const r of remotes.values()) if (r.key === key) r.port.postMessage(m);
  };
  const tellAll = (m: (key: string) => FromP2pEndpoint) => {
    for (const r of remotes.values()) r.port.postMessage(m(r.key));
  };

  // The same change notices as over XMPP (workers/notice/), carried on the held peer links: a
  // push to a remote both devices share reaches the other device without any server of ours.
  const hub = new NoticeHub({ log: (text) => say({ type: 'log', text }) });
  const linkedPeers = new Set<string>();
  const carrier = {
    // The node sends it only to our own devices that said they have this remote.
    send: (encoded: string, url: string) => {
      send({ type: 'notice', text: encoded, url });
      return [...linkedPeers].filter((key) => settings.peers.some((p) => p.key === key)).length;
    },
  };
  const peerUp = (key: string) => {
    const first = !linkedPeers.has(key);
    linkedPeers.add(key);
    hub.setCarrier(carrier);
    if (first) hub.catchUp('a peer link is up');
  };
  const peerDown = (key: string) => {
    linkedPeers.delete(key);
    if (linkedPeers.size === 0) hub.setCarrier(undefined);
  };

  let child: ChildProcess | undefined;
  /** Why the node cannot run until the user acts (a key file others can read). */
  let fatal: string | undefined;
  let stopping = false;
  /** Nodes we stopped on purpose (new discovery settings): their exit is no crash. */
  const retired = new WeakSet<ChildProcess>();
  let crashed!: (err: Error) => void;
  const crash = new Promise<never>((_, reject) => (crashed = reject));
  crash.catch(() => {});

  const send = (m: ToNode) => {
    if (child?.connected) child.send(m);
  };

  const spawnNode = () => {
    fatal = undefined;
    const node = fork(fileURLToPath(new URL('./node.js', import.meta.url)), [], {
      execArgv: [],
      // Never the daemon's stdout: that is the control protocol.
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'json',
    });
    child = node;
    const logStream = (s: NodeJS.ReadableStream | null) =>
      s?.setEncoding('utf8').on('data', (d: string) => say({ type: 'log', text: `peer node printed: ${d.trimEnd().slice(0, 2000)}` }));
    logStream(node.stdout);
    logStream(node.stderr);
    node.on('message', (m: FromNode) => {
      switch (m.type) {
        case 'log':
          return say({ type: 'log', text: m.text });
        case 'condition':
          return say(m);
        case 'fatal':
          fatal = m.text;
          say({ type: 'condition', kind: 'identity', text: m.text });
          return tellAll((key) => ({ type: 'failed', key, reason: m.text, needsUser: true }));
        case 'ready':
          say({ type: 'condition', kind: 'identity', text: null });
          return;
        case 'up':
          peerUp(m.key);
          return tell(m.key, { type: 'up' });
        case 'down':
          peerDown(m.key);
          return tell(m.key, { type: 'down', reason: m.reason });
        case 'reachable':
          // Every remote: those backing off because no peer could be found retry now.
          return tellAll(() => ({ type: 'reachable' }));
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
    });
    node.on('exit', (code, signal) => {
      if (child === node) child = undefined;
      linkedPeers.clear();
      hub.setCarrier(undefined);
      if (stopping || fatal !== undefined || retired.has(node)) return;
      const why = `the peer node exited (${signal ?? `code ${code}`})`;
      tellAll(() => ({ type: 'down', reason: why }));
      crashed(new Error(why));
    });
    node.send({ type: 'start', settings, gitDir } satisfies ToNode);
  };

  const attach = (remote: string, url: string, port: MessagePort) => {
    const key = keyOf(url) ?? '';
    remotes.set(remote, { key, port });
    port.on('message', (m: ToP2pEndpoint) => {
      if (m.type === 'dial') {
        if (fatal !== undefined) {
          // RELOAD after fixing the key file: the remote tries again, and so does the node. A node
          // that refused is still on its way out (a loaded machine takes its time): start the new
          // one once it is gone, rather than refuse a user who has just fixed the file.
          const retry = () => {
            if (stopping) return;
            if (!child) spawnNode();
            send({ type: 'dial', key });
          };
          if (child) {
            child.once('exit', () => setImmediate(retry));
            return;
          }
          spawnNode();
        } else if (!child?.connected) {
          return port.postMessage({ type: 'failed', key, reason: 'the peer node is restarting', needsUser: false } satisfies FromP2pEndpoint);
        }
        send({ type: 'dial', key });
      }
    });
    port.postMessage({ type: 'hello', instance } satisfies FromP2pEndpoint);
  };

  spawnNode();
  const stopped = new Promise<void>((resolve) => {
    task.port.on('message', (m: ToEndpoint) => {
      switch (m.type) {
        case 'attach':
          if (m.notices) return hub.attach(m.remote, m.url, m.port);
          return attach(m.remote, m.url, m.port);
        case 'detach':
          if (m.notices) return hub.detach(m.remote);
          remotes.get(m.remote)?.port.close();
          remotes.delete(m.remote);
          return;
        case 'changed':
          // Offered to interested peers, whether or not this repository has a peer as a remote
          // (one that only serves, through remotedaemon.p2p.allow, has none). The node reads the
          // values itself; a repeat costs nothing.
          if (Array.isArray(m.refs)) send({ type: 'offer', refs: m.refs.slice(0, 1000) });
          return;
        case 'settings': {
          const next = m.settings as unknown as NodeSettings;
          const rebind = discovery(next) !== discovery(settings);
          settings = next;
          if (!rebind) return send({ type: 'settings', settings });
          // A DHT is bound to its bootstrap and socket for life: a new one, and the links anew.
          const old = child;
          if (old) retired.add(old);
          child = undefined;
          tellAll(() => ({ type: 'down', reason: 'the peer node restarts with new discovery settings' }));
          void stopNode(old).then(() => stopping || spawnNode());
          return;
        }
        case 'stop':
          stopping = true;
          hub.stop();
          void stopNode(child).then(() => {
            for (const r of remotes.values()) r.port.close();
            task.port.close();
            resolve();
          });
      }
    });
  });
  await Promise.race([stopped, crash]);
  return 'stopped';
}

function discovery(s: NodeSettings): string {
  return JSON.stringify([s.bootstrap, s.host, s.port, s.reachable]);
}

async function stopNode(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (child.connected) child.send({ type: 'stop' } satisfies ToNode);
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}
