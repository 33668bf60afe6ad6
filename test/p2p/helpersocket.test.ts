// The peer node's socket for git-remote-p2p (workers/p2p/helpersocket.ts), on a real unix socket in
// a temporary directory, with sessions faked by in-memory streams: the request line, both kinds of
// answer, the session joined to the socket (bytes sent with the request included), and refusals.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Server } from 'node:net';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { listenForHelpers } from '../../workers/p2p/helpersocket.js';
import type { ChannelStream } from '../../workers/p2p/channelstream.js';
import type { FromNode } from '../../workers/p2p/nodeapi.js';
import { tempDir } from '../support/git.js';
import { eventually } from '../support/daemon.js';

const PEER = 'ab'.repeat(32);

/**
 * A session that echoes what it is sent: stands in for a channel to the peer. Like a ChannelStream
 * it is not destroyed by its ends alone.
 */
function echoSession(): ChannelStream & PassThrough {
  return new PassThrough({ autoDestroy: false }) as unknown as ChannelStream & PassThrough;
}

interface Node {
  path: string;
  server: Server | undefined;
  opened: { peer: string; v2: boolean }[];
  said: FromNode[];
}

async function node(t: TestContext, open: (peer: string, v2: boolean) => Promise<ChannelStream>, leftover = false): Promise<Node> {
  const d = tempDir('grd-helpersocket-');
  t.after(d.cleanup);
  const path = join(d.path, 'p2p.sock');
  if (leftover) writeFileSync(path, 'left by a daemon killed with -9');
  const opened: Node['opened'] = [];
  const said: FromNode[] = [];
  const server = await listenForHelpers(
    path,
    (peer, v2) => {
      opened.push({ peer, v2 });
      return open(peer, v2);
    },
    (m) => said.push(m),
  );
  t.after(() => server?.close());
  return { path, server, opened, said };
}

/** Connects, writes `text` (then ends its side when `end`), and resolves with all that came back. */
function ask(path: string, text: string | Buffer, end = true): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString()));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
    if (end) socket.end(text);
    else socket.write(text);
  });
}

test('a request naming a peer is answered ok, and the socket becomes the session, bytes after the request included', async (t) => {
  const n = await node(t, async () => echoSession());
  const answer = await ask(n.path, `${JSON.stringify({ peer: PEER, v2: true })}\n0014command=ls-refs\n`);
  assert.equal(answer, 'ok\n0014command=ls-refs\n', 'answered, then the session echoed what followed the request');
  assert.deepEqual(n.opened, [{ peer: PEER, v2: true }]);
  assert.equal(n.said.length, 1);
  assert.match(JSON.stringify(n.said[0]), /git fetch goes over the held link to /);
});

test('for git itself (answer: git) an open session is an empty line, a refused one a line saying why', async (t) => {
  let refuse = false;
  const n = await node(t, async () => {
    if (refuse) throw new Error('the peer is not linked\nright now');
    return echoSession();
  });
  assert.equal(await ask(n.path, `${JSON.stringify({ peer: PEER, answer: 'git' })}\n`), '\n');
  assert.deepEqual(n.opened.at(-1), { peer: PEER, v2: false }, 'v2 only when asked for');
  refuse = true;
  assert.equal(await ask(n.path, `${JSON.stringify({ peer: PEER, answer: 'git' })}\n`), 'git-remote-p2p: no session with the peer: the peer is not linked right now\n');
  assert.equal(await ask(n.path, `${JSON.stringify({ peer: PEER })}\n`), 'error the peer is not linked right now\n', 'one line, for the thick helper');
});

test('a request that does not name a peer is refused without opening anything', async (t) => {
  const n = await node(t, async () => echoSession());
  assert.equal(await ask(n.path, `${JSON.stringify({ peer: 'ab' })}\n`), 'error bad request\n');
  assert.equal(await ask(n.path, `${JSON.stringify({ peer: PEER.toUpperCase() })}\n`), 'error bad request\n');
  assert.match(await ask(n.path, 'not json\n'), /^error .+\n$/);
  assert.deepEqual(n.opened, []);
});

test('a request line that never ends is cut off past 4 KiB, unanswered', async (t) => {
  const n = await node(t, async () => echoSession());
  const started = Date.now();
  assert.equal(await ask(n.path, 'x'.repeat(8192), false), '');
  assert.ok(Date.now() - started < 5000, 'at once, not when the 10 s request timeout ends it');
  assert.deepEqual(n.opened, []);
});

test('a session that fails ends the helper\'s socket and is logged with its reason; a helper that hangs up ends the session', async (t) => {
  const sessions: (ChannelStream & PassThrough)[] = [];
  const n = await node(t, async () => {
    const s = echoSession();
    sessions.push(s);
    return s;
  });
  const failed = ask(n.path, `${JSON.stringify({ peer: PEER })}\n`, false);
  await eventually(() => sessions.length === 1 && n.said.length === 1, 'the session open');
  (sessions[0] as { reason?: string }).reason = 'flow control violated';
  sessions[0].destroy();
  assert.equal(await failed, 'ok\n');
  await eventually(() => n.said.length === 2, 'the failure logged');
  assert.match(JSON.stringify(n.said[1]), /git session to .+ failed: flow control violated"/);

  // A helper killed mid-session: its socket closes without an end.
  const helper = connect(n.path);
  helper.on('error', () => {});
  helper.write(`${JSON.stringify({ peer: PEER })}\n`);
  await once(helper, 'data');
  helper.destroy();
  await eventually(() => sessions.length === 2 && sessions[1].destroyed, 'the second session ended with its socket');
});

test('a socket file left over is replaced; a place no socket can be made is a condition, not a failure', async (t) => {
  const n = await node(t, async () => echoSession(), true);
  assert.ok(n.server);
  assert.equal(await ask(n.path, `${JSON.stringify({ peer: PEER })}\n`), 'ok\n');
  const said: FromNode[] = [];
  const d = tempDir('grd-helpersocket-');
  t.after(d.cleanup);
  const server = await listenForHelpers(join(d.path, 'missing', 'p2p.sock'), async () => echoSession(), (m) => said.push(m));
  assert.equal(server, undefined);
  assert.equal(said.length, 1);
  assert.match(JSON.stringify(said[0]), /"type":"condition".*git fetch cannot use the held links/);
});

test('a session is over for its judge only once the peer ended it and the helper closed its socket; the helper closing ends it', async (t) => {
  const overs: Promise<void>[] = [];
  const sessions: (ChannelStream & PassThrough)[] = [];
  const d = tempDir('grd-helpersocket-over-');
  t.after(d.cleanup);
  const path = join(d.path, 'p2p.sock');
  const server = await listenForHelpers(
    path,
    async (_peer, _v2, over) => {
      overs.push(over);
      const session = echoSession();
      sessions.push(session);
      return session;
    },
    () => {},
  );
  t.after(() => server?.close());
  const settled = (p: Promise<void>) => Promise.race([p.then(() => true), new Promise((r) => setTimeout(() => r(false), 100))]);
  // The peer ends first; the helper (a direct fetch storing what came) closes later.
  const helper = connect({ path, allowHalfOpen: true });
  helper.write(`${JSON.stringify({ peer: PEER, v2: true })}\n`);
  helper.on('data', () => {});
  await eventually(() => sessions.length === 1, 'the session to open');
  sessions[0]!.destroy();
  sessions[0]!.emit('close');
  assert.equal(await settled(overs[0]!), false, 'not over while the helper holds its side');
  helper.destroy();
  assert.equal(await settled(overs[0]!), true, 'over once both sides are');
  // The helper closes first: that ends the session too (its pipe is destroyed with the socket).
  const second = connect(path);
  second.write(`${JSON.stringify({ peer: PEER, v2: true })}\n`);
  second.on('data', () => {});
  await eventually(() => sessions.length === 2, 'the second session to open');
  assert.equal(await settled(overs[1]!), false, 'not over while both sides run');
  second.destroy();
  assert.equal(await settled(overs[1]!), true);
});
