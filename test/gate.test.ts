// The protocol gate: pairing by construction, and conditions said once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProtocolGate, TEXT_LOG_EVERY_MS } from '../src/gate.js';
import { formatEmitted, type Emitted } from '../src/protocol.js';

function gate() {
  const out: string[] = [];
  const logs: string[] = [];
  const clock = { now: 0 };
  const g = new ProtocolGate({ emit: (m: Emitted) => out.push(formatEmitted(m)), log: (t) => logs.push(t) }, () => clock.now);
  return { g, out, logs, clock };
}

test('a CONNECTED in flight when the worker is being stopped is not sent, nor is its DISCONNECTED', () => {
  const { g, out } = gate();
  const guard = g.pairingGuard('origin');
  guard.stopping(); // STOP or a RELOAD restart began
  guard.connect(); // the worker's CONNECTED arrives late
  guard.sync();
  guard.doneSyncing(true);
  guard.disconnect();
  guard.end();
  assert.deepEqual(out, []);
});

test('a stopping worker still closes what it opened; the end closes what it left open', () => {
  const { g, out } = gate();
  const a = g.pairingGuard('a');
  a.connect();
  a.sync();
  a.stopping();
  a.doneSyncing(true);
  a.disconnect();
  const b = g.pairingGuard('b');
  b.connect();
  b.sync();
  b.end(); // crashed mid-fetch
  b.end();
  assert.deepEqual(out, ['CONNECTED a', 'SYNCING a', 'DONESYNCING a 1', 'DISCONNECTED a', 'CONNECTED b', 'SYNCING b', 'DONESYNCING b 0', 'DISCONNECTED b']);
});

test('random orders of worker lines, stops and ends always come out paired', () => {
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let run = 0; run < 300; run++) {
    const { g, out } = gate();
    const guard = g.pairingGuard('r');
    const actions = [() => guard.connect(), () => guard.disconnect(), () => guard.sync(), () => guard.doneSyncing(random() < 0.5), () => guard.stopping()];
    for (let i = 0; i < 20; i++) actions[Math.floor(random() * actions.length)]!();
    guard.end();
    let connected = false;
    let syncing = false;
    for (const line of out) {
      if (line === 'CONNECTED r') assert.equal((connected = !connected), true, out.join(' | '));
      if (line === 'DISCONNECTED r') assert.equal((connected = !connected), false, out.join(' | '));
      if (line === 'SYNCING r') assert.equal((syncing = !syncing), true, out.join(' | '));
      if (line.startsWith('DONESYNCING r')) assert.equal((syncing = !syncing), false, out.join(' | '));
    }
    assert.equal(connected || syncing, false, 'nothing left open');
  }
});

test('a condition is said once per remote and kind until cleared, whatever its text does meanwhile', () => {
  const { g, out, logs, clock } = gate();
  g.raise('origin', 'connect', 'cannot connect: refused');
  clock.now += TEXT_LOG_EVERY_MS;
  g.raise('origin', 'connect', 'cannot connect: timed out');
  clock.now += TEXT_LOG_EVERY_MS;
  g.raise('origin', 'connect', 'cannot connect: refused');
  g.raise('origin', 'fetch', 'git fetch failed');
  g.raise('other', 'connect', 'cannot connect: refused');
  assert.deepEqual(out, ['WARNING origin cannot connect: refused', 'WARNING origin git fetch failed', 'WARNING other cannot connect: refused']);
  assert.equal(logs.length, 2, 'the changed texts reach the log');
  assert.deepEqual(g.held('origin').map((c) => c.text), ['cannot connect: refused', 'git fetch failed']);
  g.clear('origin', 'connect');
  g.raise('origin', 'connect', 'cannot connect: refused');
  assert.equal(out.at(-1), 'WARNING origin cannot connect: refused', 'said again once it had gone away');
  g.forgetRemote('origin');
  g.raise('origin', 'fetch', 'git fetch failed');
  assert.equal(out.at(-1), 'WARNING origin git fetch failed', 'RESUME: said again');
});

test('a family of conditions is replaced as a whole (config problems at each RELOAD)', () => {
  const { g, out } = gate();
  g.replaceFamily('*', 'config:', new Map([['config:a', 'a is bad'], ['config:b', 'b is bad']]));
  g.replaceFamily('*', 'config:', new Map([['config:b', 'b is bad']]));
  g.replaceFamily('*', 'config:', new Map([['config:a', 'a is bad'], ['config:b', 'b is bad']]));
  assert.deepEqual(out, ['WARNING * a is bad', 'WARNING * b is bad', 'WARNING * a is bad']);
});

test('a held condition whose text changes at every retry reaches the log at most every TEXT_LOG_EVERY_MS; status shows the latest', () => {
  const { g, out, logs, clock } = gate();
  for (let i = 0; i < 100; i++) {
    g.raise('origin', 'connect', `cannot connect: attempt ${i}`);
    clock.now += 1000;
  }
  assert.deepEqual(out, ['WARNING origin cannot connect: attempt 0']);
  assert.deepEqual(logs, [10, 20, 30, 40, 50, 60, 70, 80, 90].map((i) => `origin: cannot connect: attempt ${i}`));
  assert.equal(g.held('origin')[0]!.text, 'cannot connect: attempt 99');
  assert.deepEqual(Object.keys(g.held('origin')[0]!), ['kind', 'text', 'at'], 'status gets what it always got');
});

test('a text held back by the log limit reaches the log at the next report after it, even a repeat', () => {
  const { g, out, logs, clock } = gate();
  g.raise('b', 'connect', 'cannot connect: connection lost');
  clock.now += 1000;
  g.raise('b', 'connect', 'cannot connect: could not reach the peer');
  assert.deepEqual(logs, [], 'within the limit');
  clock.now += TEXT_LOG_EVERY_MS;
  g.raise('b', 'connect', 'cannot connect: could not reach the peer');
  g.raise('b', 'connect', 'cannot connect: could not reach the peer');
  assert.deepEqual(logs, ['b: cannot connect: could not reach the peer'], 'logged once, when the limit allowed');
  assert.deepEqual(out, ['WARNING b cannot connect: connection lost']);
});
