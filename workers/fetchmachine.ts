// When a remote fetches, as one value changed by a pure step (as workers/lifecycle.ts is for its
// connection): a fetch wanted, running, one more queued behind it, a failed one tried again later
// while connected. The session carries the effects out (runs git through fetcher.ts, says SYNCING
// and DONESYNCING, sets the retry timer) and feeds back what happened; a test walks every rule here
// in microseconds.
//
// However many changes arrive, at most one fetch runs and one more waits: a change that arrives
// during a fetch may not be in it, so it earns exactly one more fetch, and every later change folds
// into that same queued one. Runs are numbered: whoever wanted a fetch waits for `servedBy`, the
// first run that starts after they asked.

import type { RefUpdate } from '../shared/workerapi.js';

export interface FetchState {
  /** The run under way (or the last one); 0 before the first. */
  run: number;
  running: boolean;
  /** Wanted while `run` was under way: run `run + 1` starts when it ends. */
  queued: boolean;
  /** Fetches that failed in a row (not counting ones cut short with their connection). */
  failures: number;
  /** A retry timer is set. */
  retrying: boolean;
  /** Retries are made only over a connection: one that ended has nothing left to retry over. */
  connected: boolean;
  /** The session is ending: nothing new starts. */
  stopped: boolean;
}

export interface FetchEnd {
  ok: boolean;
  /** Local refs it moved (for after-fetch actions), reported with DONESYNCING. */
  updates: RefUpdate[];
  /** Ended because its connection went: DISCONNECTED says so, the next catch-up takes its place. */
  cancelled: boolean;
  /** git's complaint, one line, when it failed. */
  error: string;
}

export type FetchEvent =
  /** A change needs a fetch (a notifier, a listing that differs, FETCH, the catch-up). */
  | { type: 'want' }
  /** git fetch started through the connection. */
  | { type: 'started' }
  /** The run is over: `outcome` undefined when no fetch ran (no connection to fetch through). */
  | { type: 'ended'; outcome?: FetchEnd }
  | { type: 'retry-due' }
  | { type: 'connected' }
  | { type: 'disconnected' }
  /** RESUME or RELOAD: the user asked again; the failures so far are forgotten. */
  | { type: 'reset' }
  | { type: 'stop' };

export type FetchEffect =
  /** Start run number `run`: one `git fetch` through the connection, or none when not connected. */
  | { do: 'run'; run: number }
  | { do: 'emit'; line: 'SYNCING' }
  /** What it moved, then DONESYNCING. */
  | { do: 'emit'; line: 'DONESYNCING'; ok: boolean; updates: RefUpdate[] }
  /** The `fetch` condition: one WARNING while fetches fail, cleared by one that works. */
  | { do: 'condition'; text: string | null }
  /** Every wish that run `run` serves is answered. */
  | { do: 'served'; run: number }
  /** Dispatch retry-due after `ms` (replacing any earlier timer). */
  | { do: 'retry-in'; ms: number }
  | { do: 'cancel-retry' };

export interface FetchEnv {
  /** The wait before retry number `failures` (1 = first retry). */
  delay(failures: number): number;
}

export const initialFetchState: FetchState = {
  run: 0,
  running: false,
  queued: false,
  failures: 0,
  retrying: false,
  connected: false,
  stopped: false,
};

/** The run that serves a wish made in `state`; undefined when none will (stopped). */
export function servedBy(state: FetchState): number | undefined {
  // Idle: the run a wish starts. Running: the one queued behind it, which every wish meanwhile joins.
  return state.stopped ? undefined : state.run + 1;
}

export function stepFetch(state: FetchState, event: FetchEvent, env: FetchEnv): [FetchState, FetchEffect[]] {
  switch (event.type) {
    case 'want':
    case 'retry-due':
      return want(event.type === 'retry-due' ? { ...state, retrying: false } : state);
    case 'started':
      return [state, [{ do: 'emit', line: 'SYNCING' }]];
    case 'ended':
      return ended(state, event.outcome, env);
    case 'connected':
      return [{ ...state, connected: true }, []];
    case 'disconnected':
      return [{ ...state, connected: false, retrying: false }, state.retrying ? [{ do: 'cancel-retry' }] : []];
    case 'reset':
      return [{ ...state, failures: 0 }, []];
    case 'stop': {
      const effects: FetchEffect[] = state.retrying ? [{ do: 'cancel-retry' }] : [];
      // The queued run will never start: whoever waits for it is answered now.
      if (state.queued) effects.push({ do: 'served', run: state.run + 1 });
      return [{ ...state, stopped: true, queued: false, retrying: false }, effects];
    }
  }
}

function want(state: FetchState): [FetchState, FetchEffect[]] {
  if (state.stopped) return [state, []];
  if (state.running) return [{ ...state, queued: true }, []];
  const run = state.run + 1;
  return [{ ...state, run, running: true }, [{ do: 'run', run }]];
}

function ended(state: FetchState, outcome: FetchEnd | undefined, env: FetchEnv): [FetchState, FetchEffect[]] {
  const effects: FetchEffect[] = [];
  let next: FetchState = { ...state, running: false };
  if (outcome) {
    // Cut short with its connection: DISCONNECTED says so, and no retry is due over a link that is gone.
    if (!outcome.cancelled) effects.push({ do: 'condition', text: outcome.ok ? null : `git fetch failed: ${outcome.error}` });
    effects.push({ do: 'emit', line: 'DONESYNCING', ok: outcome.ok, updates: outcome.updates });
  }
  effects.push({ do: 'served', run: state.run });
  if (outcome?.ok) {
    next.failures = 0;
    if (next.retrying) effects.push({ do: 'cancel-retry' });
    next.retrying = false;
  } else if (outcome && !outcome.cancelled && next.connected && !next.stopped) {
    next.failures += 1;
    next.retrying = true;
    effects.push({ do: 'retry-in', ms: env.delay(next.failures) });
  }
  if (next.queued && !next.stopped) {
    next = { ...next, queued: false, run: next.run + 1, running: true };
    effects.push({ do: 'run', run: next.run });
  }
  return [next, effects];
}
