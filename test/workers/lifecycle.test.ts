// The remote lifecycle as a pure function: every rule walked in microseconds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initialState, start, step, type Effect, type LifeEvent, type LifeState, type StepEnv } from '../../workers/lifecycle.js';

const env = (now = 1000): StepEnv => ({ now, delay: (failures) => 1000 * 2 ** (failures - 1), quickRetryMs: 30_000 });

/** Runs events from a fresh running state; returns the final state and every effect in order. */
function walk(events: LifeEvent[], { network = true, mode = 'running' as LifeState['mode'], now = 1000 } = {}) {
  let [state, effects] = start(initialState(mode, network));
  const all: Effect[] = [...effects];
  for (const event of events) {
    [state, effects] = step(state, event, env(now));
    all.push(...effects);
  }
  return { state, effects: all, lines: all.filter((e) => e.do === 'emit').map((e) => (e as { line: string }).line) };
}

test('starting running connects; starting paused does nothing', () => {
  assert.deepEqual(walk([]).effects, [{ do: 'connect', attempt: 1 }]);
  assert.deepEqual(walk([], { mode: 'paused' }).effects, []);
  assert.equal(walk([], { mode: 'lostnet' }).state.phase.kind, 'offline');
  assert.equal(walk([], { mode: 'lostnet', network: false }).state.phase.kind, 'connecting', 'a local remote needs no network');
});

test('connected emits CONNECTED; a lost connection emits DISCONNECTED and backs off, doubling', () => {
  const { state, lines, effects } = walk([
    { type: 'connected', attempt: 1 },
    { type: 'lost', attempt: 1, reason: 'reset', needsUser: false },
    { type: 'retry-due' },
    { type: 'connect-failed', attempt: 2, reason: 'refused', needsUser: false },
  ]);
  assert.deepEqual(lines, ['CONNECTED', 'DISCONNECTED']);
  assert.deepEqual(effects.filter((e) => e.do === 'timer'), [{ do: 'timer', ms: 1000 }, { do: 'timer', ms: 2000 }]);
  assert.equal(state.phase.kind, 'backoff');
  assert.equal(state.failures, 2);
});

test('a connection that caught up resets the backoff however young; one lost before catching up keeps backing off', () => {
  let [s] = start(initialState('running', true));
  const fail = (attempt: number, now: number) => {
    [s] = step(s, { type: 'connect-failed', attempt, reason: 'x', needsUser: false }, env(now));
    [s] = step(s, { type: 'retry-due' }, env(now));
  };
  fail(1, 0);
  fail(2, 0);
  fail(3, 0);
  [s] = step(s, { type: 'connected', attempt: 4 }, env(0));
  const [notCaughtUp, e2] = step(s, { type: 'lost', attempt: 4, reason: 'dropped', needsUser: false }, env(60_000));
  assert.deepEqual(e2.find((e) => e.do === 'timer'), { do: 'timer', ms: 8000 }, 'a link that drops before catching up keeps backing off, whatever its age');
  assert.equal(notCaughtUp.failures, 4);
  [s] = step(s, { type: 'caught-up', attempt: 4 }, env(1));
  assert.equal(s.failures, 0, 'caught up: healthy');
  // Lost 1 ms after catching up, as when a server restarts right after a push was fetched.
  const [young, e1] = step(s, { type: 'lost', attempt: 4, reason: 'server restart', needsUser: false }, env(2));
  assert.deepEqual(e1.find((e) => e.do === 'timer'), { do: 'timer', ms: 1000 }, 'retried from the shortest delay');
  assert.equal(young.failures, 1);
  assert.equal(young.quickUntil, 2 + 30_000, 'and quickly while the server restarts');
});

test('twenty restarts, each right after the catch-up: every retry stays at the shortest delay', () => {
  let [s] = start(initialState('running', true));
  let now = 0;
  const timers: number[] = [];
  for (let cycle = 0; cycle < 20; cycle++) {
    let effects: Effect[];
    [s] = step(s, { type: 'connected', attempt: s.attempt }, env(now));
    [s] = step(s, { type: 'caught-up', attempt: s.attempt }, env((now += 300)));
    [s, effects] = step(s, { type: 'lost', attempt: s.attempt, reason: 'restart', needsUser: false }, env((now += 1500)));
    timers.push((effects.find((e) => e.do === 'timer') as { ms: number }).ms);
    for (let down = 0; down < 3; down++) {
      [s] = step(s, { type: 'retry-due' }, env((now += 1000)));
      [s, effects] = step(s, { type: 'connect-failed', attempt: s.attempt, reason: 'refused', needsUser: false }, env(now));
      timers.push((effects.find((e) => e.do === 'timer') as { ms: number }).ms);
    }
    [s] = step(s, { type: 'retry-due' }, env((now += 1000)));
  }
  assert.deepEqual(new Set(timers), new Set([1000]));
});

test('after losing a healthy connection, failed connects keep retrying at the shortest delay for a while, then back off', () => {
  let [s] = start(initialState('running', true));
  [s] = step(s, { type: 'connected', attempt: 1 }, env(0));
  [s] = step(s, { type: 'caught-up', attempt: 1 }, env(100));
  let effects: Effect[];
  [s, effects] = step(s, { type: 'lost', attempt: 1, reason: 'server restart', needsUser: false }, env(60_000));
  const timers: number[] = [effects.find((e) => e.do === 'timer')!.ms];
  // The server stays down: every retry within quickRetryMs waits the shortest delay.
  for (let attempt = 2, now = 61_000; attempt <= 12; attempt++, now += 5000) {
    [s] = step(s, { type: 'retry-due' }, env(now));
    [s, effects] = step(s, { type: 'connect-failed', attempt, reason: 'refused', needsUser: false }, env(now));
    timers.push((effects.find((e) => e.do === 'timer') as { ms: number }).ms);
  }
  // 60 000 + 30 000 is the end of the window: the attempts from 91 000 on double again.
  assert.deepEqual(timers, [1000, 1000, 1000, 1000, 1000, 1000, 1000, 2000, 4000, 8000, 16000, 32000]);
});

test('NeedsUser waits; RESUME and RELOAD both try again; nothing else does', () => {
  const waiting = walk([{ type: 'connect-failed', attempt: 1, reason: 'unknown host key', needsUser: true }]);
  assert.equal(waiting.state.phase.kind, 'waiting');
  assert.deepEqual(waiting.effects.at(-1), { do: 'condition', kind: 'needs-user', text: 'unknown host key; not retrying until RESUME or RELOAD' });
  assert.equal(waiting.effects.filter((e) => e.do === 'timer').length, 0, 'no timer: no retry');
  const [still] = step(waiting.state, { type: 'retry-due' }, env());
  assert.equal(still.phase.kind, 'waiting');
  for (const type of ['reload', 'resume'] as const) {
    const [next, effects] = step(waiting.state, { type }, env());
    assert.equal(next.phase.kind, 'connecting', type);
    assert.deepEqual(effects.at(-1), { do: 'connect', attempt: 2 }, type);
  }
});

test('RESUME leaves a healthy connection alone; PAUSE and LOSTNET close it', () => {
  const connected = walk([{ type: 'connected', attempt: 1 }]).state;
  const [resumed, none] = step(connected, { type: 'resume' }, env());
  assert.equal(resumed.phase.kind, 'connected');
  assert.deepEqual(none, []);
  for (const type of ['pause', 'lostnet'] as const) {
    const [next, effects] = step(connected, { type }, env());
    assert.equal(next.phase.kind, type === 'pause' ? 'paused' : 'offline');
    assert.deepEqual(effects, [{ do: 'disconnect', attempt: 1 }, { do: 'emit', line: 'DISCONNECTED' }]);
  }
  // LOSTNET leaves a transport that needs no network connected.
  const local = walk([{ type: 'connected', attempt: 1 }, { type: 'lostnet' }], { network: false });
  assert.equal(local.state.phase.kind, 'connected');
  assert.deepEqual(local.lines, ['CONNECTED']);
});

test('paused: a retry timer firing late starts nothing; RESUME connects anew', () => {
  const { state } = walk([{ type: 'connect-failed', attempt: 1, reason: 'x', needsUser: false }, { type: 'pause' }]);
  assert.equal(state.phase.kind, 'paused');
  const [late, none] = step(state, { type: 'retry-due' }, env());
  assert.deepEqual(none, []);
  const [resumed, effects] = step(late, { type: 'resume' }, env());
  assert.equal(resumed.phase.kind, 'connecting');
  assert.deepEqual(effects, [{ do: 'connect', attempt: 2 }]);
});

test('STOP racing a connect: the attempt is abandoned, a late success is closed, nothing is emitted', () => {
  const { state, effects, lines } = walk([{ type: 'stop' }, { type: 'connected', attempt: 1 }]);
  assert.equal(state.phase.kind, 'stopping');
  assert.deepEqual(lines, []);
  assert.deepEqual(effects.slice(1), [{ do: 'disconnect', attempt: 1 }, { do: 'finish' }]);
});

test('STOP while connected: DISCONNECTED once, then finish; later events change nothing', () => {
  const { lines, effects } = walk([{ type: 'connected', attempt: 1 }, { type: 'stop' }, { type: 'lost', attempt: 1, reason: 'x', needsUser: false }, { type: 'stop' }]);
  assert.deepEqual(lines, ['CONNECTED', 'DISCONNECTED']);
  assert.equal(effects.filter((e) => e.do === 'finish').length, 1);
});

test('results of a stale attempt are ignored (a connect that lost the race to a RESUME retry)', () => {
  const { state, lines } = walk([
    { type: 'connect-failed', attempt: 1, reason: 'x', needsUser: false },
    { type: 'resume' },
    { type: 'connect-failed', attempt: 1, reason: 'late', needsUser: true },
    { type: 'lost', attempt: 1, reason: 'late', needsUser: false },
  ]);
  assert.deepEqual(state.phase, { kind: 'connecting', attempt: 2 });
  assert.deepEqual(lines, []);
});

test('every walk keeps CONNECTED and DISCONNECTED alternating, starting with CONNECTED', () => {
  // Random event sequences (seeded), checked against the pairing rule.
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const kinds: ((attempt: number) => LifeEvent)[] = [
    () => ({ type: 'pause' }),
    () => ({ type: 'lostnet' }),
    () => ({ type: 'resume' }),
    () => ({ type: 'reload' }),
    () => ({ type: 'retry-due' }),
    (a) => ({ type: 'connected', attempt: a }),
    (a) => ({ type: 'connect-failed', attempt: a, reason: 'x', needsUser: random() < 0.3 }),
    (a) => ({ type: 'lost', attempt: a, reason: 'x', needsUser: random() < 0.3 }),
    (a) => ({ type: 'caught-up', attempt: a }),
  ];
  for (let run = 0; run < 500; run++) {
    const events: LifeEvent[] = [];
    let attempt = 1;
    for (let i = 0; i < 30; i++) {
      if (random() < 0.2) attempt++;
      events.push(kinds[Math.floor(random() * kinds.length)]!(Math.max(1, attempt - Math.floor(random() * 2))));
    }
    events.push({ type: 'stop' });
    const { lines } = walk(events, { network: random() < 0.5 });
    lines.forEach((line, i) => assert.equal(line, i % 2 === 0 ? 'CONNECTED' : 'DISCONNECTED', `run ${run}: ${lines.join(' ')}`));
    assert.equal(lines.length % 2, 0, 'STOP closes what is open');
  }
});

test('a network change ends a backoff at once; it leaves a waiting remote and a local one alone', () => {
  const backingOff = walk([{ type: 'connect-failed', attempt: 1, reason: 'unreachable', needsUser: false }]).state;
  const [next, effects] = step(backingOff, { type: 'network-changed' }, env());
  assert.equal(next.phase.kind, 'connecting');
  assert.equal(next.failures, 0);
  assert.deepEqual(effects, [{ do: 'cancel-timer' }, { do: 'connect', attempt: 2 }]);
  const waiting = walk([{ type: 'connect-failed', attempt: 1, reason: 'host key', needsUser: true }]).state;
  assert.deepEqual(step(waiting, { type: 'network-changed' }, env())[1], []);
  const local = walk([{ type: 'connect-failed', attempt: 1, reason: 'gone', needsUser: false }], { network: false }).state;
  assert.deepEqual(step(local, { type: 'network-changed' }, env())[1], []);
  const paused = walk([{ type: 'connect-failed', attempt: 1, reason: 'x', needsUser: false }, { type: 'pause' }]).state;
  assert.deepEqual(step(paused, { type: 'network-changed' }, env())[1], []);
});

test('the transport saying the remote is reachable ends a backoff at once, from the shortest delay; connected, waiting or paused, it changes nothing', () => {
  const backingOff = walk([
    { type: 'connect-failed', attempt: 1, reason: 'no DHT', needsUser: false },
    { type: 'retry-due' },
    { type: 'connect-failed', attempt: 2, reason: 'no DHT', needsUser: false },
  ]).state;
  const [next, effects] = step(backingOff, { type: 'reachable' }, env());
  assert.equal(next.phase.kind, 'connecting');
  assert.equal(next.failures, 0);
  assert.deepEqual(effects, [{ do: 'cancel-timer' }, { do: 'connect', attempt: 3 }]);
  const connecting = walk([]).state;
  assert.deepEqual(step(connecting, { type: 'reachable' }, env())[1], [], 'an attempt under way is left to finish');
  const connected = walk([{ type: 'connected', attempt: 1 }]).state;
  assert.deepEqual(step(connected, { type: 'reachable' }, env()), [connected, []]);
  const waiting = walk([{ type: 'connect-failed', attempt: 1, reason: 'bad key file', needsUser: true }]).state;
  assert.deepEqual(step(waiting, { type: 'reachable' }, env())[1], []);
  const paused = walk([{ type: 'connect-failed', attempt: 1, reason: 'x', needsUser: false }, { type: 'pause' }]).state;
  assert.deepEqual(step(paused, { type: 'reachable' }, env())[1], []);
});

test('reachable (or a network change) during an attempt: if that attempt fails, the next starts at once, from the shortest delay', () => {
  for (const type of ['reachable', 'network-changed'] as const) {
    const failing = walk([
      { type: 'connect-failed', attempt: 1, reason: 'no DHT', needsUser: false },
      { type: 'retry-due' },
      { type: 'connect-failed', attempt: 2, reason: 'no DHT', needsUser: false },
      { type: 'retry-due' },
    ]).state;
    assert.equal(failing.phase.kind, 'connecting');
    const [hinted, none] = step(failing, { type }, env());
    assert.deepEqual(none, [], 'the attempt under way is left to finish');
    const [next, effects] = step(hinted, { type: 'connect-failed', attempt: 3, reason: 'started before the DHT answered', needsUser: false }, env());
    assert.deepEqual(effects, [{ do: 'connect', attempt: 4 }], type);
    assert.equal(next.failures, 0);
    const [later, timer] = step(next, { type: 'connect-failed', attempt: 4, reason: 'really unreachable', needsUser: false }, env());
    assert.deepEqual(timer.at(-1), { do: 'timer', ms: 1000 }, 'once only: the next failure backs off again');
    assert.equal(later.phase.kind, 'backoff');
  }
});

test('a remote that retried and then finds it needs the user says so: a condition of its own kind', () => {
  const { effects } = walk([
    { type: 'connect-failed', attempt: 1, reason: 'the peer node is restarting', needsUser: false },
    { type: 'retry-due' },
    { type: 'connect-failed', attempt: 2, reason: 'the key file is readable by others', needsUser: true },
  ]);
  const conditions = effects.filter((e) => e.do === 'condition' && e.text !== null).map((e) => (e as { kind: string }).kind);
  assert.deepEqual(conditions, ['connect', 'needs-user']);
  assert.ok(effects.some((e) => e.do === 'condition' && e.kind === 'connect' && e.text === null), 'the retrying condition is over');
});
