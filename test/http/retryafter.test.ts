// Retry-After, parsed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRetryAfter, MAX_RETRY_AFTER_MS } from '../../workers/http/retryafter.js';

test('Retry-After: seconds, HTTP dates (all three forms), nonsense, bounds', () => {
  const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
  assert.equal(parseRetryAfter('120', now), 120_000);
  assert.equal(parseRetryAfter(' 0 ', now), 0);
  assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:30 GMT', now), 30_000);
  assert.equal(parseRetryAfter('Wednesday, 21-Oct-15 07:28:30 GMT', now), 30_000);
  assert.equal(parseRetryAfter('Wed Oct 21 07:28:30 2015', now), 30_000, 'asctime, which is GMT whatever the local zone');
  assert.equal(parseRetryAfter('Tue, 20 Oct 2015 07:28:00 GMT', now), 0, 'a date in the past means now');
  assert.equal(parseRetryAfter('999999999', now), MAX_RETRY_AFTER_MS);
  assert.equal(parseRetryAfter('-5', now), undefined);
  assert.equal(parseRetryAfter('soon', now), undefined);
  assert.equal(parseRetryAfter('1.5', now), undefined);
  assert.equal(parseRetryAfter(undefined, now), undefined);
});
