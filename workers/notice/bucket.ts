// A token bucket per sender: a trusted device that misbehaves (a loop, a bug, a stolen account)
// gets a burst and then a trickle of notices through, so however fast it sends, the listings it
// causes here are bounded. Keyed by whatever the carrier vouches for (an XMPP bare JID, a peer key).

export interface BucketOptions {
  /** Notices let through at once after a quiet period. */
  burst: number;
  /** Then one more every this many ms. */
  refillMs: number;
  /** Senders remembered at most; the one heard from longest ago is forgotten first. */
  maxSenders: number;
}

export const DEFAULT_BUCKET: BucketOptions = { burst: 8, refillMs: 1000, maxSenders: 64 };

export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly options: BucketOptions = DEFAULT_BUCKET, private readonly now: () => number = Date.now) {}

  /** True when `sender` may be heard now (and spends a token). */
  take(sender: string): boolean {
    const now = this.now();
    const { maxSenders } = this.options;
    const tokens = this.tokensAt(sender, now);
    this.buckets.delete(sender); // re-inserted last: Map order is then "least recently heard first"
    if (this.buckets.size >= maxSenders) this.buckets.delete(this.buckets.keys().next().value!);
    const allowed = tokens >= 1;
    this.buckets.set(sender, { tokens: allowed ? tokens - 1 : tokens, at: now });
    return allowed;
  }

  /** How long until `sender` has a token again: 0 when it has one now. */
  untilNext(sender: string): number {
    const tokens = this.tokensAt(sender, this.now());
    return tokens >= 1 ? 0 : Math.ceil((1 - tokens) * this.options.refillMs);
  }

  /** `sender` is gone: a later one of that name starts with a full bucket. */
  forget(sender: string): void {
    this.buckets.delete(sender);
  }

  private tokensAt(sender: string, now: number): number {
    const { burst, refillMs } = this.options;
    const old = this.buckets.get(sender);
    return old ? Math.min(burst, old.tokens + (now - old.at) / refillMs) : burst;
  }
}
