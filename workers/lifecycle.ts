// A remote's lifecycle as one value, changed only by `step`: a pure function from (state, event) to
// (state, effects). The session (workers/session.ts) carries the effects out (connects, closes,
// timers) and feeds back what happened as events; every rule about when to connect, retry, wait
// for the user or report CONNECTED/DISCONNECTED lives here, where a test can walk it in microseconds.

import type { ControlMode, Phase } from '../shared/phase.js';

export type { ControlMode, Phase };

export interface LifeState {
  phase: Phase;
  /** What the coordinator last said (PAUSE / LOSTNET / RESUME). */
  mode: ControlMode;
  /** Whether the transport needs the network (LOSTNET stops only those that do). */
  network: boolean;
  /** Id of the latest connect attempt: results of older attempts are stale. */
  attempt: number;
  /** Attempts that failed in a row, or connections lost before catching up: drives the backoff. */
  failures: number;
  /**
   * The current connection caught up with the remote (listed its refs, fetched if that was
   * needed): it works, not merely opened. This is the one meaning of "healthy", whatever the
   * connection's age: it resets the backoff.
   */
  healthy: boolean;
  /**
   * Until then, failed connects retry at the shortest delay: a healthy connection was lost just
   * before, so the server is most likely restarting and will be back in seconds.
   */
  quickUntil: number;
  /**
   * The network changed, or the transport said the remote is reachable, while an attempt was under
   * way: it started in the old conditions, so its failure says nothing, and the next try is at once.
   */
  retryAtOnce: boolean;
}

export type LifeEvent =
  | { type: 'pause' }
  | { type: 'lostnet' }
  | { type: 'resume' }
  /** RELOAD, with this remote's config unchanged. */
  | { type: 'reload' }
  /** The machine has a new way out (a new address or default route, or it woke from suspend). */
  | { type: 'network-changed' }
  /**
   * The transport has news that the remote is reachable again (p2p: the DHT answers again, or the
   * peer itself linked to us): a backoff has nothing left to wait for.
   */
  | { type: 'reachable' }
  | { type: 'stop' }
  | { type: 'connected'; attempt: number }
  | { type: 'connect-failed'; attempt: number; reason: string; needsUser: boolean }
  /** The connection ended on its own (not closed by an effect of ours). */
  | { type: 'lost'; attempt: number; reason: string; needsUser: boolean }
  /** The catch-up after connecting is done: the connection really works. */
  | { type: 'caught-up'; attempt: number }
  | { type: 'retry-due' };

export type Effect =
  | { do: 'connect'; attempt: number }
  /** Abandon attempt `attempt`: abort it while connecting, close it once connected. Idempotent. */
  | { do: 'disconnect'; attempt: number }
  | { do: 'emit'; line: 'CONNECTED' | 'DISCONNECTED' }
  | { do: 'condition'; kind: string; text: string | null }
  /** Dispatch retry-due after `ms` (replacing any earlier timer). */
  | { do: 'timer'; ms: number }
  | { do: 'cancel-timer' }
  /** Everything is closed: the session may end. */
  | { do: 'finish' };

export interface StepEnv {
  now: number;
  /** The wait before retry number `failures` (1 = first retry). */
  delay(failures: number): number;
  /** After losing a healthy connection, how long retries stay at the shortest delay. */
  quickRetryMs: number;
}

/** Condition kinds the lifecycle raises; a working connection clears them. */
export const CONNECT = 'connect';
/**
 * Waiting for the user is a condition of its own: a remote that was retrying ("cannot connect:
 * ...") and then finds it cannot go on without the user must say so, not be taken for the same
 * condition still holding.
 */
export const NEEDS_USER = 'needs-user';

export function initialState(mode: ControlMode, network: boolean): LifeState {
  return { phase: { kind: 'paused' }, mode, network, attempt: 0, failures: 0, healthy: false, quickUntil: 0, retryAtOnce: false };
}

/** The first step: leave the initial resting phase for whatever the mode asks. */
export function start(state: LifeState): [LifeState, Effect[]] {
  return settle(state, []);
}

/** True when the remote should be connected in this mode. */
function active(state: LifeState): boolean {
  return state.mode === 'running' || (state.mode === 'lostnet' && !state.network);
}

export function step(state: LifeState, event: LifeEvent, env: StepEnv): [LifeState, Effect[]] {
  const { phase } = state;
  if (phase.kind === 'stopping') return [state, []];
  switch (event.type) {
    case 'stop':
      return [{ ...state, phase: { kind: 'stopping' } }, [...leave(state), { do: 'finish' }]];
    case 'pause':
      return settle({ ...state, mode: 'paused' }, []);
    case 'lostnet':
      return settle({ ...state, mode: 'lostnet' }, []);
    case 'resume': {
      // Asked to try again: a remote waiting or backing off tries now, from the shortest delay.
      const next = { ...state, mode: 'running' as const, failures: 0 };
      if (phase.kind === 'waiting' || phase.kind === 'backoff') return connect(next, [{ do: 'cancel-timer' }]);
      return settle(next, []);
    }
    case 'reload':
      if (!active(state)) return [state, []];
      if (phase.kind === 'waiting' || phase.kind === 'backoff') return connect({ ...state, failures: 0 }, [{ do: 'cancel-timer' }]);
      return [state, []];
    case 'network-changed':
      // Whatever failed on the old network may work on the new one: stop waiting out the backoff.
      // A remote that needs no network, or waits for the user, has nothing to gain from it.
      if (!state.network) return [state, []];
      return retryNow(state);
    case 'reachable':
      // As for a network change, but the transport's own word: what the backoff waited out is over.
      return retryNow(state);
    case 'retry-due':
      if (phase.kind !== 'backoff' || !active(state)) return [state, []];
      return connect(state, []);
    case 'connected':
      if (phase.kind !== 'connecting' || event.attempt !== state.attempt) {
        return [state, [{ do: 'disconnect', attempt: event.attempt }]]; // late: close the stray
      }
      return [
        { ...state, phase: { kind: 'connected', attempt: event.attempt, since: env.now }, healthy: false, retryAtOnce: false },
        [{ do: 'emit', line: 'CONNECTED' }],
      ];
    case 'caught-up':
      if (phase.kind !== 'connected' || event.attempt !== state.attempt || state.healthy) return [state, []];
      return [{ ...state, healthy: true, failures: 0 }, [{ do: 'condition', kind: CONNECT, text: null }, { do: 'condition', kind: NEEDS_USER, text: null }]];
    case 'connect-failed': {
      if (phase.kind !== 'connecting' || event.attempt !== state.attempt) return [state, []];
      if (event.needsUser) return waitForUser(state, event.reason, []);
      if (state.retryAtOnce) return connect({ ...state, failures: 0 }, []);
      const failures = env.now < state.quickUntil ? 1 : state.failures + 1;
      return backOff(state, env, `cannot connect: ${event.reason}`, failures, []);
    }
    case 'lost': {
      if (phase.kind !== 'connected' || event.attempt !== state.attempt) return [state, []];
      const effects: Effect[] = [{ do: 'disconnect', attempt: state.attempt }, { do: 'emit', line: 'DISCONNECTED' }];
      if (event.needsUser) return waitForUser(state, event.reason, effects);
      // A connection that caught up was healthy, however young: the server went away (a restart,
      // most likely), so come back quickly, and keep trying quickly for a while. One that drops
      // before catching up counts as another failure and backs off: a server that accepts and
      // then drops every connection is not hammered.
      const next = state.healthy ? { ...state, quickUntil: env.now + env.quickRetryMs } : state;
      return backOff(next, env, `disconnected: ${event.reason}`, state.healthy ? 1 : state.failures + 1, effects);
    }
  }
}

/** Effects that end whatever the current phase holds open. */
function leave(state: LifeState): Effect[] {
  switch (state.phase.kind) {
    case 'connecting':
      return [{ do: 'disconnect', attempt: state.attempt }];
    case 'connected':
      return [{ do: 'disconnect', attempt: state.attempt }, { do: 'emit', line: 'DISCONNECTED' }];
    case 'backoff':
      return [{ do: 'cancel-timer' }];
    default:
      return [];
  }
}

/** After a change of mode: rest if the mode says so, else make sure something is under way. */
function settle(state: LifeState, effects: Effect[]): [LifeState, Effect[]] {
  const { phase } = state;
  if (!active(state)) {
    const rest: Phase = state.mode === 'paused' ? { kind: 'paused' } : { kind: 'offline' };
    return [{ ...state, phase: rest, healthy: false }, [...effects, ...leave(state)]];
  }
  if (phase.kind === 'paused' || phase.kind === 'offline') return connect(state, effects);
  return [state, effects]; // connecting, connected, backing off or waiting: carry on
}

function connect(state: LifeState, effects: Effect[]): [LifeState, Effect[]] {
  const attempt = state.attempt + 1;
  return [{ ...state, attempt, phase: { kind: 'connecting', attempt }, healthy: false, retryAtOnce: false }, [...effects, { do: 'connect', attempt }]];
}

/**
 * The way out changed (network change, the transport's word that the remote is reachable): a
 * remote backing off tries now, from the shortest delay; one connecting tries again at once if
 * this attempt fails. Waiting for the user, paused or connected: nothing to gain.
 */
function retryNow(state: LifeState): [LifeState, Effect[]] {
  if (!active(state)) return [state, []];
  if (state.phase.kind === 'backoff') return connect({ ...state, failures: 0 }, [{ do: 'cancel-timer' }]);
  if (state.phase.kind === 'connecting' && !state.retryAtOnce) return [{ ...state, retryAtOnce: true }, []];
  return [state, []];
}

function backOff(state: LifeState, env: StepEnv, reason: string, failures: number, effects: Effect[]): [LifeState, Effect[]] {
  const ms = env.delay(failures);
  return [
    { ...state, failures, healthy: false, phase: { kind: 'backoff', until: env.now + ms, reason } },
    [...effects, { do: 'condition', kind: NEEDS_USER, text: null }, { do: 'condition', kind: CONNECT, text: reason }, { do: 'timer', ms }],
  ];
}

function waitForUser(state: LifeState, reason: string, effects: Effect[]): [LifeState, Effect[]] {
  return [
    { ...state, healthy: false, phase: { kind: 'waiting', reason } },
    [...effects, { do: 'condition', kind: CONNECT, text: null }, { do: 'condition', kind: NEEDS_USER, text: `${reason}; not retrying until RESUME or RELOAD` }],
  ];
}

/** One line for status and logs. */
export function describePhase(phase: Phase, now: number): string {
  switch (phase.kind) {
    case 'paused':
      return 'paused';
    case 'offline':
      return 'offline (LOSTNET)';
    case 'connecting':
      return 'connecting';
    case 'connected':
      return 'connected';
    case 'backoff':
      return `retrying in ${Math.max(0, Math.ceil((phase.until - now) / 1000))} s`;
    case 'waiting':
      return 'waiting for RESUME or RELOAD';
    case 'stopping':
      return 'stopping';
  }
}
