// Nudges per remote, rate-limited: a token bucket of NUDGE_BURST, one token back every
// NUDGE_REFILL_MS. A nudge with no token left is not dropped but held, and every further one merges
// into it, until the next token: then the remote lists its refs once. A burst of real pushes is
// acted on at once, a flood costs the forge at most one listing per NUDGE_REFILL_MS per remote,
// and the last push of either is never missed.

import { TokenBuckets } from '../../tokenbucket.js';

export const NUDGE_BURST = 5;
export const NUDGE_REFILL_MS = 1_000;

export interface Clock {
  now(): number;
  /** Runs `fn` after `ms`; the result cancels it. */
  later(fn: () => void, ms: number): () => void;
}

const realClock: Clock = {
  now: () => performance.now(),
  later: (fn, ms) => {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

export class NudgeLimiter {
  private readonly tokens: TokenBuckets;
  /** Per remote, the held nudge's forge and how to cancel its timer. */
  private readonly held = new Map<string, { forge: string; cancel: () => void }>();

  constructor(
    private readonly send: (remote: string, forge: string) => void,
    private readonly clock: Clock = realClock,
    burst = NUDGE_BURST,
    refillMs = NUDGE_REFILL_MS,
  ) {
    // One bucket per attached remote, and those are few: none is ever forgotten for room.
    this.tokens = new TokenBuckets({ burst, refillMs, maxSenders: Infinity }, () => clock.now());
  }

  /** Nudges `remote` now, or once it may again: 'now', 'held' (a timer will), or 'merged' into one held already. */
  nudge(remote: string, forge: string): 'now' | 'held' | 'merged' {
    const waiting = this.held.get(remote);
    if (waiting) {
      waiting.forge = forge;
      return 'merged';
    }
    if (this.tokens.take(remote)) {
      this.send(remote, forge);
      return 'now';
    }
    const held = {
      forge,
      cancel: this.clock.later(() => {
        if (this.held.get(remote) !== held) return;
        this.held.delete(remote);
        this.tokens.take(remote); // the token that came back is this nudge's
        this.send(remote, held.forge);
      }, this.tokens.untilNext(remote)),
    };
    this.held.set(remote, held);
    return 'held';
  }

  /** The remote is gone: nothing held for it is sent. */
  forget(remote: string): void {
    this.held.get(remote)?.cancel();
    this.held.delete(remote);
    this.tokens.forget(remote);
  }

  close(): void {
    for (const remote of [...this.held.keys()]) this.forget(remote);
  }
}
