// Opens exec channels on one held ssh connection without ever exceeding what the server allows.
//
// OpenSSH refuses a channel beyond its MaxSessions (default 10) per connection. The notifier holds
// one channel for as long as the connection lives, every fetch and ref listing takes another, and
// a burst of fetches must wait for a free slot rather than fail. A server configured below our
// limit refuses an open while we believe a slot is free: then the limit drops to what was in use
// when it refused, and the request waits in the queue like any other.

import type { Client, ClientChannel } from 'ssh2';

/** Leaves two of OpenSSH's default ten sessions free for anything else sharing the server's limit. */
export const DEFAULT_CHANNEL_LIMIT = 8;

export interface ExecOptions {
  /** Environment requests sent with the channel (the server applies only what it AcceptEnv's). */
  env?: Record<string, string>;
}

interface Waiter {
  command: string;
  options: ExecOptions;
  resolve(channel: ClientChannel): void;
  reject(error: Error): void;
}

export class ChannelQueue {
  private inUse = 0;
  private readonly waiting: Waiter[] = [];
  private closedWith: Error | undefined;

  constructor(
    private readonly client: Client,
    private limit = DEFAULT_CHANNEL_LIMIT,
  ) {}

  /** Channels open or being opened right now. */
  get active(): number {
    return this.inUse;
  }

  /** Slots free right now (less the requests already waiting for one). */
  get free(): number {
    return Math.max(0, this.limit - this.inUse - this.waiting.length);
  }

  /** Requests waiting for a free slot. */
  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Runs `command` on the server in a new exec channel once a slot is free. The slot is given back
   * when the channel closes. Rejects only when the connection is closed or the server refuses a
   * channel while none of ours is open (nothing to wait for).
   */
  exec(command: string, options: ExecOptions = {}): Promise<ClientChannel> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise((resolve, reject) => {
      this.waiting.push({ command, options, resolve, reject });
      this.pump();
    });
  }

  /** Fails every waiting request and all later ones with `reason`. Open channels are the caller's. */
  close(reason = new Error('ssh connection closed')): void {
    this.closedWith ??= reason;
    for (const waiter of this.waiting.splice(0)) waiter.reject(this.closedWith);
  }

  private pump(): void {
    while (!this.closedWith && this.inUse < this.limit && this.waiting.length > 0) {
      this.open(this.waiting.shift()!);
    }
  }

  private open(waiter: Waiter): void {
    this.inUse++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.inUse--;
      this.pump();
    };
    const options = waiter.options.env ? { env: waiter.options.env } : {};
    try {
      this.client.exec(waiter.command, options, (err, channel) => {
        if (err) {
          release();
          if (this.closedWith) return waiter.reject(this.closedWith);
          // "open failed" while others are open: the server's MaxSessions is below ours. Wait.
          if (isOpenRefused(err) && this.inUse > 0) {
            this.limit = Math.max(1, this.inUse);
            this.waiting.unshift(waiter);
            this.pump();
            return;
          }
          return waiter.reject(err);
        }
        channel.once('close', release);
        waiter.resolve(channel);
      });
    } catch (err) {
      // ssh2 throws synchronously when the connection is already gone.
      release();
      waiter.reject(this.closedWith ?? (err as Error));
    }
  }
}

function isOpenRefused(err: Error & { reason?: unknown }): boolean {
  // ssh2 reports a refused CHANNEL_OPEN as "(SSH) Channel open failure: <text>" with a numeric reason.
  return typeof err.reason === 'number' || /open failure/i.test(err.message);
}
