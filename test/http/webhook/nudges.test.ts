// Nudges per remote, rate-limited.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NudgeLimiter, type Clock } from '../../../workers/http/webhook/nudges.js';

test('nudges per remote: a burst at once, then one held and merged per refill; other remotes unaffected; forget cancels', () => {
  let now = 0;
  const timers: { at: number; fn: () => void; cancelled: boolean }[] = [];
  const clock: Clock = {
    now: () => now,
    later: (fn, ms) => {
      const timer = { at: now + ms, fn, cancelled: false };
      timers.push(timer);
      return () => (timer.cancelled = true);
    },
  };
  const advance = (ms: number) => {
    now += ms;
    for (const timer of timers.splice(0)) if (timer.cancelled || timer.at > now) timers.push(timer); else timer.fn();
  };
  const sent: string[] = [];
  const limiter = new NudgeLimiter((remote, forge) => sent.push(`${remote}:${forge}`), clock, 3, 1000);
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => limiter.nudge('a', 'github')), ['now', 'now', 'now', 'held', 'merged', 'merged']);
  assert.equal(limiter.nudge('b', 'gitlab'), 'now', 'another remote has its own bucket');
  assert.equal(sent.length, 4);
  limiter.nudge('a', 'gitea'); // merged: the held nudge goes with the latest forge
  advance(999);
  assert.equal(sent.length, 4);
  advance(1);
  assert.deepEqual(sent.slice(4), ['a:gitea'], 'the held nudge, once');
  advance(5000);
  assert.equal(sent.length, 5);
  // Refilled to the burst, not beyond.
  assert.deepEqual([1, 2, 3, 4].map(() => limiter.nudge('a', 'github')), ['now', 'now', 'now', 'held']);
  limiter.forget('a');
  advance(5000);
  assert.equal(sent.length, 8, 'a forgotten remote gets nothing held for it');
});
