// How many worker threads may be starting at once, per pool. A thread's start (its isolate, the
// session's modules compiled, their garbage collected) is the costliest moment of a remote's
// life; a hundred at once on two cores made each of them slower than the whole run of fifty
// (100 local remotes connected in 59 s where 50 took 8 s; `node dist/bench/scale.js`). A start
// holds its slot until the worker first speaks, it ends, or SLOT_MAX_MS passes.

import { availableParallelism } from 'node:os';

/** A start that has not spoken by then (a worker stuck before its first message) lets the next go. */
export const SLOT_MAX_MS = 3000;

export class StartSlots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(
    readonly limit = Math.max(2, 2 * availableParallelism()),
    private readonly maxMs = SLOT_MAX_MS,
  ) {
    this.free = limit;
  }

  /**
   * Resolves with the slot's release (idempotent; also called after `maxMs`) once one is
   * free, or with undefined when `signal` aborts first.
   */
  take(signal?: AbortSignal): Promise<(() => void) | undefined> {
    return new Promise((resolve) => {
      const grant = () => {
        signal?.removeEventListener('abort', giveUp);
        let released = false;
        const timer = setTimeout(() => release(), this.maxMs);
        timer.unref();
        const release = () => {
          if (released) return;
          released = true;
          clearTimeout(timer);
          const next = this.waiting.shift();
          if (next) next();
          else this.free++;
        };
        resolve(release);
      };
      const giveUp = () => {
        const at = this.waiting.indexOf(grant);
        if (at >= 0) this.waiting.splice(at, 1);
        resolve(undefined);
      };
      if (signal?.aborted) return resolve(undefined);
      if (this.free > 0) {
        this.free--;
        grant();
        return;
      }
      signal?.addEventListener('abort', giveUp, { once: true });
      this.waiting.push(grant);
    });
  }
}
