// shared/kit/deadline.ts: a caller's signal with a deadline. The deadline must come even when the
// garbage collector runs before it (with `AbortSignal.any([s, AbortSignal.timeout(ms)])` on Node
// 20 it then never comes: 0 of 50 fired here); the caller's abort wins with its own reason; clear()
// leaves nothing behind on the caller's signal.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withDeadline } from '../../shared/kit/deadline.js';
import { collectGarbage } from '../support/heap.js';

test('the deadline comes although the garbage collector ran before it', { timeout: 10_000 }, async (t) => {
  // Its timer is unref'd (the work it bounds holds the process up): here, this does.
  const work = setInterval(() => {}, 1000);
  t.after(() => clearInterval(work));
  const caller = new AbortController().signal;
  const N = 20;
  let fired = 0;
  const ends = Array.from({ length: N }, () => {
    const d = withDeadline(caller, 200);
    return new Promise<void>((resolve) =>
      d.signal.addEventListener('abort', () => {
        fired++;
        assert.equal(d.timedOut, true);
        assert.equal((d.signal.reason as DOMException).name, 'TimeoutError');
        resolve();
      }),
    );
  });
  // Finalizers run in a later task: collect, then let them run, a few times.
  for (let i = 0; i < 5; i++) {
    collectGarbage();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await Promise.all(ends);
  assert.equal(fired, N);
});

test("the caller's abort ends it at once with the caller's reason; not timed out", () => {
  const caller = new AbortController();
  const d = withDeadline(caller.signal, 60_000);
  assert.equal(d.signal.aborted, false);
  const reason = new Error('the session is closing');
  caller.abort(reason);
  assert.equal(d.signal.aborted, true);
  assert.equal(d.signal.reason, reason);
  assert.equal(d.timedOut, false);
});

test('a caller already aborted: aborted from the start', () => {
  const reason = new Error('stopped');
  const d = withDeadline(AbortSignal.abort(reason), 60_000);
  assert.equal(d.signal.aborted, true);
  assert.equal(d.signal.reason, reason);
});

test("clear() ends the timer and the link to the caller's signal", async () => {
  const caller = new AbortController();
  const d = withDeadline(caller.signal, 20);
  d.clear();
  caller.abort(new Error('later'));
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.equal(d.signal.aborted, false, 'neither the caller nor the timer reaches it once cleared');
  assert.equal(d.timedOut, false);
});

test('without a caller\'s signal, only the deadline ends it, with the reason the caller gave', async (t) => {
  const work = setInterval(() => {}, 1000);
  t.after(() => clearInterval(work));
  const because = new Error('Timed out after 0.03 s reaching it (ConnectTimeout)');
  const d = withDeadline(undefined, 30, () => because);
  assert.equal(d.signal.aborted, false);
  await new Promise((resolve) => d.signal.addEventListener('abort', resolve, { once: true }));
  assert.equal(d.signal.reason, because);
  assert.equal(d.timedOut, true);
});
