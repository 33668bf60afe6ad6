// workers/fetchmachine.ts walked event by event: when a remote fetches, what it says, and when a
// failed fetch is tried again. No git, no timers: the session carries the effects out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initialFetchState, servedBy, stepFetch, type FetchEffect, type FetchEnd, type FetchEvent, type FetchState } from '../../workers/fetchmachine.js';

const env = { delay: (failures: number) => 1000 * 2 ** (failures - 1) };

/** Feeds `events` from `state`, returning the final state and every effect in order. */
function walk(state: FetchState, ...events: FetchEvent[]): [FetchState, FetchEffect[]] {
  const all: FetchEffect[] = [];
  for (const event of events) {
    const [next, effects] = stepFetch(state, event, env);
    state = next;
    all.push(...effects);
  }
  return [state, all];
}

const ok: FetchEnd = { ok: true, cancelled: false, error: '', updates: [] };
const failed: FetchEnd = { ok: false, cancelled: false, error: 'fatal: the remote hung up', updates: [] };
const connected = walk(initialFetchState, { type: 'connected' })[0];

test('a wish starts a run; SYNCING when git starts; DONESYNCING, the cleared condition and the answer when it ends', () => {
  assert.equal(servedBy(connected), 1);
  const [state, effects] = walk(connected, { type: 'want' }, { type: 'started' }, { type: 'ended', outcome: ok });
  assert.deepEqual(effects, [
    { do: 'run', run: 1 },
    { do: 'emit', line: 'SYNCING' },
    { do: 'condition', text: null },
    { do: 'emit', line: 'DONESYNCING', ok: true, updates: [] },
    { do: 'served', run: 1 },
  ]);
  assert.equal(state.running, false);
});

test('any number of wishes during a run earn exactly one more, which answers them all', () => {
  let [state, effects] = walk(connected, { type: 'want' });
  assert.deepEqual(effects, [{ do: 'run', run: 1 }]);
  for (let i = 0; i < 50; i++) {
    assert.equal(servedBy(state), 2, 'every wish during run 1 is served by run 2');
    [state, effects] = walk(state, { type: 'want' });
    assert.deepEqual(effects, [], 'nothing starts while a run is under way');
  }
  assert.equal(state.queued, true);
  [state, effects] = walk(state, { type: 'started' }, { type: 'ended', outcome: ok });
  assert.deepEqual(effects.slice(-2), [{ do: 'served', run: 1 }, { do: 'run', run: 2 }]);
  [state, effects] = walk(state, { type: 'started' }, { type: 'ended', outcome: ok });
  assert.deepEqual(effects.slice(-1), [{ do: 'served', run: 2 }], 'no third run');
  assert.deepEqual([state.running, state.queued], [false, false]);
});

test('no connection to fetch through: the run ends without SYNCING or DONESYNCING, and is answered', () => {
  const [, effects] = walk(connected, { type: 'want' }, { type: 'ended' });
  assert.deepEqual(effects, [{ do: 'run', run: 1 }, { do: 'served', run: 1 }]);
});

test('a failed fetch: one condition, and retries while connected, backing off until one works', () => {
  let [state, effects] = walk(connected, { type: 'want' }, { type: 'started' }, { type: 'ended', outcome: failed });
  assert.deepEqual(effects.slice(2), [
    { do: 'condition', text: 'git fetch failed: fatal: the remote hung up' },
    { do: 'emit', line: 'DONESYNCING', ok: false, updates: [] },
    { do: 'served', run: 1 },
    { do: 'retry-in', ms: 1000 },
  ]);
  [state, effects] = walk(state, { type: 'retry-due' });
  assert.deepEqual(effects, [{ do: 'run', run: 2 }]);
  [state, effects] = walk(state, { type: 'started' }, { type: 'ended', outcome: failed });
  assert.deepEqual(effects.at(-1), { do: 'retry-in', ms: 2000 }, 'the second retry waits longer');
  // A change meanwhile fetches at once; when it works, the pending retry is dropped.
  [state, effects] = walk(state, { type: 'want' }, { type: 'started' }, { type: 'ended', outcome: ok });
  assert.deepEqual(effects.slice(-2), [{ do: 'served', run: 3 }, { do: 'cancel-retry' }]);
  assert.equal(state.failures, 0);
  [state, effects] = walk(state, { type: 'want' }, { type: 'started' }, { type: 'ended', outcome: failed });
  assert.deepEqual(effects.at(-1), { do: 'retry-in', ms: 1000 }, 'after a success, the backoff starts over');
});

test('RESUME or RELOAD forgets the failures so far', () => {
  const [state] = walk(connected, { type: 'want' }, { type: 'ended', outcome: failed }, { type: 'want' }, { type: 'ended', outcome: failed });
  assert.equal(state.failures, 2);
  const [after, effects] = walk(state, { type: 'reset' }, { type: 'want' }, { type: 'ended', outcome: failed });
  assert.deepEqual(effects.at(-1), { do: 'retry-in', ms: 1000 });
  assert.equal(after.failures, 1);
});

test('no retry over a connection that is gone; a fetch cut short with it raises no condition', () => {
  let [state] = walk(connected, { type: 'want' }, { type: 'ended', outcome: failed });
  assert.equal(state.retrying, true);
  let effects: FetchEffect[];
  [state, effects] = walk(state, { type: 'disconnected' });
  assert.deepEqual(effects, [{ do: 'cancel-retry' }]);
  [state, effects] = walk(state, { type: 'want' }, { type: 'ended', outcome: failed });
  assert.ok(!effects.some((e) => e.do === 'retry-in'), 'not connected: no retry');
  [state, effects] = walk(state, { type: 'connected' }, { type: 'want' }, { type: 'ended', outcome: { ...failed, cancelled: true } });
  assert.deepEqual(effects, [
    { do: 'run', run: 3 },
    { do: 'emit', line: 'DONESYNCING', ok: false, updates: [] },
    { do: 'served', run: 3 },
  ]);
});

test('stopped: nothing new starts, the queued run is dropped, the running one is still answered', () => {
  let [state, effects] = walk(connected, { type: 'want' }, { type: 'want' }, { type: 'stop' });
  assert.deepEqual(effects, [{ do: 'run', run: 1 }, { do: 'served', run: 2 }], 'who waited for the queued run is answered');
  assert.equal(servedBy(state), undefined);
  [state, effects] = walk(state, { type: 'want' }, { type: 'ended', outcome: failed });
  assert.deepEqual(effects, [
    { do: 'condition', text: 'git fetch failed: fatal: the remote hung up' },
    { do: 'emit', line: 'DONESYNCING', ok: false, updates: [] },
    { do: 'served', run: 1 },
  ]);
  assert.deepEqual([state.running, state.queued, state.retrying], [false, false, false]);
});
