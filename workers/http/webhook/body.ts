// A delivery's body as it streams: hashed (SHA-256, the replay key) and checked against its
// signature chunk by chunk, and kept only while it is small. A push payload is needed after
// verification for its repository URLs, so up to KEPT_BODY_BYTES of it is kept, from a budget of
// KEPT_TOTAL_BYTES shared by every request in flight: the senders of all the connections together
// can make the receiver hold no more than that, however many they open and however slowly they
// send. A body over the cap, or arriving while the budget is spent, is still read and verified,
// just not kept (see handler.ts for what a verified push without its payload does).
//
// The numbers: a GitHub push payload is about 7 KiB with no commits, plus about 1 KiB per commit
// listed (up to 2048 are); a push of 20 commits is some 30 KiB. 1 MiB fits pushes of several
// hundred commits; only the rare larger ones fall back to "every remote".

import { createHash } from 'node:crypto';
import type { Proof } from './verify.js';

export const KEPT_BODY_BYTES = 512 * 1024;
export const KEPT_TOTAL_BYTES = 2 * 1024 * 1024;

/** Bytes of bodies kept, across all requests of one receiver. */
export class BodyBudget {
  private used = 0;
  constructor(readonly total = KEPT_TOTAL_BYTES) {}

  take(bytes: number): boolean {
    if (this.used + bytes > this.total) return false;
    this.used += bytes;
    return true;
  }

  give(bytes: number): void {
    this.used -= bytes;
  }

  get inUse(): number {
    return this.used;
  }
}

export interface ReadBody {
  /** SHA-256 of every byte, base64. */
  digest: string;
  size: number;
  /** True when the sender proved the secret for exactly these bytes. */
  verified: boolean;
  /** Which secrets it proved, when it was checked against several (handler.ts). */
  secrets?: string[];
  /** The body itself, unless it was over the cap or the budget was spent. */
  kept: Buffer | undefined;
}

export class StreamedBody {
  private readonly hash = createHash('sha256');
  private size = 0;
  /**
   * One buffer, grown by doubling and copied into, rather than the chunks themselves: a sender
   * dripping one byte at a time would otherwise cost an object per byte.
   */
  private buffer: Buffer | undefined = Buffer.alloc(0);
  private released = false;

  constructor(
    private readonly proof: Proof,
    private readonly budget: BodyBudget,
    /** 0 to keep nothing (events whose payload is never read). */
    private readonly keepUpTo = KEPT_BODY_BYTES,
  ) {
    if (keepUpTo === 0) this.buffer = undefined;
  }

  write(chunk: Buffer): void {
    this.hash.update(chunk);
    this.proof.update(chunk);
    const start = this.size;
    this.size += chunk.length;
    if (this.buffer === undefined) return;
    if (this.size > this.buffer.length && !this.grow(start, this.size)) return;
    chunk.copy(this.buffer, start);
  }

  /** The body is complete: its digest, proof and (if kept) bytes. What was kept goes back to the budget. */
  finish(): ReadBody {
    const kept = this.buffer?.subarray(0, this.size);
    this.release();
    return { digest: this.hash.digest('base64'), size: this.size, verified: this.proof.matches(), kept };
  }

  /** Gives back what was kept; idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (this.buffer) this.budget.give(this.buffer.length);
    this.buffer = undefined;
  }

  /** Room for `needed` bytes, of which the first `valid` are kept; false once keeping stops. */
  private grow(valid: number, needed: number): boolean {
    const old = this.buffer!;
    const capacity = Math.min(this.keepUpTo, Math.max(needed, old.length * 2, 16 * 1024));
    if (needed > capacity || !this.budget.take(capacity - old.length)) {
      // Over the cap, or the budget is spent: from here on, only hashed.
      this.budget.give(old.length);
      this.buffer = undefined;
      return false;
    }
    const grown = Buffer.allocUnsafe(capacity);
    old.copy(grown, 0, 0, valid);
    this.buffer = grown;
    return true;
  }
}
