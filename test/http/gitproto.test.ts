// ls-refs over git://, driven against a loopback TCP server in the test process that plays
// `git daemon`: the request line, the v2 exchange, and every way a server can fail it (v0, ERR,
// hanging up, speaking out of turn, too much, nothing at all).

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { listRefsGit, type GitListOptions } from '../../workers/http/gitproto.js';
import { FLUSH, pktLine, PktReader, type Packet } from '../../workers/wire/pktline.js';
import { NotV2Error, ProtocolError } from '../../workers/wire/lsrefs.js';
import { parseRemoteUrl } from '../../workers/http/urls.js';
import { collectGarbage } from '../support/heap.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const ADVERT = Buffer.concat([pktLine('version 2\n'), pktLine('agent=git/2.43\n'), pktLine('ls-refs=unborn\n'), FLUSH]);

interface Peer {
  port: number;
  /** Every packet each connection sent us, in order. */
  connections: { packets: Packet[]; ended: boolean; closed: boolean }[];
}

/** A server that calls `script` with the socket and the packets so far each time some arrive. */
async function serve(t: TestContext, script: (socket: net.Socket, packets: Packet[]) => void): Promise<Peer> {
  const peer: Peer = { port: 0, connections: [] };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    const connection = { packets: [] as Packet[], ended: false, closed: false };
    peer.connections.push(connection);
    const reader = new PktReader();
    socket.on('data', (chunk) => {
      connection.packets.push(...reader.push(chunk));
      script(socket, connection.packets);
    });
    socket.on('end', () => (connection.ended = true));
    socket.on('close', () => (connection.closed = true));
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  peer.port = (server.address() as net.AddressInfo).port;
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return peer;
}

function options(peer: Peer, over: Partial<GitListOptions> = {}, path = '/repo.git'): GitListOptions {
  return {
    url: parseRemoteUrl(`git://127.0.0.1:${peer.port}${path}`)!,
    prefixes: ['refs/heads/', 'refs/tags/'],
    signal: new AbortController().signal,
    timeoutMs: 10_000,
    maxBytes: 1024 * 1024,
    ...over,
  };
}

const text = (packet: Packet) => (packet.kind === 'data' ? packet.payload.toString('utf8') : packet.kind);

async function until(what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** A protocol v2 git daemon: the advertisement on the request, `refs` on the ls-refs command. */
function v2(refs: Buffer) {
  return (socket: net.Socket, packets: Packet[]) => {
    if (packets.length === 1) socket.write(ADVERT);
    else if (packets.at(-1)?.kind === 'flush' && packets.filter((p) => p.kind === 'flush').length === 1) socket.write(refs);
  };
}

test('a v2 server: the request names the path and host and asks for v2, and the refs come back', async (t) => {
  const peer = await serve(t, v2(Buffer.concat([pktLine(`${A} refs/heads/main\n`), pktLine(`${B} refs/tags/v1\n`), FLUSH])));
  const refs = await listRefsGit(options(peer, {}, '/my%20repo.git'));
  assert.deepEqual([...refs], [['refs/heads/main', A], ['refs/tags/v1', B]]);
  const [connection] = peer.connections;
  await until('the client to end its side', () => connection.ended);
  assert.equal(text(connection.packets[0]), `git-upload-pack /my repo.git\0host=127.0.0.1:${peer.port}\0\0version=2\0`);
  const command = connection.packets.slice(1).map(text);
  assert.deepEqual(command.slice(0, 1), ['command=ls-refs\n']);
  assert.ok(command.includes('ref-prefix refs/heads/\n') && command.includes('ref-prefix refs/tags/\n'), 'one ref-prefix per prefix');
  // Then a flush that says "no more commands", and our end of the connection closed.
  assert.deepEqual(command.slice(-2), ['flush', 'flush']);
});

test('a server that answers with a v0 advertisement: NotV2Error, for git ls-remote to take over', async (t) => {
  const peer = await serve(t, (socket, packets) => {
    if (packets.length === 1) socket.write(Buffer.concat([pktLine(`${A} HEAD\0multi_ack side-band-64k\n`), FLUSH]));
  });
  await assert.rejects(listRefsGit(options(peer, { timeoutMs: 2000 })), NotV2Error);
  await until('the connection to be closed', () => peer.connections[0].closed);
  assert.equal(peer.connections[0].packets.length, 1, 'no command is sent to a v0 server');
});

test('an ERR from the server is reported with its words', async (t) => {
  const peer = await serve(t, (socket) => socket.write(pktLine('ERR access denied or repository not exported: /repo.git\n')));
  await assert.rejects(listRefsGit(options(peer)), (err: Error) => {
    assert.ok(!(err instanceof NotV2Error), 'git would fail the same way: no fallback');
    assert.match(err.message, /the server said: access denied or repository not exported: \/repo\.git$/);
    return true;
  });
});

test('a server that hangs up without a word: asks whether the repository is exported', async (t) => {
  const peer = await serve(t, (socket) => socket.end());
  await assert.rejects(listRefsGit(options(peer)), /closed the connection \(is the repository exported\?\)/);
});

for (const [what, extra] of [
  ['a whole packet', pktLine(`${A} refs/heads/main\n`)],
  ['part of a packet', Buffer.from(`0032${A.slice(0, 10)}`)],
] as const) {
  test(`a server that speaks after its advertisement before being asked (${what}) breaks the protocol`, async (t) => {
    const peer = await serve(t, (socket, packets) => {
      if (packets.length === 1) socket.write(Buffer.concat([ADVERT, extra]));
    });
    await assert.rejects(listRefsGit(options(peer, { timeoutMs: 2000 })), (err: Error) => err instanceof ProtocolError && /spoke before being asked/.test(err.message));
  });
}

test('an answer over maxBytes is cut at the bound', async (t) => {
  const line = pktLine(`${A} refs/heads/${'x'.repeat(200)}\n`);
  let written = 0;
  const peer = await serve(t, (socket, packets) => {
    if (packets.length === 1) socket.write(ADVERT);
    else if (packets.at(-1)?.kind === 'flush') {
      // Well-formed ref lines without end.
      const pump = () => {
        const piece = Buffer.concat(Array.from({ length: 64 }, () => line));
        while (!socket.destroyed && ((written += piece.length), socket.write(piece)));
      };
      socket.on('drain', pump);
      pump();
    }
  });
  await assert.rejects(listRefsGit(options(peer, { maxBytes: 64 * 1024 })), (err: Error) => err instanceof ProtocolError && /over 65536 bytes/.test(err.message));
  await until('the client to close the connection', () => peer.connections[0].closed);
  assert.ok(written < 64 * 1024 + 8 * 1024 * 1024, `the client stopped reading soon after the bound (the server wrote ${written} bytes)`);
});

test('a ref list cut short by the server closing is a protocol error', async (t) => {
  const peer = await serve(t, (socket, packets) => {
    if (packets.length === 1) socket.write(ADVERT);
    else if (packets.at(-1)?.kind === 'flush') socket.end(pktLine(`${A} refs/heads/main\n`));
  });
  await assert.rejects(listRefsGit(options(peer)), (err: Error) => err instanceof ProtocolError && /cut short/.test(err.message));
});

test('a server that never answers: the listing gives up after timeoutMs, garbage collection or not', { timeout: 10_000 }, async (t) => {
  const peer = await serve(t, () => {});
  const listing = listRefsGit(options(peer, { timeoutMs: 200 }));
  // A collection before the deadline took AbortSignal.timeout's timer away (shared/kit/deadline.ts).
  for (let i = 0; i < 3; i++) {
    collectGarbage();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await assert.rejects(listing, (err: Error) => {
    assert.equal(err.message, `no answer from git://127.0.0.1:${peer.port}/repo.git within 0.2 s`);
    return true;
  });
  await until('the connection to be closed', () => peer.connections[0]?.closed === true);
});

test('the caller\'s abort rejects with the caller\'s reason, not a timeout', async (t) => {
  const peer = await serve(t, () => {});
  const controller = new AbortController();
  const listed = listRefsGit(options(peer, { signal: controller.signal }));
  await until('the request to arrive', () => peer.connections[0]?.packets.length === 1);
  const reason = new Error('the session is closing');
  controller.abort(reason);
  await assert.rejects(listed, (err) => err === reason);
});
