// Token buckets: whatever a remote, a peer or a sender can make us do gets a burst and then a
// trickle, so however fast it sends, what it costs here is bounded. One bucket (a notifier's
// lines) or one per sender, keyed by whatever the carrier vouches for (an XMPP bare JID, a peer
// key, a webhook's remote).

export interface RateOptions {
  /** Let through at once after a quiet period. */
  burst: number;
  /** Then one more every this many ms. */
  refillMs: number;
}

/** One bucket: `take()` spends a token, false when there is none left. */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(private readonly options: RateOptions, private readonly now: () => number = Date.now) {
    this.tokens = options.burst;
    this.at = now();
  }

  /** True when one more may pass now (and spends a token). */
  take(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** How long until a token is there again: 0 when there is one now. */
  untilNext(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : Math.ceil((1 - this.tokens) * this.options.refillMs);
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.options.burst, this.tokens + (now - this.at) / this.options.refillMs);
    this.at = now;
  }
}

export interface BucketOptions extends RateOptions {
  /** Senders remembered at most; the one heard from longest ago is forgotten first. */
  maxSenders: number;
}

export const DEFAULT_BUCKET: BucketOptions = { burst: 8, refillMs: 1000, maxSenders: 64 };

/** A bucket per sender, for at most `maxSenders` senders at once. */
export class TokenBuckets {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(private readonly options: BucketOptions = DEFAULT_BUCKET, private readonly now: () => number = Date.now) {}

  /** True when `sender` may be heard now (and spends a token). */
  take(sender: string): boolean {
    const bucket = this.buckets.get(sender) ?? new TokenBucket(this.options, this.now);
    this.buckets.delete(sender); // re-inserted last: Map order is then "least recently heard first"
    if (this.buckets.size >= this.options.maxSenders) this.buckets.delete(this.buckets.keys().next().value!);
    this.buckets.set(sender, bucket);
    return bucket.take();
  }

  /** How long until `sender` has a token again: 0 when it has one now. */
  untilNext(sender: string): number {
    return this.buckets.get(sender)?.untilNext() ?? 0;
  }

  /** `sender` is gone: a later one of that name starts with a full bucket. */
  forget(sender: string): void {
    this.buckets.delete(sender);
  }
}
