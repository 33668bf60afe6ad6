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
//
// Those rules are notifierrules.ts, with no timer or I/O of their own; this file carries out what
// they say on the channel, with real timers and the keepalive's pings.

import { MAX_NOTIFY_LINE_BYTES, NotifierRules, type NotifierAction, type NotifierLimits, type NotifierTimer } from './notifierrules.js';
import type { Refusal } from './notifierrefusal.js';
import { BoundedLines } from '../../shared/kit/lines.js';
import { PING_LINE } from '../../shared/notifywire.js';
import { sqQuote } from '../../shared/kit/shell.js';
import type { ChannelQueue } from './channels.js';
import type { KeepaliveRide } from './keepalive.js';

export { MAX_NOTIFY_LINE_BYTES, NotifierProtocolError, type NotifierLimits } from './notifierrules.js';

/** A notifier that neither says READY nor exits within this long is not one. */
export const READY_TIMEOUT_MS = 20_000;
/** Remote stderr kept to explain a missing notifier. */
const MAX_STDERR_BYTES = 4096;

export const DEFAULT_NOTIFIER = 'git-remote-daemon notifychanges';

export const DEFAULT_LIMITS: NotifierLimits = {
  readyTimeoutMs: READY_TIMEOUT_MS,
  maxGarbageLines: 3,
  burstLines: 2000,
  linesPerSecond: 200,
  pingEveryMs: 60_000,
  firstPongMs: 10_000,
  pongTimeoutMs: 25_000,
};

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
    new NotifierOnChannel(channel, handlers, new NotifierRules(limits, Date.now, keepalive !== undefined), keepalive, resolveStart);
  });
}

type NotifierChannel = Awaited<ReturnType<ChannelQueue['exec']>>;

/** Carries out what the rules say on the channel, with real timers and the keepalive's pings. */
class NotifierOnChannel {
  private readonly timers: Partial<Record<NotifierTimer, NodeJS.Timeout>> = {};
  private unride: (() => void) | undefined;
  /** Once given up on, nothing more is sent, armed or ridden. */
  private stopped = false;
  private exitCode: number | null | undefined;
  private stderr = '';
  private readonly settleEnded: { resolve(): void; reject(err: Error): void };
  private readonly notifier: RunningNotifier;
  private readonly lines: BoundedLines;

  constructor(
    private readonly channel: NotifierChannel,
    private readonly handlers: NotifierHandlers,
    private readonly rules: NotifierRules,
    private readonly keepalive: KeepaliveRide | undefined,
    private readonly resolveStart: (start: NotifierStart) => void,
  ) {
    let settleEnded: NotifierOnChannel['settleEnded'] | undefined;
    const ended = new Promise<void>((resolve, reject) => (settleEnded = { resolve, reject }));
    ended.catch(() => {}); // observed by the caller; never an unhandled rejection here
    this.settleEnded = settleEnded!;
    this.notifier = { ended, close: () => this.run(rules.close()) };
    this.lines = new BoundedLines(
      {
        line: (line) => this.run(rules.line(line)),
        overlong() {
          // Reported by exceeded() below, as soon as the line passed the limit.
        },
        exceeded: () => this.run(rules.overlong()),
      },
      MAX_NOTIFY_LINE_BYTES,
    );
    this.run(rules.start());
    channel.on('data', (chunk: Buffer) => this.lines.push(chunk));
    channel.stderr.on('data', (chunk: Buffer) => {
      if (this.stderr.length < MAX_STDERR_BYTES) this.stderr += chunk.toString('utf8').slice(0, MAX_STDERR_BYTES - this.stderr.length);
    });
    channel.on('exit', (code: number | null) => (this.exitCode = code));
    channel.on('error', (err: Error) => handlers.log(`notifier channel: ${err.message}`));
    channel.once('close', () => {
      this.disarmAll();
      this.run(rules.channelClosed(this.exitCode, this.stderr));
    });
  }

  private run(actions: NotifierAction[]): void {
    for (const action of actions) this.act(action);
  }

  private act(action: NotifierAction): void {
    switch (action.do) {
      case 'ready':
        return this.resolveStart({ kind: 'ready', notifier: this.notifier });
      case 'missing':
        this.stopAll();
        return this.resolveStart({ kind: 'missing', reason: action.reason, ...(action.refusal && { refusal: action.refusal }) });
      case 'fail':
        this.stopAll();
        return this.settleEnded.reject(action.error);
      case 'closed':
        this.stopAll();
        return this.settleEnded.resolve();
      case 'send-ping':
        if (!this.stopped) this.channel.write(PING_LINE);
        return;
      case 'arm':
        clearTimeout(this.timers[action.timer]);
        if (!this.stopped) this.timers[action.timer] = setTimeout(() => this.run(this.rules.timerFired(action.timer)), action.inMs);
        return;
      case 'disarm':
        return clearTimeout(this.timers[action.timer]);
      case 'ride-keepalive': {
        const keepalive = this.keepalive;
        if (keepalive && !this.stopped) this.unride = keepalive.onPing(() => this.run(this.rules.keepalivePing(keepalive.quietMs)));
        return;
      }
      case 'changed':
        return this.handlers.changed(action.shas);
      case 'garbage':
        return this.handlers.garbage(action.line);
      case 'answered':
        return this.handlers.answered?.();
      case 'mute':
        return this.handlers.mute?.();
      case 'log':
        return this.handlers.log(action.text);
    }
  }

  private disarmAll(): void {
    clearTimeout(this.timers.ready);
    clearTimeout(this.timers.ping);
    this.unride?.();
  }

  private stopAll(): void {
    this.stopped = true;
    this.disarmAll();
    this.lines.stop();
    this.channel.removeAllListeners('data'); // nothing more is read from a notifier we gave up on
    this.channel.end(); // EOF: notifychanges (and git-annex-shell) exit on it
    this.channel.close();
  }
}
