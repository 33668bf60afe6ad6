// Runs the notifier (`git-remote-daemon notifychanges '<path>'`, or `git-annex-shell notifychanges`)
// in an exec channel on the held connection and reads what it says: READY once it watches, then
// `CHANGED <sha>...` per batch of ref updates (shared/notifywire.ts).
//
// A server without a notifier answers in many ways (exit 127, "command not found", git-shell's
// "unrecognized command", a login banner...): anything but READY as the first line, or no READY in
// time, counts as "no notifier here", so the caller can fall back to polling instead of
// reconnecting in a loop.
//
// After READY the notifier is trusted only as far as it behaves. The server may be broken or
// hostile, so everything it can make us do is bounded: one line is at most MAX_NOTIFY_LINE_BYTES,
// a few lines that are not CHANGED end it, and more lines than any real notifier writes end it too
// (a flood would otherwise cost CPU and memory without limit). Whether it is alive is asked, not
// assumed: it is sent PING now and then, and our own notifier answers PONG. git-annex-shell reads
// and ignores its stdin, so a notifier that never answered the first PING is taken to be one that
// cannot: nothing here can tell it is alive, so the transport adds a safety-net listing
// (handlers.mute) rather than trust a channel that may be wedged.

import { classifyRefusal, type Refusal } from './notifierrefusal.js';
import { TokenBucket } from '../tokenbucket.js';
import { BoundedLines } from '../../shared/kit/lines.js';
import { parseNotifyLine, PING_LINE } from '../../shared/notifywire.js';
import { sqQuote } from '../../shared/kit/shell.js';
import type { ChannelQueue } from './channels.js';
import type { KeepaliveRide } from './keepalive.js';

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

/** How much misbehaviour a notifier is allowed, and how often it is asked whether it lives. */
export interface NotifierLimits {
  readyTimeoutMs: number;
  /** Lines after READY that are neither CHANGED nor PONG: past this many, it is broken. */
  maxGarbageLines: number;
  /**
   * Lines allowed in a burst, and refilled per second. A real notifier writes a line per batch
   * (tens of ms) and splits a huge batch into lines of 4 KiB: a push of 100,000 refs is ~1,000
   * lines at once. A flood is cut off within `burstLines` lines.
   */
  burstLines: number;
  linesPerSecond: number;
  /** Between PINGs to a notifier that answers them; 0: never ping. */
  pingEveryMs: number;
  /** The first PING's answer, which tells our notifier from one that never answers. */
  firstPongMs: number;
  /**
   * A PONG overdue by this long means the notifier is wedged. The transport makes it longer than
   * the ssh keepalive's verdict, so a stalled link is reported as one, not as a wedged notifier.
   */
  pongTimeoutMs: number;
}

export const DEFAULT_LIMITS: NotifierLimits = {
  readyTimeoutMs: READY_TIMEOUT_MS,
  maxGarbageLines: 3,
  burstLines: 2000,
  linesPerSecond: 200,
  pingEveryMs: 60_000,
  firstPongMs: 10_000,
  pongTimeoutMs: 25_000,
};

/** The notifier broke its protocol after READY, or stopped answering: it cannot be trusted. */
export class NotifierProtocolError extends Error {
  override name = 'NotifierProtocolError';
}

export type NotifierStart =
  | { kind: 'ready'; notifier: RunningNotifier }
  /**
   * The remote has no working notifier; `reason` says what it did instead (for the WARNING), and
   * `refusal` who refused the command, when its exit said so (workers/ssh/notifierrefusal.ts).
   */
  | { kind: 'missing'; reason: string; refusal?: Refusal };

export interface RunningNotifier {
  /**
   * Rejects when the notifier ends, breaks the protocol or stops answering (NotifierProtocolError
   * for the last two); resolves after close().
   */
  readonly ended: Promise<void>;
  /** Sends EOF (notifychanges exits on stdin EOF) and closes the channel. Idempotent. */
  close(): void;
}

export interface NotifierHandlers {
  changed(shas: string[]): void;
  /** A line after READY that is not a CHANGED line: worth a warning while there are few. */
  garbage(line: string): void;
  /** It answered a PING: it is our notifier and it is alive. */
  answered?(): void;
  /** It did not answer the first PING (git-annex-shell, or one like it): its liveness cannot be checked. */
  mute?(): void;
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
  limits: NotifierLimits = DEFAULT_LIMITS,
  keepalive?: KeepaliveRide,
): Promise<NotifierStart> {
  const channel = await queue.exec(command);
  return new Promise<NotifierStart>((resolveStart) => {
    let ready = false;
    let closing = false;
    let exitCode: number | null | undefined;
    let stderr = '';
    let garbage = 0;
    // A token per line: a flood is cut off however fast it writes.
    const rate = new TokenBucket({ burst: limits.burstLines, refillMs: 1000 / limits.linesPerSecond });
    /** undefined: not asked yet; 'waiting': a PING is out; 'answers' / 'mute': what it showed. */
    let pinging: 'waiting-first' | 'waiting' | 'answers' | 'mute' | undefined;
    let pingTimer: NodeJS.Timeout | undefined;
    /** When the next PING is due (after a PONG); undefined while one is out or none is sent. */
    let pingDueAt: number | undefined;
    let unride: (() => void) | undefined;
    let settleEnded: { resolve(): void; reject(err: Error): void } | undefined;
    const ended = new Promise<void>((resolve, reject) => (settleEnded = { resolve, reject }));
    ended.catch(() => {}); // observed by the caller; never an unhandled rejection here

    const stopAll = () => {
      closing = true;
      clearTimeout(timer);
      clearTimeout(pingTimer);
      unride?.();
      lines.stop();
      channel.removeAllListeners('data'); // nothing more is read from a notifier we gave up on
      channel.end(); // EOF: notifychanges (and git-annex-shell) exit on it
      channel.close();
    };
    const close = () => {
      if (closing) return;
      stopAll();
      settleEnded!.resolve();
    };
    const missing = (reason: string, refusal?: Refusal) => {
      if (ready || closing) return;
      stopAll();
      resolveStart({ kind: 'missing', reason, ...(refusal && { refusal }) });
    };
    const fail = (error: Error) => {
      if (closing) return;
      stopAll();
      settleEnded!.reject(error);
    };

    const ping = (wait: number, next: 'waiting-first' | 'waiting') => {
      pinging = next;
      pingDueAt = undefined;
      channel.write(PING_LINE);
      clearTimeout(pingTimer);
      pingTimer = setTimeout(() => {
        if (pinging === 'waiting-first') {
          pinging = 'mute'; // git-annex-shell, or a notifier like it, or a wedged one: no way to tell
          handlers.mute?.();
        } else fail(new NotifierProtocolError(`the notifier stopped answering (no PONG within ${Math.round(wait / 1000)} s)`));
      }, wait);
    };
    const pong = () => {
      if (pinging !== 'waiting' && pinging !== 'waiting-first') return;
      pinging = 'answers';
      clearTimeout(pingTimer);
      handlers.answered?.();
      if (limits.pingEveryMs <= 0) return;
      // Its own timer is for a link busy enough that the keepalive never pings; an idle one sends
      // the PING with the last keepalive ping before it is due (up to quietMs early), in that
      // wake-up, so this timer is cleared before it fires.
      pingDueAt = Date.now() + limits.pingEveryMs;
      pingTimer = setTimeout(() => ping(limits.pongTimeoutMs, 'waiting'), limits.pingEveryMs);
      if (keepalive && !unride) {
        unride = keepalive.onPing(() => {
          if (closing || pingDueAt === undefined || Date.now() + keepalive.quietMs < pingDueAt) return;
          ping(limits.pongTimeoutMs, 'waiting');
        });
      }
    };
    const timer = setTimeout(() => missing(`it said nothing within ${limits.readyTimeoutMs / 1000} s`), limits.readyTimeoutMs);
    const lines = new BoundedLines(
      {
        line(line) {
          if (closing) return;
          const message = parseNotifyLine(line);
          if (!ready) {
            if (message?.type !== 'READY') return missing(`it said ${describe(line)} instead of READY`);
            ready = true;
            clearTimeout(timer);
            resolveStart({ kind: 'ready', notifier: { ended, close } });
            if (limits.pingEveryMs > 0) ping(limits.firstPongMs, 'waiting-first');
            return;
          }
          if (!rate.take()) {
            return fail(new NotifierProtocolError(`the notifier floods: more than ${limits.burstLines} lines at once (${limits.linesPerSecond}/s allowed)`));
          }
          if (message?.type === 'CHANGED') return handlers.changed(message.shas);
          if (message?.type === 'PONG') return pong();
          if (++garbage > limits.maxGarbageLines) {
            return fail(new NotifierProtocolError(`the notifier sent ${garbage} lines that are not READY or CHANGED (the last: ${describe(line)})`));
          }
          handlers.garbage(line);
        },
        overlong() {
          // Reported by exceeded() below, as soon as the line passed the limit.
        },
        exceeded() {
          if (!ready) return missing(`it sent a line longer than ${MAX_NOTIFY_LINE_BYTES} bytes`);
          fail(new NotifierProtocolError(`notifier line longer than ${MAX_NOTIFY_LINE_BYTES} bytes`));
        },
      },
      MAX_NOTIFY_LINE_BYTES,
    );
    channel.on('data', (chunk: Buffer) => lines.push(chunk));
    channel.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < MAX_STDERR_BYTES) stderr += chunk.toString('utf8').slice(0, MAX_STDERR_BYTES - stderr.length);
    });
    channel.on('exit', (code: number | null) => (exitCode = code));
    channel.on('error', (err: Error) => handlers.log(`notifier channel: ${err.message}`));
    channel.once('close', () => {
      clearTimeout(timer);
      clearTimeout(pingTimer);
      unride?.();
      const said = stderr.trim() ? `: ${describe(stderr.trim().split('\n').slice(-3).join(' / '))}` : '';
      const how = exitCode === 127 ? 'command not found (exit 127)' : exitCode != null ? `it exited with ${exitCode}` : 'its channel closed';
      if (!ready) return missing(`${how}${said}`, classifyRefusal(exitCode, stderr));
      if (closing) return;
      if (stderr.trim()) handlers.log(`notifier stderr: ${stderr.trim()}`);
      fail(new Error(`the notifier ended (${how}${said})`));
    });
  });
}

function describe(text: string): string {
  const shown = text.length > 120 ? `${text.slice(0, 120)}...` : text;
  return JSON.stringify(shown);
}
