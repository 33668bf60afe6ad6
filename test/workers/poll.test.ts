// The poller's schedule against a fake listing: a changed interval moves the pending look, counted
// from the last look, and never disturbs a listing under way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPolling } from '../../workers/poll.js';

test('reschedule: a shortened interval moves the pending look, counted from the last look', async (t) => {
  let intervalMs = 60_000;
  const scheduled: { at: number; sinceLastMs: number }[] = [];
  let listed = 0;
  let listedOnce!: () => void;
  const firstListing = new Promise<void>((r) => (listedOnce = r));
  const started = Date.now();
  const poller = startPolling(new Map(), {
    async list() {
      listed++;
      listedOnce();
      return new Map();
    },
    nextDelayMs: (sinceLastMs) => {
      scheduled.push({ at: Date.now(), sinceLastMs });
      return intervalMs - sinceLastMs;
    },
    changed() {},
    failed(err) {
      throw err;
    },
  });
  t.after(() => poller.stop());
  assert.equal(scheduled.length, 1);
  assert.equal(scheduled[0]!.sinceLastMs, 0);
  // Time passing is the scenario here (the next wait counts from the last look), not a wait for an event.
  await new Promise((r) => setTimeout(r, 50));
  intervalMs = 200;
  poller.reschedule();
  assert.equal(scheduled.length, 2);
  assert.ok(scheduled[1]!.sinceLastMs >= 40, `counted from the last look (${scheduled[1]!.sinceLastMs} ms)`);
  await firstListing;
  const after = Date.now() - started;
  assert.ok(after < 1_000, `listed ${after} ms after the start, not a minute`);
  assert.equal(listed, 1);
});

test('reschedule while a listing runs leaves it alone; the next wait reads the new interval', async (t) => {
  let release!: () => void;
  let running!: () => void;
  const inList = new Promise<void>((r) => (running = r));
  let calls = 0;
  let intervalMs = 10;
  const delays: number[] = [];
  const poller = startPolling(new Map(), {
    list: () => {
      calls++;
      running();
      return new Promise((r) => (release = () => r(new Map())));
    },
    nextDelayMs: (since) => {
      delays.push(intervalMs - since);
      return intervalMs - since;
    },
    changed() {},
    failed(err) {
      throw err;
    },
  });
  t.after(() => poller.stop());
  await inList;
  intervalMs = 60_000;
  poller.reschedule();
  assert.equal(delays.length, 1, 'nothing scheduled while the listing runs');
  release();
  for (const deadline = Date.now() + 2_000; delays.length < 2; ) {
    assert.ok(Date.now() < deadline, 'the next wait was never scheduled after the listing ended');
    await new Promise((r) => setImmediate(r));
  }
  assert.equal(delays.length, 2);
  assert.equal(delays[1], 60_000);
  assert.equal(calls, 1);
});
