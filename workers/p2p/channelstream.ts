// A byte stream (a git session) over one protomux channel. protomux carries messages and has no
// per-channel flow control (it can only pause the whole connection, which would stall the change
// notices beside a big fetch), so this adds a credit window: a side sends only what the other has
// room for, and the receiver grants more as its reader drains. A peer that sends past its window is
// cut off: what it can make us buffer is bounded by WINDOW.

import { Duplex } from 'node:stream';
import c from 'compact-encoding';
import type { Channel, Message } from 'protomux';

/** Bytes in flight per direction; 1 MiB keeps a transcontinental link busy without much memory. */
export const WINDOW = 1 << 20;
const CHUNK = 64 * 1024;

/** One session's messages, registered on its channel before it opens. */
export interface StreamMessages {
  data: Message<Buffer | null>;
  credit: Message<number>;
  end: Message<null>;
  fail: Message<string>;
}

/** Adds the stream's message types to `channel` (in this order on both sides) and wraps it. */
export function channelStream(channel: Channel): ChannelStream {
  let stream!: ChannelStream;
  const messages: StreamMessages = {
    data: channel.addMessage({ encoding: c.buffer, onmessage: (b) => stream.received(b) }),
    credit: channel.addMessage({ encoding: c.uint, onmessage: (n) => stream.granted(n) }),
    end: channel.addMessage({ encoding: c.none, onmessage: () => stream.ended() }),
    fail: channel.addMessage({ encoding: c.string, onmessage: (text) => stream.abort(text.slice(0, 500)) }),
  };
  stream = new ChannelStream(channel, messages);
  return stream;
}

export class ChannelStream extends Duplex {
  private credit = WINDOW;
  /** Received and not yet granted back: never more than WINDOW from a peer that keeps the rules. */
  private unacked = 0;
  private waiting: (() => void) | undefined;

  constructor(
    private readonly channel: Channel,
    private readonly messages: StreamMessages,
  ) {
    super({ allowHalfOpen: true });
    this.on('end', () => this.writableFinished && this.channel.close());
  }

  /** The peer said it is done sending: what it sent is still ours to read after its channel closes. */
  private endReceived = false;

  /** Neither side has ended or broken it yet: a session someone could still start using. */
  get fresh(): boolean {
    return !this.endReceived && !this.destroyed && !this.writableEnded && !this.channel.closed;
  }

  /** The channel closed under us: before the peer's end that is a broken session, after it is normal. */
  channelClosed(): void {
    if (this.destroyed) return;
    if (!this.endReceived) return this.abort('the peer closed the session');
    if (!this.writableEnded) this.end();
  }

  ended(): void {
    this.endReceived = true;
    this.push(null);
  }

  /**
   * Tells the other side why, then ends. An error only for whoever listens: a session refused before
   * anyone took it must not become an uncaught exception that a peer could use to kill the node.
   */
  fail(text: string): void {
    this.messages.fail.send(text);
    this.abort(text);
  }

  /** Why the session ended early, if it did: for whoever looks after it closed. */
  reason: string | undefined;

  abort(text: string): void {
    this.reason ??= text;
    this.destroy(this.listenerCount('error') > 0 ? new Error(text) : undefined);
  }

  received(buffer: Buffer | null): void {
    if (!buffer || this.destroyed) return;
    this.unacked += buffer.length;
    if (this.unacked > WINDOW) return this.fail('flow control violated: sent past the window');
    if (this.push(buffer)) this.grant();
  }

  granted(bytes: number): void {
    this.credit += bytes;
    if (this.credit > WINDOW) return this.fail('flow control violated: credit past the window');
    const w = this.waiting;
    this.waiting = undefined;
    w?.();
  }

  override _read(): void {
    this.grant();
  }

  private grant(): void {
    if (this.unacked === 0) return;
    this.messages.credit.send(this.unacked);
    this.unacked = 0;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    void this.send(chunk).then(() => callback(), callback);
  }

  private async send(chunk: Buffer): Promise<void> {
    for (let at = 0; at < chunk.length; ) {
      if (this.channel.closed) return; // the peer is gone and wants no more: nothing to deliver
      while (this.credit <= 0) {
        if (this.destroyed || this.channel.closed) return;
        await new Promise<void>((resolve) => (this.waiting = resolve));
      }
      const piece = chunk.subarray(at, at + Math.min(CHUNK, this.credit));
      this.messages.data.send(piece);
      this.credit -= piece.length;
      at += piece.length;
    }
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.messages.end.send(null);
    callback();
    if (this.readableEnded) this.channel.close();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.();
    this.channel.close();
    callback(err);
  }
}
