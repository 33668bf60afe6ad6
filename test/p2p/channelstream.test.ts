// A git session's byte stream over one protomux channel (workers/p2p/channelstream.ts), without a
// DHT: two protomux instances over a pair of in-memory secret streams, as protomux's own tests
// pair them. Bytes arrive whole, in order and only within the credit window; a peer that breaks
// the window or fails the session is cut off with its reason.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import c from 'compact-encoding';
import Protomux, { type Channel } from 'protomux';
import { channelStream, WINDOW, type ChannelStream } from '../../workers/p2p/channelstream.js';
import { eventually } from '../support/daemon.js';

// hyperdht's own transport stream, paired in memory (no network); untyped, hence require.
const SecretStream = createRequire(import.meta.url)('@hyperswarm/secret-stream') as new (initiator: boolean) => Duplex & { rawStream: Duplex };

interface Side {
  channel: Channel;
  opened: Promise<void>;
  closed: Promise<void>;
}

/** One channel of protocol `test` on each of two connected muxes; `make` registers its messages. */
function pair<A, B>(t: TestContext, makeA: (channel: Channel) => A, makeB: (channel: Channel) => B): { a: A; b: B; sides: [Side, Side] } {
  const sa = new SecretStream(true);
  const sb = new SecretStream(false);
  sa.rawStream.pipe(sb.rawStream).pipe(sa.rawStream);
  const side = (stream: Duplex, onclose: () => void): Side => {
    let opened!: () => void;
    let closed!: () => void;
    const result = { opened: new Promise<void>((r) => (opened = r)), closed: new Promise<void>((r) => (closed = r)) };
    const channel = Protomux.from(stream).createChannel({
      protocol: 'test',
      onopen: () => opened(),
      onclose: () => {
        onclose();
        closed();
      },
    })!;
    return { ...result, channel };
  };
  let a!: A;
  let b!: B;
  const left = side(sa, () => (a as unknown as Partial<ChannelStream>).channelClosed?.());
  const right = side(sb, () => (b as unknown as Partial<ChannelStream>).channelClosed?.());
  a = makeA(left.channel);
  b = makeB(right.channel);
  left.channel.open();
  right.channel.open();
  t.after(() => {
    sa.destroy();
    sb.destroy();
  });
  return { a, b, sides: [left, right] };
}

/** The messages channelStream registers, in its order, for a peer that does not keep the rules. */
function rawPeer(channel: Channel) {
  const heard: { fail?: string } = {};
  return {
    data: channel.addMessage({ encoding: c.buffer }),
    credit: channel.addMessage({ encoding: c.uint }),
    end: channel.addMessage({ encoding: c.none }),
    fail: channel.addMessage({ encoding: c.string, onmessage: (text) => (heard.fail = text) }),
    heard,
  };
}

/** Everything up to the peer's end. Not `for await`: that destroys the stream when it ends. */
function readAll(stream: ChannelStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  stream.resume();
  return new Promise((resolve, reject) => {
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

test('bytes arrive whole and in order, several windows of them; ends both ways close the channel', async (t) => {
  const { a, b, sides } = pair(t, channelStream, channelStream);
  await Promise.all(sides.map((s) => s.opened));
  assert.equal(a.fresh, true);
  const sent = randomBytes(3 * WINDOW + 12345);
  const [received] = await Promise.all([readAll(b), new Promise<void>((resolve) => a.end(sent, resolve))]);
  assert.ok(received.equals(sent), `${received.length} of ${sent.length} bytes, in order`);
  assert.equal(b.fresh, false, 'the peer ended it');
  b.end();
  await readAll(a);
  await Promise.all(sides.map((s) => s.closed));
  assert.equal(a.reason, undefined);
  assert.equal(b.reason, undefined);
});

test('a reader that does not read holds the sender to one window in flight', async (t) => {
  const { a, b, sides } = pair(t, channelStream, channelStream);
  await Promise.all(sides.map((s) => s.opened));
  b.pause();
  let written = false;
  // 70 KiB first, past the reader's high-water mark so none of it is granted back: the window's
  // end then falls inside a 64 KiB chunk of what follows.
  a.write(randomBytes(70 * 1024));
  a.write(randomBytes(2 * WINDOW - 70 * 1024), () => (written = true));
  await eventually(() => b.readableLength >= WINDOW, 'a window to arrive');
  await new Promise((resolve) => setImmediate(resolve));
  // Credit goes back only while the reader's buffer is under its high-water mark.
  assert.ok(b.readableLength <= WINDOW + b.readableHighWaterMark, `${b.readableLength} bytes buffered: no more than the window past the high-water mark`);
  assert.equal(b.destroyed, false, 'the sender kept to its window');
  assert.equal(written, false, 'the rest waits for credit');
  const received = readAll(b);
  a.end();
  assert.equal((await received).length, 2 * WINDOW, 'all of it once read');
  assert.equal(written, true);
});

test('a peer that sends past the window is cut off and told why', async (t) => {
  const { a, b, sides } = pair(t, rawPeer, channelStream);
  await Promise.all(sides.map((s) => s.opened));
  b.pause(); // reads nothing, so grants no credit back
  const piece = Buffer.alloc(64 * 1024);
  for (let sent = 0; sent <= WINDOW; sent += piece.length) a.data.send(piece);
  await eventually(() => b.destroyed, 'the session cut off');
  assert.equal(b.reason, 'flow control violated: sent past the window');
  await eventually(() => a.heard.fail !== undefined, 'the peer told');
  assert.equal(a.heard.fail, 'flow control violated: sent past the window');
});

test('a peer that grants more credit than the window is cut off', async (t) => {
  const { a, b, sides } = pair(t, rawPeer, channelStream);
  await Promise.all(sides.map((s) => s.opened));
  a.credit.send(1);
  await eventually(() => b.destroyed, 'the session cut off');
  assert.equal(b.reason, 'flow control violated: credit past the window');
});

test('a failed session ends the other side with the reason, cut to 500 characters, as an error for whoever listens', async (t) => {
  const { a, b, sides } = pair(t, channelStream, channelStream);
  await Promise.all(sides.map((s) => s.opened));
  const error = once(b, 'error');
  a.fail('x'.repeat(600));
  const [err] = (await error) as [Error];
  assert.equal(err.message, 'x'.repeat(500));
  assert.equal(b.reason, 'x'.repeat(500));
  assert.equal(a.reason, 'x'.repeat(600));
  assert.equal(a.fresh, false);
});

test('a channel closed before the peer\'s end is a broken session; after it, a normal end', async (t) => {
  const { a, b, sides } = pair(t, channelStream, channelStream);
  await Promise.all(sides.map((s) => s.opened));
  b.destroy(); // closes its channel without an end
  await eventually(() => a.destroyed, 'the session ended');
  assert.equal(a.reason, 'the peer closed the session');

  const second = pair(t, channelStream, channelStream);
  await Promise.all(second.sides.map((s) => s.opened));
  second.a.end(Buffer.from('done'));
  assert.equal((await readAll(second.b)).toString(), 'done');
  second.b.destroy();
  await eventually(() => second.a.destroyed || second.a.writableFinished, 'the session over');
  assert.equal(second.a.reason, undefined, 'the peer had ended: nothing broke');
});
