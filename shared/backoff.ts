// Exponential backoff with jitter, for reconnecting to a remote and for restarting a crashed
// worker. Unlike git-annex's (1 s doubling to 1 h, never reset, no jitter), it is reset by whoever
// uses it once things have been healthy, and the jitter keeps many remotes that failed together
// (the network went away) from all retrying in the same instant.

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  /** Randomness source, for tests. */
  random?: () => number;
}

export class Backoff {
  private attempt = 0;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly random: () => number;

  constructor(options: BackoffOptions = {}) {
    this.initialMs = options.initialMs ?? 1000;
    this.maxMs = options.maxMs ?? 10 * 60 * 1000;
    this.random = options.random ?? Math.random;
  }

  /** The delay before the next attempt: between half and all of the current step. */
  next(): number {
    const step = Math.min(this.maxMs, this.initialMs * 2 ** this.attempt);
    if (step < this.maxMs) this.attempt++;
    return Math.round(step * (0.5 + 0.5 * this.random()));
  }

  reset(): void {
    this.attempt = 0;
  }
}

/**
 * The delay before attempt number `failures` (1 for the first retry), as `Backoff` would give it:
 * for callers that keep the count themselves (the remote lifecycle in workers/lifecycle.ts).
 */
export function backoffDelay(failures: number, random: number, options: { initialMs?: number; maxMs?: number } = {}): number {
  const initialMs = options.initialMs ?? 1000;
  const maxMs = options.maxMs ?? 10 * 60 * 1000;
  const step = Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(failures - 1, 0), 40));
  return Math.round(step * (0.5 + 0.5 * random));
}
