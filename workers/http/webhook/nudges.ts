// Nudges per remote, rate-limited: a token bucket of NUDGE_BURST, one token back every
// NUDGE_REFILL_MS. A nudge with no token left is not dropped but held, and every further one merges
// into it, until the next token: then the remote lists its refs once. A burst of real pushes is
// acted on at once, a flood costs the forge at most one listing per NUDGE_REFILL_MS per remote,
// and the last push of either is never missed.

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

interface Bucket {
  tokens: number;
  at: number;
  /** The held nudge's forge, and how to cancel its timer. */
  held?: { forge: string; cancel: () => void };
}

export class NudgeLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly send: (remote: string, forge: string) => void,
    private readonly clock: Clock = realClock,
    private readonly burst = NUDGE_BURST,
    private readonly refillMs = NUDGE_REFILL_MS,
  ) {}

  /** Nudges `remote` now, or once it may again: 'now', 'held' (a timer will), or 'merged' into one held already. */
  nudge(remote: string, forge: string): 'now' | 'held' | 'merged' {
    const bucket = this.refilled(remote);
    if (bucket.held) {
      bucket.held.forge = forge;
      return 'merged';
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      this.send(remote, forge);
      return 'now';
    }
    const wait = Math.ceil((1 - bucket.tokens) * this.refillMs);
    const held: NonNullable<Bucket['held']> = {
      forge,
      cancel: this.clock.later(() => {
        if (bucket.held !== held) return;
        bucket.held = undefined;
        this.refilled(remote).tokens -= 1;
        this.send(remote, held.forge);
      }, wait),
    };
    bucket.held = held;
    return 'held';
  }

  /** The remote is gone: nothing held for it is sent. */
  forget(remote: string): void {
    this.buckets.get(remote)?.held?.cancel();
    this.buckets.delete(remote);
  }

  close(): void {
    for (const remote of [...this.buckets.keys()]) this.forget(remote);
  }

  private refilled(remote: string): Bucket {
    const now = this.clock.now();
    let bucket = this.buckets.get(remote);
    if (!bucket) {
      bucket = { tokens: this.burst, at: now };
      this.buckets.set(remote, bucket);
    }
    bucket.tokens = Math.min(this.burst, bucket.tokens + (now - bucket.at) / this.refillMs);
    bucket.at = now;
    return bucket;
  }
}
