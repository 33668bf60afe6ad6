// Runs the notifier (`git-remote-daemon notifychanges '<path>'`, or `git-annex-shell notifychanges`)
// in an exec channel on the held connection and reads what it says: READY once it watches, then
// `CHANGED <sha>...` per batch of ref updates (src/server/notifywire.ts).
//
// A server without a notifier answers in many ways (exit 127, "command not found", git-shell's
// "unrecognized command", a login banner...): anything but READY as the first line, or no READY in
// time, counts as "no notifier here", so the caller can fall back to polling instead of
// reconnecting in a loop.

import type { ClientChannel } from 'ssh2';
import { parseNotifyLine } from '../../src/server/notifywire.js';
import { sqQuote } from '../../src/server/sqquote.js';
import type { ChannelQueue } from './channels.js';

/**
 * Longest line accepted. git-annex-shell writes every sha of one ~50 ms batch on one line, so a
 * push of many refs makes a long line: 1 MiB holds ~25,000 SHA-1s (~16,000 SHA-256s), far beyond a
 * real push, and is still a trivial, fixed amount of memory per connection. Longer is an error.
 */
export const MAX_NOTIFY_LINE_BYTES = 1024 * 1024;
/** A notifier that neither says READY nor exits within this long is not one. */
export const READY_TIMEOUT_MS = 20_000;
/** Remote stderr kept to explain a missing notifier. */
const MAX_STDERR_BYTES = 4096;

export const DEFAULT_NOTIFIER = 'git-remote-daemon notifychanges';

/** The notifier broke its protocol after READY: the connection is no longer trustworthy. */
export class NotifierProtocolError extends Error {
  override name = 'NotifierProtocolError';
}

export type NotifierStart =
  | { kind: 'ready'; notifier: RunningNotifier }
  /** The remote has no working notifier; `reason` says what it did instead (for the WARNING). */
  | { kind: 'missing'; reason: string };

export interface RunningNotifier {
  /** Rejects when the notifier ends or breaks the protocol; resolves after close(). */
  readonly ended: Promise<void>;
  /** Sends EOF (notifychanges exits on stdin EOF) and closes the channel. Idempotent. */
  close(): void;
}

export interface NotifierHandlers {
  changed(shas: string[]): void;
  /** A line after READY that is not a CHANGED line: worth a warning, not a reconnect. */
  garbage(line: string): void;
  log(text: string): void;
}

/** The command line run on the server: the notifier and the git-quoted repository path. */
export function notifierCommand(notifier: string | undefined, path: string): string {
  const command = notifier?.trim() || DEFAULT_NOTIFIER;
  return `${command} ${sqQuote(path)}`;
}

export async function startNotifier(
  queue: ChannelQueue,
  command: string,
  handlers: NotifierHandlers,
  readyTimeoutMs = READY_TIMEOUT_MS,
): Promise<NotifierStart> {
  const channel = await queue.exec(command);
  return new Promise<NotifierStart>((resolveStart) => {
    let ready = false;
    let closing = false;
    let exitCode: number | null | undefined;
    let stderr = '';
    let settleEnded: { resolve(): void; reject(err: Error): void } | undefined;
    const ended = new Promise<void>((resolve, reject) => (settleEnded = { resolve, reject }));
    ended.catch(() => {}); // observed by the caller; never an unhandled rejection here

    const close = () => {
      if (closing) return;
      closing = true;
      clearTimeout(timer);
      channel.end(); // EOF: notifychanges (and git-annex-shell) exit on it
      channel.close();
      settleEnded!.resolve();
    };
    const missing = (reason: string) => {
      if (ready || closing) return;
      closing = true;
      clearTimeout(timer);
      channel.end();
      channel.close();
      resolveStart({ kind: 'missing', reason });
    };
    const fail = (error: Error) => {
      if (closing) return;
      closing = true;
      channel.close();
      settleEnded!.reject(error);
    };

    const timer = setTimeout(() => missing(`it said nothing within ${readyTimeoutMs / 1000} s`), readyTimeoutMs);
    const reader = new LineReader(MAX_NOTIFY_LINE_BYTES);
    channel.on('data', (chunk: Buffer) => {
      let lines: string[];
      try {
        lines = reader.push(chunk);
      } catch (err) {
        if (!ready) return missing(`it sent a line longer than ${MAX_NOTIFY_LINE_BYTES} bytes`);
        return fail(err as Error);
      }
      for (const line of lines) {
        if (closing) return;
        const message = parseNotifyLine(line);
        if (!ready) {
          if (message?.type !== 'READY') return missing(`it said ${describe(line)} instead of READY`);
          ready = true;
          clearTimeout(timer);
          resolveStart({ kind: 'ready', notifier: { ended, close } });
        } else if (message?.type === 'CHANGED') {
          handlers.changed(message.shas);
        } else {
          handlers.garbage(line);
        }
      }
    });
    channel.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < MAX_STDERR_BYTES) stderr += chunk.toString('utf8').slice(0, MAX_STDERR_BYTES - stderr.length);
    });
    channel.on('exit', (code: number | null) => (exitCode = code));
    channel.on('error', (err: Error) => handlers.log(`notifier channel: ${err.message}`));
    channel.once('close', () => {
      clearTimeout(timer);
      const said = stderr.trim() ? `: ${describe(stderr.trim().split('\n').slice(-3).join(' / '))}` : '';
      const how = exitCode === 127 ? 'command not found (exit 127)' : exitCode != null ? `it exited with ${exitCode}` : 'its channel closed';
      if (!ready) return missing(`${how}${said}`);
      if (stderr.trim()) handlers.log(`notifier stderr: ${stderr.trim()}`);
      fail(new Error(`the notifier ended (${how}${said})`));
    });
  });
}

/**
 * Splits a byte stream into lines (without "\n"), holding at most `maxBytes` of an unfinished
 * line: a longer one throws NotifierProtocolError instead of growing without bound.
 */
export class LineReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly maxBytes: number) {}

  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl >= 0; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl);
      this.check(piece.length);
      const line = this.pendingBytes ? Buffer.concat([...this.pending, piece]) : piece;
      lines.push(line.toString('utf8'));
      this.pending = [];
      this.pendingBytes = 0;
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.check(rest.length);
      this.pending.push(Buffer.from(rest)); // copy: do not pin the whole chunk
      this.pendingBytes += rest.length;
    }
    return lines;
  }

  private check(more: number): void {
    if (this.pendingBytes + more > this.maxBytes) {
      this.pending = [];
      this.pendingBytes = 0;
      throw new NotifierProtocolError(`notifier line longer than ${this.maxBytes} bytes`);
    }
  }
}

function describe(text: string): string {
  const shown = text.length > 120 ? `${text.slice(0, 120)}...` : text;
  return JSON.stringify(shown);
}

export type { ClientChannel };
