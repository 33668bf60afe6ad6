// Polling a remote's ref listing, for any transport that has no notifier (ssh without one, http,
// git://): list now and then every interval, and report only the refs that moved.

import { zeroIdLike } from '../shared/kit/objectid.js';
import { Coalesced } from './coalesce.js';
import type { RefMap, RemoteChange } from '../shared/transport.js';

export interface PollOptions {
  /** One ref listing. */
  list(): Promise<RefMap>;
  /**
   * The wait before the next listing, read each time (live settings may change it): after a
   * listing (`sinceLastMs` 0), and again on reschedule(), `sinceLastMs` after the last one ended.
   */
  nextDelayMs(sinceLastMs: number): number;
  changed(change: RemoteChange): void;
  /** A listing failed: polling stops; the owner decides what the failure means. */
  failed(err: Error): void;
  /** The next listing is due at `at` (for status). */
  scheduled?(at: number): void;
}

export interface Poller {
  /** List now instead of at the next tick (a nudge); coalesced with one already running. */
  now(): void;
  /** The interval changed: the pending wait is worked out again (a listing under way is left be). */
  reschedule(): void;
  /**
   * The session listed the refs itself (a nudge, RESUME, the catch-up) and acts on what it saw:
   * that listing is the one to compare with next, so what it showed is not reported again.
   */
  observe(refs: RefMap): void;
  stop(): void;
}

/** Starts polling from `initial` (the listing that was just made); the first poll is one delay away. */
export function startPolling(initial: RefMap, options: PollOptions): Poller {
  let previous = initial;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let lastEnded = Date.now();
  /** Counts observe() calls: a listing that ran across one is older news than what it observed. */
  let observed = 0;
  const schedule = (sinceLastMs = 0) => {
    clearTimeout(timer);
    if (stopped) return;
    const delay = Math.max(0, options.nextDelayMs(sinceLastMs));
    timer = setTimeout(tick, delay);
    options.scheduled?.(Date.now() + delay);
  };
  const listOnce = async (): Promise<void> => {
    if (stopped) return;
    const observedBefore = observed;
    try {
      const current = await options.list();
      if (stopped || observed !== observedBefore) return;
      const moved = movedRefs(previous, current);
      previous = current;
      if (moved.size > 0) options.changed({ kind: 'refs', refs: moved });
    } catch (err) {
      if (!stopped) {
        stopped = true;
        options.failed(err instanceof Error ? err : new Error(String(err)));
      }
    } finally {
      lastEnded = Date.now();
      // A nudge during this listing has one more waiting, which schedules when it ends.
      if (!listings.queued) schedule();
    }
  };
  // At most one listing runs and one waits, however many nudges come.
  const listings = new Coalesced(listOnce);
  const tick = (): void => {
    if (stopped) return;
    clearTimeout(timer);
    void listings.request();
  };
  schedule();
  return {
    now: tick,
    reschedule() {
      if (!listings.running && !listings.queued) schedule(Date.now() - lastEnded);
    },
    observe(refs) {
      observed++;
      previous = refs;
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/** Refs that are new or moved, and deleted ones as the zero id (a fetch prunes them if asked to). */
export function movedRefs(before: RefMap, after: RefMap): RefMap {
  const moved: RefMap = new Map();
  for (const [ref, sha] of after) if (before.get(ref) !== sha) moved.set(ref, sha);
  for (const [ref, sha] of before) if (!after.has(ref)) moved.set(ref, zeroIdLike(sha));
  return moved;
}
