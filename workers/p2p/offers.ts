// What one peer's offers ("my ref R is at X now") may make us do. An offer is only a hint, and a
// fetch that follows one succeeds whether or not it brought the offered value, so a peer could
// keep us fetching for ever by offering values it does not have. Here, per peer:
// - offers spend tokens of a per-sender bucket (workers/tokenbucket.ts, the notices' limits);
//   over the limit they wait (the latest value per ref, bounded), they are not lost;
// - after each of our git sessions with the peer, the values offered before it started are
//   judged (and until then, or for 2 s if no session comes, no more are passed on): one the
//   session did not deliver is not passed on again until the peer's refs change (a fetch from it
//   moves one of our tracking refs of it), including when it was offered again while the session ran;
// - a session that delivered none of what was offered holds the peer's further offers back for a
//   while, doubling each time (1 s up to 5 min), until its refs change: a liar backs off, an honest
//   peer (whose offers are delivered) never waits.

import { isDeleted } from '../../shared/kit/objectid.js';
import type { TokenBuckets } from '../tokenbucket.js';

/** Refs remembered per peer in each of the sets below: a bound on what its offers make us hold. */
export const MAX_OFFERED_REFS = 1000;
const HOLD_FIRST_MS = 1000;
const HOLD_MAX_MS = 300_000;
/**
 * Offers passed on wait this long for the session they cause before more are passed on: a fetch
 * takes a moment to start, and offers passed on meanwhile would each queue a fetch of their own.
 * (A value we already have causes no session: then the wait ends here.)
 */
const AWAIT_SESSION_MS = 2000;

export interface OfferGateOptions {
  key: string;
  buckets: TokenBuckets;
  /** When the bucket is empty, the next token comes this much later. */
  refillMs: number;
  /** Pass offers on to the remotes that fetch from the peer. */
  forward(refs: [string, string][]): void;
  log(text: string): void;
  now?: () => number;
}

/** Offers passed on before a session started: judged when it ends. */
export type Judged = Map<string, string>;

export class OfferGate {
  private readonly waiting = new Map<string, string>();
  private forwarded = new Map<string, string>();
  private forwardedAt = 0;
  /** `ref sha` pairs a session did not deliver, oldest first. */
  private readonly undelivered = new Set<string>();
  private holdMs = 0;
  /** Sessions under way that will judge offers: nothing more is passed on until they are judged. */
  private judging = 0;
  private holdUntil = 0;
  private timer: NodeJS.Timeout | undefined;
  private lastRepeatLog = 0;
  private readonly now: () => number;

  constructor(private readonly options: OfferGateOptions) {
    this.now = options.now ?? Date.now;
  }

  /** The peer offers these (refs we fetch from it, checked): pass on what is worth it, when allowed. */
  offer(refs: [string, string][]): void {
    let repeats = 0;
    for (const [ref, sha] of refs) {
      if (this.undelivered.has(`${ref} ${sha}`)) {
        repeats++;
        continue;
      }
      if (this.waiting.has(ref) || this.waiting.size < MAX_OFFERED_REFS) this.waiting.set(ref, sha);
    }
    if (repeats) this.logRepeats(repeats);
    this.pump();
  }

  private logRepeats(repeats: number): void {
    if (this.now() - this.lastRepeatLog < 1000) return;
    this.lastRepeatLog = this.now();
    this.options.log(`${repeats} value${repeats === 1 ? '' : 's'} offered again that the last fetch did not deliver: not fetched again until its refs change`);
  }

  /** A git session with the peer starts: the offers passed on so far are judged when it ends. */
  sessionStarted(): Judged {
    const judged = this.forwarded;
    this.forwarded = new Map();
    if (judged.size) this.judging++;
    return judged;
  }

  /**
   * The session ended; `ours` gives the value our tracking ref for a peer ref now has (undefined:
   * none; null: the refspec keeps it nowhere we can read, so it counts as delivered).
   */
  sessionEnded(judged: Judged, ours: (ref: string) => string | null | undefined): void {
    if (judged.size === 0) return;
    this.judging--;
    let delivered = 0;
    for (const [ref, sha] of judged) {
      const now = ours(ref);
      // A deletion is delivered when our tracking ref is gone too (a pruning fetch).
      if (now === null || now === sha || (now === undefined && isDeleted(sha))) {
        delivered++;
        continue;
      }
      if (this.undelivered.size >= MAX_OFFERED_REFS) this.undelivered.delete(this.undelivered.values().next().value!);
      this.undelivered.add(`${ref} ${sha}`);
    }
    if (delivered > 0) return this.refsChanged();
    // Offered again while the session ran (a peer that repeats itself, heard before we judged):
    // those are repeats too, not new offers.
    let repeats = 0;
    for (const [ref, sha] of this.waiting) {
      if (!this.undelivered.has(`${ref} ${sha}`)) continue;
      this.waiting.delete(ref);
      repeats++;
    }
    if (repeats) this.logRepeats(repeats);
    this.holdMs = Math.min(HOLD_MAX_MS, this.holdMs ? this.holdMs * 2 : HOLD_FIRST_MS);
    this.holdUntil = this.now() + this.holdMs;
    this.options.log(`the fetch delivered none of the ${judged.size} value${judged.size === 1 ? '' : 's'} it offered: its offers wait ${this.holdMs / 1000} s`);
    this.pump();
  }

  /** One of our tracking refs of the peer moved: what it offers may be true again. */
  refsChanged(): void {
    this.undelivered.clear();
    this.holdMs = 0;
    this.holdUntil = 0;
    this.pump();
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private pump(): void {
    if (this.waiting.size === 0 || this.timer || this.judging > 0) return;
    const now = this.now();
    const awaiting = this.forwarded.size > 0 ? this.forwardedAt + AWAIT_SESSION_MS - now : 0;
    const wait =
      this.holdUntil > now ? this.holdUntil - now : awaiting > 0 ? awaiting : this.options.buckets.take(this.options.key) ? 0 : this.options.refillMs;
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, wait);
      return;
    }
    const refs = [...this.waiting];
    this.waiting.clear();
    for (const [ref, sha] of refs) if (this.forwarded.has(ref) || this.forwarded.size < MAX_OFFERED_REFS) this.forwarded.set(ref, sha);
    this.forwardedAt = now;
    this.options.forward(refs);
  }
}
