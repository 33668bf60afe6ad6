// A session over the held link for the daemon's direct fetch (workers/p2p/heldsession.ts), against
// a stand-in for the node's socket on a real unix socket: the request it makes, the answers it
// takes (ok, with the session's first bytes; error; nothing; nonsense), and the half-open session:
// the peer's end of it ends what is read, while our side stays open until we close it.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { openHeldSession } from '../../workers/p2p/heldsession.js';
import { tempDir } from '../support/git.js';

const PEER = 'cd'.repeat(32);

/** A node's socket that hands each connection to `serve` once its request line is in. */
async function nodeSocket(t: TestContext, serve: (socket: Socket, request: string) => void): Promise<string> {
  const d = tempDir('grd-heldsession-');
  t.after(d.cleanup);
  const path = join(d.path, 'p2p.sock');
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      const nl = buffered.indexOf('\n');
      if (nl < 0) return;
      socket.off('data', onData);
      serve(socket, buffered.slice(0, nl));
    };
    socket.on('data', onData);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  // Half-open sockets keep close() waiting: ended here first.
  t.after(() => new Promise<void>((resolve) => (server.close(() => resolve()), sockets.forEach((s) => s.destroy()))));
  return path;
}

test('asks for the peer by its key, takes "ok" and hands over the session with what came after the answer, as protocol v0', async (t) => {
  let request = '';
  const path = await nodeSocket(t, (socket, line) => {
    request = line;
    socket.write('ok\n0008NAK\n');
    socket.on('data', (d: Buffer) => socket.write(`echo:${d.toString()}`));
  });
  const opened = await openHeldSession(path, PEER);
  assert.deepEqual(JSON.parse(request), { peer: PEER, v2: true });
  assert.equal(opened.version, 0);
  assert.deepEqual(opened.early.map((b) => b.toString()), ['0008NAK\n']);
  const heard: string[] = [];
  opened.channel.on('data', (d) => heard.push(d.toString()));
  opened.channel.write(Buffer.from('want'));
  const deadline = Date.now() + 5000;
  while (!heard.join('').includes('echo:want') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.equal(heard.join(''), 'echo:want');
  opened.channel.close();
});

test('the node\'s "error <why>" is the rejection; so are a close without an answer, an answer with no end of line, and silence', async (t) => {
  const refusing = await nodeSocket(t, (socket) => socket.end('error the peer is not linked\n'));
  await assert.rejects(openHeldSession(refusing, PEER), /^Error: the peer is not linked$/);
  const closing = await nodeSocket(t, (socket) => socket.destroy());
  await assert.rejects(openHeldSession(closing, PEER), /closed its socket without a session/);
  const rambling = await nodeSocket(t, (socket) => socket.write('x'.repeat(5000)));
  await assert.rejects(openHeldSession(rambling, PEER), /answered with no end of line/);
  const silent = await nodeSocket(t, () => {});
  await assert.rejects(openHeldSession(silent, PEER, 200), /did not answer within 0.2 s/);
  await assert.rejects(openHeldSession(join(tempDir('grd-heldsession-none-').path, 'none.sock'), PEER), /the peer node's socket: .*ENOENT/);
});

test('half-open: the peer\'s end of the session ends what is read, and the node sees our side close only when we close it', async (t) => {
  let ourSideClosed = false;
  const path = await nodeSocket(t, (socket) => {
    socket.write('ok\n');
    socket.end(); // the peer's upload-pack is done
    socket.on('end', () => (ourSideClosed = true));
  });
  const opened = await openHeldSession(path, PEER);
  const ended = new Promise<void>((resolve) => opened.channel.once('close', resolve));
  opened.channel.on('data', () => {});
  await ended;
  await new Promise((r) => setTimeout(r, 50)); // room for a wrong auto-end to arrive; none must
  assert.equal(ourSideClosed, false, 'our side stayed open after the peer ended its side');
  opened.channel.close();
  const deadline = Date.now() + 5000;
  while (!ourSideClosed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.equal(ourSideClosed, true);
});
