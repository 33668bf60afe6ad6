// workers/p2p/node.ts: the peer node's logic, with two nodes in this process linked over an
// in-memory stream pair that stands in for hyperdht's encrypted stream (no DHT, no UDP): which
// refs a node offers a peer (only branches and tags the peer fetches, only values it lacks, each
// once), the upload-pack an offer starts for the fetch it causes, what a peer's notices and remote
// URLs make it forward, how many connections one key may have, and a key that is no longer
// allowed losing its link. The DHT itself, dialling and
// the per-peer byte budget are tested end to end in test/p2p/*.test.ts (rogue, reach, offers).

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { PeerNode, CONNECTIONS_PER_KEY } from '../../workers/p2p/node.js';
import type { FromNode } from '../../workers/p2p/nodeapi.js';
import type { PeerConnection } from '../../workers/p2p/wire.js';
import { parseShowRules } from '../../workers/p2p/shown.js';
import type { NodeSettings } from '../../workers/p2p/settings.js';
import { fingerprint } from '../../workers/p2p/address.js';
import type { ChannelStream } from '../../workers/p2p/channelstream.js';
import type { StartedUploadPack } from '../../workers/p2p/uploadpack.js';
import { commit, git, tempDir } from '../support/git.js';
import { eventually } from '../support/daemon.js';
import { commandLine, descendantsOf } from '../support/procs.js';
import { once } from 'node:events';

const T = { timeout: 10_000 };
const KA = 'a'.repeat(64);
const KB = 'b'.repeat(64);
const ZERO = '0'.repeat(40);
const URL = 'https://example.org/shared.git';

/**
 * Two ends of a stream that keeps each write a message of its own, as hyperdht's encrypted
 * stream does (protomux reads one frame per chunk), with the fields the node reads of one.
 */
function streamPair(aKey: string, bKey: string): [Duplex, Duplex] {
  let a!: Duplex;
  let b!: Duplex;
  const end = (other: () => Duplex) =>
    new Duplex({
      objectMode: true,
      read() {},
      write(chunk, _encoding, done) {
        other().push(chunk);
        done();
      },
      final(done) {
        other().push(null);
        done();
      },
    });
  a = end(() => b);
  b = end(() => a);
  a.on('close', () => b.destroy());
  b.on('close', () => a.destroy());
  const noise = (remote: string, isInitiator: boolean) => ({ remotePublicKey: Buffer.from(remote, 'hex'), isInitiator, setKeepAlive() {}, setTimeout() {}, userData: null });
  Object.assign(a, noise(bKey, true));
  Object.assign(b, noise(aKey, false));
  return [a, b];
}

/** A node's private door for a stream, as its DHT server or dial would use it. */
const adopt = (node: PeerNode, stream: Duplex) => (node as unknown as { adopt(s: Duplex): PeerConnection }).adopt(stream);
const heldConn = (node: PeerNode, key: string) => (node as unknown as { held: Map<string, { conn: PeerConnection }> }).held.get(key)?.conn;

class Said {
  readonly items: FromNode[] = [];
  private readonly waiters: { match: (m: FromNode) => boolean; resolve: (m: FromNode) => void }[] = [];
  readonly say = (m: FromNode) => {
    this.items.push(m);
    for (const w of [...this.waiters]) if (w.match(m)) (this.waiters.splice(this.waiters.indexOf(w), 1), w.resolve(m));
  };
  until(match: (m: FromNode) => boolean): Promise<FromNode> {
    const found = this.items.find(match);
    return found ? Promise.resolve(found) : new Promise((resolve) => this.waiters.push({ match, resolve }));
  }
  logs(): string[] {
    return this.items.flatMap((m) => (m.type === 'log' ? [m.text] : []));
  }
}

interface Side {
  node: PeerNode;
  said: Said;
  dir: string;
}

/** A fetches B's branches into refs/remotes/b/*, B fetches A's into refs/remotes/a/*: two devices of one user. */
function pairOfNodes(t: TestContext, options: { urlsOfB?: string[] } = {}): { a: Side; b: Side; settingsOfA: (over?: Partial<NodeSettings>) => NodeSettings } {
  const d = tempDir('grd-node-');
  t.after(d.cleanup);
  const make = (name: string, settings: NodeSettings): Side => {
    const dir = `${d.path}/${name}`;
    git(d.path, 'init', '-q', '-b', 'main', name);
    const said = new Said();
    const node = new PeerNode(`${dir}/.git`, settings, said.say);
    t.after(() => node.stop());
    return { node, said, dir };
  };
  const settingsOfA = (over: Partial<NodeSettings> = {}): NodeSettings => ({ reachable: false, allowed: [KB], peers: [{ key: KB, fetch: ['+refs/heads/*:refs/remotes/b/*'] }], show: parseShowRules([]).rules, urls: [], ...over });
  const a = make('a', settingsOfA());
  const b = make('b', { reachable: false, allowed: [KA], peers: [{ key: KA, fetch: ['+refs/heads/*:refs/remotes/a/*'] }], show: parseShowRules([]).rules, urls: options.urlsOfB ?? [] });
  return { a, b, settingsOfA };
}

/** A dials B; both hold the link. */
async function link(a: Side, b: Side): Promise<void> {
  const [ours, theirs] = streamPair(KA, KB);
  const conn = adopt(a.node, ours);
  adopt(b.node, theirs);
  conn.openLink('run-of-a');
  await Promise.all([a.said.until((m) => m.type === 'up'), b.said.until((m) => m.type === 'up')]);
}

let pings = 0;
/** Everything B sent A before this call has been handled by A: a notice goes last and A forwards it. */
async function handledByA(a: Side, b: Side): Promise<void> {
  const text = `ping ${++pings}`;
  assert.ok(heldConn(b.node, KA)?.sendNotice(text));
  await a.said.until((m) => m.type === 'notice' && m.text === text);
}

const offersTo = (b: Side) => b.said.items.flatMap((m) => (m.type === 'refs' ? m.refs : []));

test('a node offers a peer the branches and tags it fetches, each value once, and not what it says it holds', T, async (t) => {
  const { a, b } = pairOfNodes(t);
  const main = commit(a.dir);
  const next = commit(a.dir);
  await link(a, b);
  await handledByA(a, b); // B's wants are known to A

  const told = a.node.offer(new Map([
    ['refs/heads/main', main],
    ['refs/remotes/origin/main', main], // no branch or tag of ours to show
    ['refs/heads/a..b', main], // no ref name at all
  ]));
  assert.equal(told, 1);
  await b.said.until((m) => m.type === 'refs');
  assert.deepEqual(offersTo(b), [['refs/heads/main', main]]);

  // The same value again costs nothing: not told.
  assert.equal(a.node.offer(new Map([['refs/heads/main', main]])), 0);

  // B says it holds `next` there already: no offer of it. A deletion of a ref it does not hold neither.
  // (Twice: its first list, sent on linking, may come after; only later lists are worth a log line.)
  heldConn(b.node, KA)!.sendHave([['refs/remotes/a/main', next]]);
  heldConn(b.node, KA)!.sendHave([['refs/remotes/a/main', next]]);
  await handledByA(a, b);
  assert.equal(a.node.offer(new Map([['refs/heads/main', next], ['refs/heads/gone', ZERO]])), 0);
  assert.ok(a.said.logs().includes(`${fingerprint(KB)} now holds 1 of our refs at new values`), a.said.logs().join('\n'));

  // Its main deleted here: that it lacks, since it holds one.
  assert.equal(a.node.offer(new Map([['refs/heads/main', ZERO]])), 1);
});

test('a notice is passed to a peer that is our remote and said it has that URL, to no other', T, async (t) => {
  const { a, b } = pairOfNodes(t, { urlsOfB: [URL] });
  await link(a, b);
  await handledByA(a, b); // B's URLs are known to A
  a.node.sendNotice('about another remote', 'https://example.org/other.git');
  a.node.sendNotice('about the shared remote', URL);
  const heard = await b.said.until((m) => m.type === 'notice');
  assert.deepEqual(heard, { type: 'notice', key: KA, text: 'about the shared remote' });
  assert.equal(b.said.items.filter((m) => m.type === 'notice').length, 1);
});

test('a peer that is only allowed to fetch from us is no device of ours: its notices are dropped', T, async (t) => {
  const { a, b, settingsOfA } = pairOfNodes(t);
  a.node.configure(settingsOfA({ peers: [] })); // B may fetch from A; A fetches nothing from B
  await link(a, b);
  heldConn(b.node, KA)!.sendNotice('you fetch from me, surely');
  // A later link message that A does log: once it is handled, the notice before it was too.
  heldConn(b.node, KA)!.sendHave([['refs/remotes/a/x', 'c'.repeat(40)]]);
  heldConn(b.node, KA)!.sendHave([['refs/remotes/a/y', 'c'.repeat(40)]]);
  await a.said.until((m) => m.type === 'log' && /now holds/.test(m.text));
  assert.equal(a.said.items.filter((m) => m.type === 'notice').length, 0);
});

test(`one key has at most ${CONNECTIONS_PER_KEY} connections; strangers are refused, said once a minute`, T, async (t) => {
  const { a } = pairOfNodes(t);
  const firewall = (key: string) => (a.node as unknown as { firewall(k: Buffer): boolean }).firewall(Buffer.from(key, 'hex'));
  const stranger = 'c'.repeat(64);
  assert.equal(firewall(stranger), true);
  assert.equal(firewall(stranger), true);
  assert.deepEqual(a.said.logs().filter((l) => l.includes(fingerprint(stranger))), [`refused a connection from an unknown key (fingerprint ${fingerprint(stranger)})`]);

  assert.equal(firewall(KB), false);
  const streams: Duplex[] = [];
  t.after(() => streams.forEach((s) => s.destroy()));
  for (let i = 0; i < CONNECTIONS_PER_KEY; i++) {
    const [, theirs] = streamPair(KB, KA); // B dialled A: A holds the answering end
    streams.push(theirs);
    adopt(a.node, theirs);
  }
  assert.equal(firewall(KB), true);
  // Handshakes that passed the firewall together: the one past the cap is closed as it arrives.
  const [, late] = streamPair(KB, KA);
  const closed = new Promise((resolve) => late.once('close', resolve));
  adopt(a.node, late);
  await closed;
  assert.ok(a.said.logs().includes(`refused a connection from ${fingerprint(KB)}: it has ${CONNECTIONS_PER_KEY} already`), a.said.logs().join('\n'));
});

test('a key that is no longer allowed loses its link, said in the log; the other side sees it down', T, async (t) => {
  const { a, b, settingsOfA } = pairOfNodes(t);
  await link(a, b);
  a.node.configure(settingsOfA({ allowed: [], peers: [] }));
  await b.said.until((m) => m.type === 'down');
  assert.ok(a.said.logs().includes(`closing the link to ${fingerprint(KB)}: its key is no longer allowed`), a.said.logs().join('\n'));
  await a.said.until((m) => m.type === 'down');
});

/** This process's upload-packs of the repository in `dir`, by pid. */
const uploadPacks = (dir: string) => descendantsOf(process.pid).filter((pid) => commandLine(pid).includes('upload-pack') && commandLine(pid).includes(dir));

/** Keeps `node` from opening sessions ahead on offers it hears: the test opens them itself. */
const noWarmUp = (node: PeerNode) => Object.assign(node, { warmUp: () => {} });
/** The upload-pack a node started for a linked peer's next session (private). */
const earlyFor = (node: PeerNode, key: string) => (node as unknown as { held: Map<string, { early?: { started?: StartedUploadPack } }> }).held.get(key)!;

/** The v0 advertisement a session starts with, as "<id> <ref>" lines, read up to its flush. */
function advertisement(pipe: ChannelStream): Promise<string[]> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      const lines: string[] = [];
      for (let at = 0; at + 4 <= text.length; ) {
        const length = parseInt(text.slice(at, at + 4), 16);
        if (length === 0) {
          pipe.off('data', onData);
          return resolve(lines);
        }
        if (at + length > text.length) break;
        lines.push(text.slice(at + 4, at + length).split('\0')[0]!.trimEnd());
        at += length;
      }
    };
    pipe.on('data', onData);
    pipe.once('close', () => reject(new Error(`the session ended before its advertisement was whole: ${JSON.stringify(text)}`)));
  });
}

test('an offer starts the upload-pack that the fetch it causes is served by: the peer\'s session takes it', T, async (t) => {
  const { a, b } = pairOfNodes(t);
  noWarmUp(b.node);
  commit(a.dir);
  await link(a, b);
  await handledByA(a, b);
  const held = earlyFor(a.node, KB);
  const next = commit(a.dir);
  assert.equal(a.node.offer(new Map([['refs/heads/main', next]])), 1);
  await eventually(() => held.early?.started !== undefined, 'A started an upload-pack for the offer', 3000);
  const early = held.early!.started!.child;

  const pipe = await heldConn(b.node, KA)!.openSession({ service: 'git-upload-pack', v2: true });
  assert.ok((await advertisement(pipe)).includes(`${next} refs/heads/main`));
  assert.equal(held.early, undefined, 'the session took it');
  assert.deepEqual(uploadPacks(a.dir), [early.pid], 'it serves the session: no other upload-pack was started');
  const ended = once(early, 'close');
  pipe.end('0000'); // no wants: the session is over
  await ended;
});

test('an early upload-pack is ended when a later offer replaces it, when no session takes it within 2 s, and when the node stops', T, async (t) => {
  const { a, b } = pairOfNodes(t);
  noWarmUp(b.node);
  const main = commit(a.dir);
  await link(a, b);
  await handledByA(a, b);
  const held = earlyFor(a.node, KB);
  const started = async () => {
    await eventually(() => held.early?.started !== undefined, 'A started an upload-pack for the offer', 3000);
    return held.early!.started!.child;
  };
  assert.equal(a.node.offer(new Map([['refs/heads/main', main]])), 1);
  const replaced = await started();
  assert.equal(a.node.offer(new Map([['refs/heads/main', commit(a.dir)]])), 1);
  assert.deepEqual(await once(replaced, 'close'), [null, 'SIGTERM']);

  const unclaimed = await started();
  assert.deepEqual(await once(unclaimed, 'close'), [null, 'SIGTERM']); // after 2 s
  assert.equal(held.early, undefined);

  assert.equal(a.node.offer(new Map([['refs/heads/main', commit(a.dir)]])), 1);
  const atStop = await started();
  const ended = once(atStop, 'close');
  await a.node.stop();
  assert.deepEqual(await ended, [null, 'SIGTERM']);
});
