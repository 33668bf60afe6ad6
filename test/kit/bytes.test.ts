// Sizes as people read them (shared/kit/bytes.ts): bytes below 1 KiB, then one decimal of the
// largest unit that keeps the number under 1024, GiB at most.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatBytes } from '../../shared/kit/bytes.js';

test('below 1024 it counts bytes, whole', () => {
  assert.equal(formatBytes(0), '0 bytes');
  assert.equal(formatBytes(1), '1 bytes');
  assert.equal(formatBytes(1023), '1023 bytes');
});

test('each unit takes over at exactly 1024 of the one before, with one decimal', () => {
  assert.equal(formatBytes(1024), '1.0 KiB');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(1024 * 1024 - 1), '1024.0 KiB', 'just under 1 MiB stays KiB (rounded for display only)');
  assert.equal(formatBytes(1024 ** 2), '1.0 MiB');
  assert.equal(formatBytes(12.3 * 1024 ** 2), '12.3 MiB');
  assert.equal(formatBytes(1024 ** 3), '1.0 GiB');
});

test('GiB is the largest unit: a terabyte is said in GiB', () => {
  assert.equal(formatBytes(1024 ** 4), '1024.0 GiB');
  assert.equal(formatBytes(5 * 1024 ** 4), '5120.0 GiB');
});
