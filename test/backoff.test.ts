import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff } from '../shared/backoff.js';

test('doubles from 1 s to 10 min with jitter between half and all, and resets', () => {
  const top = new Backoff({ random: () => 1 });
  const steps = Array.from({ length: 14 }, () => top.next());
  assert.deepEqual(steps.slice(0, 5), [1000, 2000, 4000, 8000, 16000]);
  assert.equal(steps.at(-1), 600_000);
  const bottom = new Backoff({ random: () => 0 });
  assert.deepEqual([bottom.next(), bottom.next()], [500, 1000]);
  top.reset();
  assert.equal(top.next(), 1000);
  const real = new Backoff();
  for (let i = 0; i < 100; i++) {
    const d = real.next();
    assert.ok(d >= 500 && d <= 600_000);
  }
});
