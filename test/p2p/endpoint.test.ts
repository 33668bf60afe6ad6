// workers/p2p/endpoint.ts: the endpoint's routing between the peer node and the remotes' workers,
// with fakes for the loop, the node and the notice hub (the node itself, a child process on the
// DHT, is tested end to end by test/p2p/*): what the node says about a key reaches the remotes
// of that key only, a node that cannot run (fatal) tells every remote the user must act, a dial
// while the node restarts is answered at once, notices go out only to our own linked devices, and
// which settings changes need a new node.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dial, discovery, fromNode, PeerLinks } from '../../workers/p2p/endpoint.js';
import { encodeNotice, type Notice } from '../../workers/notice/format.js';
import type { FromNode, ToNode } from '../../workers/p2p/nodeapi.js';
import type { NodeSettings } from '../../workers/p2p/settings.js';
import type { Attached } from '../../workers/endpointloop.js';
import type { FromEndpoint } from '../../shared/plugin.js';

const K1 = '1'.repeat(64);
const K2 = '2'.repeat(64);

class FakeLoop {
  readonly said: FromEndpoint[] = [];
  readonly remotes: (Attached<string> & { told: unknown[] })[] = [];
  restarts = 0;
  lastRestart: Promise<void> | undefined;
  attach(name: string, key: string) {
    const told: unknown[] = [];
    const remote = { name, link: key, told, tell: (m: unknown) => told.push(m) };
    this.remotes.push(remote);
    return remote;
  }
  log(text: string) {
    this.said.push({ type: 'log', text });
  }
  say(m: FromEndpoint) {
    this.said.push(m);
  }
  tell(message: object | ((r: Attached<string>) => object), only?: (r: Attached<string>) => boolean) {
    for (const r of this.remotes) if (!only || only(r)) r.tell(typeof message === 'function' ? message(r) : message);
  }
  restart() {
    this.restarts++;
    this.lastRestart = Promise.resolve();
    return this.lastRestart;
  }
}

class FakeHub {
  readonly heard: [string, Notice][] = [];
  readonly carriers: unknown[] = [];
  readonly catchUps: string[] = [];
  hear(sender: string, notice: Notice) {
    this.heard.push([sender, notice]);
  }
  setCarrier(carrier: unknown) {
    this.carriers.push(carrier);
  }
  catchUp(why: string) {
    this.catchUps.push(why);
  }
}

class FakeNode {
  readonly sent: ToNode[] = [];
  fatal: string | undefined;
  connected = true;
  send(m: ToNode) {
    this.sent.push(m);
  }
}

const settings = (over: Partial<NodeSettings> = {}): NodeSettings => ({ reachable: false, allowed: [K1, K2], peers: [{ key: K1, fetch: ['+refs/heads/*:refs/remotes/laptop/*'] }], show: { include: [], exclude: [] } as unknown as NodeSettings['show'], ...over });

function routed() {
  const loop = new FakeLoop();
  const hub = new FakeHub();
  const ups: string[] = [];
  const downs: string[] = [];
  const peers = { up: (k: string) => ups.push(k), down: (k: string) => downs.push(k) };
  const a = loop.attach('laptop', K1);
  const b = loop.attach('laptop-2', K1);
  const c = loop.attach('desktop', K2);
  const say = (m: FromNode) => fromNode(m, loop as never, hub as never, peers as never);
  return { loop, hub, ups, downs, a, b, c, say };
}

test("what the node says about a key reaches that key's remotes only", () => {
  const { a, b, c, ups, downs, say } = routed();
  say({ type: 'up', key: K1 });
  say({ type: 'refs', key: K1, refs: [['refs/heads/main', 'f'.repeat(40)]] });
  say({ type: 'down', key: K2, reason: 'the link to the peer was lost' });
  say({ type: 'dial-failed', key: K2, reason: 'no answer', needsUser: false });
  say({ type: 'up', key: '3'.repeat(64) }); // nobody's key: nobody hears it
  assert.deepEqual(a.told, [{ type: 'up' }, { type: 'refs', refs: [['refs/heads/main', 'f'.repeat(40)]] }]);
  assert.deepEqual(b.told, a.told);
  assert.deepEqual(c.told, [
    { type: 'down', reason: 'the link to the peer was lost' },
    { type: 'failed', key: K2, reason: 'no answer', needsUser: false },
  ]);
  assert.deepEqual(ups, [K1, '3'.repeat(64)]);
  assert.deepEqual(downs, [K2]);
});

test('the DHT answering again is news for every remote; logs and conditions go to the coordinator', () => {
  const { loop, a, b, c, say } = routed();
  say({ type: 'reachable' });
  say({ type: 'log', text: 'peer node up' });
  say({ type: 'condition', kind: 'dht', text: 'the DHT is unreachable' });
  for (const r of [a, b, c]) assert.deepEqual(r.told, [{ type: 'reachable' }]);
  assert.deepEqual(loop.said, [
    { type: 'log', text: 'peer node up' },
    { type: 'condition', kind: 'dht', text: 'the DHT is unreachable' },
  ]);
});

test('a node that cannot run says why as the identity condition and tells every remote the user must act; ready clears it', () => {
  const { loop, a, c, say } = routed();
  say({ type: 'fatal', text: 'the key file is readable by others' });
  assert.deepEqual(loop.said, [{ type: 'condition', kind: 'identity', text: 'the key file is readable by others' }]);
  assert.deepEqual(a.told, [{ type: 'failed', key: K1, reason: 'the key file is readable by others', needsUser: true }]);
  assert.deepEqual(c.told, [{ type: 'failed', key: K2, reason: 'the key file is readable by others', needsUser: true }]);
  say({ type: 'ready', publicKey: K1, socket: '/x' });
  assert.deepEqual(loop.said.at(-1), { type: 'condition', kind: 'identity', text: null });
});

test("a peer's notice is heard by the hub only when it decodes, named by the peer's key", () => {
  const { hub, a, say } = routed();
  const notice: Notice = { url: 'https://example.org/repo', refs: [['refs/heads/main', 'a'.repeat(40)]] };
  say({ type: 'notice', key: K1, text: encodeNotice(notice) });
  say({ type: 'notice', key: K1, text: 'not a notice' });
  say({ type: 'notice', key: K1, text: JSON.stringify({ v: 999, url: 1 }) });
  assert.equal(hub.heard.length, 1);
  assert.equal(hub.heard[0][0], `peer ${K1.slice(0, 12)}`);
  assert.deepEqual(hub.heard[0][1].url, notice.url);
  assert.deepEqual(a.told, []);
});

test('dial: to the node when it runs; at once refused while it restarts; after a fatal stop, a new node first', async () => {
  const loop = new FakeLoop();
  const node = new FakeNode();
  const remote = loop.attach('laptop', K1);
  dial(remote, node as never, loop as never);
  assert.deepEqual(node.sent, [{ type: 'dial', key: K1 }]);

  node.connected = false;
  dial(remote, node as never, loop as never);
  assert.deepEqual(remote.told, [{ type: 'failed', key: K1, reason: 'the peer node is restarting', needsUser: false }]);
  assert.equal(node.sent.length, 1);

  node.fatal = 'the key file is readable by others';
  dial(remote, node as never, loop as never);
  assert.equal(loop.restarts, 1);
  assert.equal(node.sent.length, 1, 'not to the node on its way out');
  await loop.lastRestart; // the new node is up: the dial goes to it
  assert.deepEqual(node.sent.at(-1), { type: 'dial', key: K1 });
});

test('peer links: the first link up sets the carrier and catches up once; the last down takes it away; notices count our own linked devices only', () => {
  const hub = new FakeHub();
  const node = new FakeNode();
  let current = settings();
  const links = new PeerLinks(hub as never, node as never, () => current);
  links.up(K1);
  links.up(K1);
  links.up(K2); // allowed to fetch from us, but not a device we fetch from
  assert.deepEqual(hub.catchUps, ['a peer link is up', 'a peer link is up']);
  const carrier = hub.carriers.at(-1) as { send(encoded: string, url: string): number };
  assert.ok(carrier);
  assert.equal(carrier.send('encoded', 'https://example.org/repo'), 1);
  assert.deepEqual(node.sent, [{ type: 'notice', text: 'encoded', url: 'https://example.org/repo' }]);
  current = settings({ peers: [] });
  assert.equal(carrier.send('encoded', 'https://example.org/repo'), 0);

  links.down(K1);
  assert.notEqual(hub.carriers.at(-1), undefined, 'one link is still up');
  links.down(K2);
  assert.equal(hub.carriers.at(-1), undefined);
  links.up(K1);
  links.clear();
  assert.equal(hub.carriers.at(-1), undefined);
  assert.equal(hub.catchUps.length, 3, 'a link up again after going is a first link again');
});

test('only discovery settings (bootstrap, host, port, reachable) need a new node', () => {
  const base = settings({ bootstrap: [{ host: '127.0.0.1', port: 49737 }], port: 4000, host: '0.0.0.0' });
  assert.equal(discovery(settings({ ...base, allowed: [], peers: [], urls: ['x'] })), discovery(base));
  for (const change of [{ bootstrap: [{ host: '127.0.0.1', port: 49738 }] }, { bootstrap: undefined }, { port: 4001 }, { host: '127.0.0.1' }, { reachable: true }]) {
    assert.notEqual(discovery({ ...base, ...change }), discovery(base), JSON.stringify(change));
  }
});
