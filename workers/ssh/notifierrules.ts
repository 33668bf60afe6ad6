// The notifier's rules (workers/ssh/notifier.ts) with no channel, timer or clock of their own: told
// what happened (a line, a timer, the keepalive's ping, the channel's end), they say what to do as
// a list of actions, which startNotifier carries out in order. Every rule about READY, PING/PONG,
// floods and garbage lives here, where a test with a fake clock walks it in microseconds.

import { classifyRefusal, type Refusal } from './notifierrefusal.js';
import { TokenBucket } from '../tokenbucket.js';
import { parseNotifyLine } from '../../shared/notifywire.js';

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

/**
 * Longest line accepted. git-annex-shell writes every sha of one ~50 ms batch on one line, so a
 * push of many refs makes a long line: 1 MiB holds ~25,000 SHA-1s (~16,000 SHA-256s), far beyond a
 * real push, and is still a trivial, fixed amount of memory per connection. Longer is an error.
 */
export const MAX_NOTIFY_LINE_BYTES = 1024 * 1024;

/** The notifier broke its protocol after READY, or stopped answering: it cannot be trusted. */
export class NotifierProtocolError extends Error {
  override name = 'NotifierProtocolError';
}

export type NotifierTimer = 'ready' | 'ping';

/** What the rules ask for; startNotifier does each, in order. */
export type NotifierAction =
  /** It said READY: the start resolves with a running notifier. */
  | { do: 'ready' }
  /** No working notifier there: stop everything, the start resolves 'missing'. */
  | { do: 'missing'; reason: string; refusal?: Refusal }
  /** It broke the protocol or ended: stop everything, `ended` rejects. */
  | { do: 'fail'; error: Error }
  /** close() was called: stop everything, `ended` resolves. */
  | { do: 'closed' }
  | { do: 'send-ping' }
  /** (Re)arm the timer: call the rules' `timerFired(timer)` in `inMs`. */
  | { do: 'arm'; timer: NotifierTimer; inMs: number }
  | { do: 'disarm'; timer: NotifierTimer }
  /** Call `keepalivePing` in the turn of each keepalive ping from now on (asked once). */
  | { do: 'ride-keepalive' }
  | { do: 'changed'; shas: string[] }
  | { do: 'garbage'; line: string }
  | { do: 'answered' }
  | { do: 'mute' }
  | { do: 'log'; text: string };

type Phase = 'starting' | 'ready' | 'stopped';
/** undefined: not asked yet; 'waiting(-first)': a PING is out; 'answers' / 'mute': what it showed. */
type Pinging = 'waiting-first' | 'waiting' | 'answers' | 'mute' | undefined;

export class NotifierRules {
  private phase: Phase = 'starting';
  private pinging: Pinging;
  /** When the next PING is due (after a PONG); undefined while one is out or none is sent. */
  private pingDueAt: number | undefined;
  /** When the PING that is out was sent. */
  private pingSentAt = 0;
  private riding = false;
  private garbageLines = 0;
  // A token per line: a flood is cut off however fast it writes.
  private readonly rate: TokenBucket;

  /**
   * `ridden`: a keepalive will call `keepalivePing` at least every `quietMs` once asked to
   * (`ride-keepalive`): at each ping of an idle link, and in a turn that received data on a busy
   * one. Then every PING after the first is sent and overdue PONGs found in those turns, and no
   * timer of the rules' own is armed for them: a timer that is cleared still wakes the thread at
   * its old deadline (Node keeps the loop's timer armed), so an idle remote woke twice more a
   * minute for its notifier than for its keepalive.
   */
  constructor(
    private readonly limits: NotifierLimits,
    private readonly now: () => number = Date.now,
    private readonly ridden = false,
  ) {
    this.rate = new TokenBucket({ burst: limits.burstLines, refillMs: 1000 / limits.linesPerSecond }, now);
  }

  /** Stopped: gave up, failed or closed; nothing more is done. */
  get stopped(): boolean {
    return this.phase === 'stopped';
  }

  /** The channel is open: wait for READY. */
  start(): NotifierAction[] {
    return [{ do: 'arm', timer: 'ready', inMs: this.limits.readyTimeoutMs }];
  }

  line(line: string): NotifierAction[] {
    if (this.phase === 'stopped') return [];
    const message = parseNotifyLine(line);
    if (this.phase === 'starting') {
      if (message?.type !== 'READY') return this.missing(`it said ${describe(line)} instead of READY`);
      this.phase = 'ready';
      const actions: NotifierAction[] = [{ do: 'disarm', timer: 'ready' }, { do: 'ready' }];
      if (this.limits.pingEveryMs > 0) actions.push(...this.ping('waiting-first'));
      return actions;
    }
    if (!this.rate.take()) {
      return this.fail(new NotifierProtocolError(`the notifier floods: more than ${this.limits.burstLines} lines at once (${this.limits.linesPerSecond}/s allowed)`));
    }
    if (message?.type === 'CHANGED') return [{ do: 'changed', shas: message.shas }];
    if (message?.type === 'PONG') return this.pong();
    if (++this.garbageLines > this.limits.maxGarbageLines) {
      return this.fail(new NotifierProtocolError(`the notifier sent ${this.garbageLines} lines that are not READY or CHANGED (the last: ${describe(line)})`));
    }
    return [{ do: 'garbage', line }];
  }

  /** A line passed MAX_NOTIFY_LINE_BYTES (said as soon as it did, not at its end). */
  overlong(): NotifierAction[] {
    if (this.phase === 'starting') return this.missing(`it sent a line longer than ${MAX_NOTIFY_LINE_BYTES} bytes`);
    return this.fail(new NotifierProtocolError(`notifier line longer than ${MAX_NOTIFY_LINE_BYTES} bytes`));
  }

  timerFired(timer: NotifierTimer): NotifierAction[] {
    if (this.phase === 'stopped') return [];
    if (timer === 'ready') return this.missing(`it said nothing within ${this.limits.readyTimeoutMs / 1000} s`);
    if (this.pinging === 'answers') return this.ping('waiting'); // the next PING is due
    if (this.pinging === 'waiting-first') {
      this.pinging = 'mute'; // git-annex-shell, or a notifier like it, or a wedged one: no way to tell
      return [{ do: 'mute' }];
    }
    if (this.pinging === 'waiting') return this.stoppedAnswering();
    return [];
  }

  /** A turn of the keepalive (a ping, or data on a busy link); the next comes at most `quietMs` later. */
  keepalivePing(quietMs: number): NotifierAction[] {
    if (this.phase === 'stopped') return [];
    if (this.ridden && this.riding && this.pinging === 'waiting' && this.now() - this.pingSentAt >= this.limits.pongTimeoutMs) return this.stoppedAnswering();
    if (this.pingDueAt === undefined || this.now() + quietMs < this.pingDueAt) return [];
    return this.ping('waiting');
  }

  /** The channel closed, after its exit status (if any) and stderr (bounded) were read. */
  channelClosed(exitCode: number | null | undefined, stderr: string): NotifierAction[] {
    const said = stderr.trim() ? `: ${describe(stderr.trim().split('\n').slice(-3).join(' / '))}` : '';
    const how = exitCode === 127 ? 'command not found (exit 127)' : exitCode != null ? `it exited with ${exitCode}` : 'its channel closed';
    if (this.phase === 'starting') return this.missing(`${how}${said}`, classifyRefusal(exitCode, stderr));
    if (this.phase === 'stopped') return [];
    const actions: NotifierAction[] = stderr.trim() ? [{ do: 'log', text: `notifier stderr: ${stderr.trim()}` }] : [];
    return [...actions, ...this.fail(new Error(`the notifier ended (${how}${said})`))];
  }

  /** The caller closes it. */
  close(): NotifierAction[] {
    if (this.phase === 'stopped') return [];
    this.phase = 'stopped';
    return [{ do: 'closed' }];
  }

  private ping(next: 'waiting-first' | 'waiting'): NotifierAction[] {
    this.pinging = next;
    this.pingDueAt = undefined;
    this.pingSentAt = this.now();
    // Ridden, a later PING's answer is looked for in the keepalive's turns (keepalivePing).
    if (next === 'waiting' && this.ridden && this.riding) return [{ do: 'send-ping' }];
    const wait = next === 'waiting-first' ? this.limits.firstPongMs : this.limits.pongTimeoutMs;
    return [{ do: 'send-ping' }, { do: 'arm', timer: 'ping', inMs: wait }];
  }

  private stoppedAnswering(): NotifierAction[] {
    return this.fail(new NotifierProtocolError(`the notifier stopped answering (no PONG within ${Math.round(this.limits.pongTimeoutMs / 1000)} s)`));
  }

  private pong(): NotifierAction[] {
    // Only an answer to a PING that is out counts: a PONG after 'mute' changes nothing.
    if (this.pinging !== 'waiting' && this.pinging !== 'waiting-first') return [];
    this.pinging = 'answers';
    const actions: NotifierAction[] = [{ do: 'disarm', timer: 'ping' }, { do: 'answered' }];
    if (this.limits.pingEveryMs <= 0) return actions;
    // The PING goes with the last keepalive turn before it is due (up to quietMs early), in that
    // wake-up. Ridden, nothing else sends it; without a keepalive, its own timer does.
    this.pingDueAt = this.now() + this.limits.pingEveryMs;
    if (!this.ridden) actions.push({ do: 'arm', timer: 'ping', inMs: this.limits.pingEveryMs });
    if (!this.riding) {
      this.riding = true;
      actions.push({ do: 'ride-keepalive' });
    }
    return actions;
  }

  private missing(reason: string, refusal?: Refusal): NotifierAction[] {
    if (this.phase !== 'starting') return [];
    this.phase = 'stopped';
    return [{ do: 'missing', reason, ...(refusal && { refusal }) }];
  }

  private fail(error: Error): NotifierAction[] {
    if (this.phase === 'stopped') return [];
    this.phase = 'stopped';
    return [{ do: 'fail', error }];
  }
}

function describe(text: string): string {
  const shown = text.length > 120 ? `${text.slice(0, 120)}...` : text;
  return JSON.stringify(shown);
}
