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
    const { burst, refillMs, maxSenders } = this.options;
    const old = this.buckets.get(sender);
    const tokens = old ? Math.min(burst, old.tokens + (now - old.at) / refillMs) : burst;
    this.buckets.delete(sender); // re-inserted last: Map order is then "least recently heard first"
    if (this.buckets.size >= maxSenders) this.buckets.delete(this.buckets.keys().next().value!);
    const allowed = tokens >= 1;
    this.buckets.set(sender, { tokens: allowed ? tokens - 1 : tokens, at: now });
    return allowed;
  }
}
