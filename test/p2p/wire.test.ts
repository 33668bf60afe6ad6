// What a peer can send is bounded: a sender that ignores the credit window is cut off, a change
// notice naming refs we would never advertise closes the link, a session for anything but
// upload-pack is refused; a well-behaved byte stream arrives whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import c from 'compact-encoding';
import DHT from 'hyperdht';
import createTestnet from 'hyperdht/testnet.js';
import { WINDOW } from '../../workers/p2p/channelstream.js';
import { PeerConnection, type ConnectionHandlers } from '../../workers/p2p/wire.js';
import type { ChannelStream } from '../../workers/p2p/channelstream.js';

async function pair(t: { after(fn: () => unknown): void }, serverHandlers: ConnectionHandlers) {
  const testnet = await createTestnet(3);
  const a = testnet.createNode();
  const b = new DHT({ bootstrap: testnet.bootstrap, host: '127.0.0.1', ephemeral: false, firewalled: false });
  const keyPair = DHT.keyPair();
  let server!: PeerConnection;
  let accept!: (conn: PeerConnection) => void;
  const accepted = new Promise<PeerConnection>((resolve) => (accept = resolve));
  await b
    .createServer({}, (stream) => {
      stream.on('error', () => {});
      server = new PeerConnection(stream, serverHandlers);
      server.acceptLinks('server');
      accept(server);
    })
    .listen(keyPair);
  const stream = a.connect(keyPair.publicKey);
  stream.on('error', () => {});
  const client = new PeerConnection(stream, {});
  t.after(async () => {
    client.close();
    server?.close();
    await Promise.all([a.destroy({ force: true }), b.destroy({ force: true })]);
    await testnet.destroy();
  });
  await accepted;
  return { client, closed: new Promise<void>((resolve) => stream.on('close', () => resolve())) };
}

test('a session streams bytes both ways, whole, past many windows', async (t) => {
  const payload = randomBytes(3 * WINDOW + 12345);
  const { client } = await pair(t, {
    session: (pipe) => pipe.pipe(pipe), // echo
  });
  const pipe = await client.openSession({ service: 'git-upload-pack', v2: true });
  const chunks: Buffer[] = [];
  pipe.on('data', (d: Buffer) => chunks.push(d));
  const ended = new Promise((resolve) => pipe.on('end', resolve));
  pipe.end(payload);
  await ended;
  assert.ok(Buffer.concat(chunks).equals(payload));
});

test('a sender that ignores the credit window is cut off', async (t) => {
  let serverPipe!: ChannelStream;
  const failed = new Promise<Error>((resolve) => {
    void pair(t, {
      session: (pipe) => {
        serverPipe = pipe; // never read: no credit is granted back
        pipe.on('error', resolve);
      },
    }).then(({ client }) => {
      // A rogue client: the same channel and message layout, but it sends regardless of credit.
      const channel = client.mux.createChannel({ protocol: 'grd/git/1', id: randomBytes(16), handshake: c.json })!;
      const data = channel.addMessage({ encoding: c.buffer });
      channel.open({ service: 'git-upload-pack', v2: true });
      const chunk = Buffer.alloc(64 * 1024);
      for (let sent = 0; sent <= WINDOW + chunk.length; sent += chunk.length) data.send(chunk);
    });
  });
  assert.match((await failed).message, /flow control violated/);
  assert.ok(serverPipe.destroyed);
});

test('a change notice naming a ref we would never advertise closes the link', async (t) => {
  const why: string[] = [];
  const notices: unknown[] = [];
  const { client, closed } = await pair(t, { violation: (w) => why.push(w), refs: (r) => notices.push(r) });
  client.openLink('client');
  client.sendRefs([['refs/heads/ok', 'a'.repeat(40)]]);
  client.sendRefs([['refs/private/secret', 'b'.repeat(40)]]);
  await closed;
  assert.deepEqual(notices, [[['refs/heads/ok', 'a'.repeat(40)]]]);
  assert.match(why[0], /a change notice with a ref we would not advertise/);
});

test('a session for anything but upload-pack is refused with a reason', async (t) => {
  let served = 0;
  const { client } = await pair(t, { session: () => served++ });
  const channel = client.mux.createChannel({ protocol: 'grd/git/1', id: randomBytes(16), handshake: c.json })!;
  const failed = new Promise<string>((resolve) => {
    channel.addMessage({ encoding: c.buffer });
    channel.addMessage({ encoding: c.uint });
    channel.addMessage({ encoding: c.none });
    channel.addMessage({ encoding: c.string, onmessage: resolve });
  });
  channel.open({ service: 'git-receive-pack' });
  assert.match(await failed, /peers serve fetches only/);
  assert.equal(served, 0);
});
