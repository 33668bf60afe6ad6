import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBucket, TokenBuckets } from '../../workers/tokenbucket.js';

test('a bucket lets a burst through, then one per refill period', () => {
  let now = 0;
  const bucket = new TokenBucket({ burst: 3, refillMs: 100 }, () => now);
  assert.deepEqual([bucket.take(), bucket.take(), bucket.take(), bucket.take()], [true, true, true, false]);
  assert.equal(bucket.untilNext(), 100);
  now = 50;
  assert.equal(bucket.take(), false, 'half a token is not a token');
  assert.equal(bucket.untilNext(), 50);
  now = 100;
  assert.equal(bucket.take(), true);
  assert.equal(bucket.take(), false);
});

test('a quiet bucket fills up to its burst, not beyond', () => {
  let now = 0;
  const bucket = new TokenBucket({ burst: 2, refillMs: 10 }, () => now);
  now = 10_000;
  assert.deepEqual([bucket.take(), bucket.take(), bucket.take()], [true, true, false]);
});

test('refused takes spend nothing: a flood does not push the next token further away', () => {
  let now = 0;
  const bucket = new TokenBucket({ burst: 1, refillMs: 100 }, () => now);
  assert.equal(bucket.take(), true);
  for (let i = 0; i < 1000; i++) assert.equal(bucket.take(), false);
  now = 100;
  assert.equal(bucket.take(), true);
});

test('buckets per sender are apart, and the sender heard from longest ago is forgotten first', () => {
  let now = 0;
  const buckets = new TokenBuckets({ burst: 1, refillMs: 1000, maxSenders: 2 }, () => now);
  assert.equal(buckets.take('a'), true);
  assert.equal(buckets.take('a'), false);
  assert.equal(buckets.take('b'), true, 'b has its own bucket');
  assert.equal(buckets.untilNext('a'), 1000);
  assert.equal(buckets.take('c'), true); // a is forgotten: it was heard from longest ago
  assert.equal(buckets.take('b'), false, 'b is still remembered');
  assert.equal(buckets.take('a'), true, 'a forgotten starts again with a full bucket');
  buckets.forget('a');
  assert.equal(buckets.untilNext('a'), 0);
});

test('a token bucket lets a burst through, then one per refill period, per sender', () => {
  let now = 0;
  const buckets = new TokenBuckets({ burst: 3, refillMs: 1000, maxSenders: 2 }, () => now);
  assert.deepEqual([1, 2, 3, 4].map(() => buckets.take('a')), [true, true, true, false]);
  assert.equal(buckets.take('b'), true, 'another sender has a bucket of its own');
  now += 1000;
  assert.deepEqual([buckets.take('a'), buckets.take('a')], [true, false]);
  buckets.take('c'); // forgets 'b', heard from longest ago; never more than maxSenders kept
  assert.equal(buckets.take('a'), false, 'a sender still heard keeps its empty bucket');
});
