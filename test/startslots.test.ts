import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StartSlots } from '../src/startslots.js';

/** Whether `promise` has settled, looked at after the microtasks queued so far have run. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(() => (done = true));
  await new Promise((r) => setImmediate(r));
  return done;
}

test('at most `limit` starts at once; a release lets the next waiting start go, in order', async () => {
  const slots = new StartSlots(2, 60_000);
  const first = await slots.take();
  const second = await slots.take();
  assert.ok(first && second);
  const third = slots.take();
  const fourth = slots.take();
  assert.equal(await settled(third), false, 'the third waits while two start');
  first();
  first(); // a second release of the same slot frees nothing more
  assert.equal(await settled(third), true);
  assert.equal(await settled(fourth), false, 'a repeated release gave no extra slot');
  second();
  assert.ok(await fourth);
});

test('an abort while waiting gives up the place (undefined) without taking a slot', async () => {
  const slots = new StartSlots(1, 60_000);
  const held = await slots.take();
  const stop = new AbortController();
  const waiting = slots.take(stop.signal);
  const next = slots.take();
  stop.abort();
  assert.equal(await waiting, undefined);
  assert.equal(await settled(next), false);
  held!();
  assert.ok(await next, 'the slot went to the next one still waiting');
  assert.equal(await slots.take(AbortSignal.abort()), undefined, 'already aborted: no slot');
});

test('a start that never speaks gives its slot back after maxMs', async () => {
  const slots = new StartSlots(1, 50);
  await slots.take(); // never released by hand
  // The slot's timer does not hold a process open (unref): this test does, while it waits.
  const alive = setInterval(() => {}, 1000);
  const started = Date.now();
  try {
    assert.ok(await slots.take());
  } finally {
    clearInterval(alive);
  }
  assert.ok(Date.now() - started >= 40, 'not before maxMs');
});
