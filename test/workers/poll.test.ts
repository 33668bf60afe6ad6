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

test('nudges during a listing earn exactly one more, which reports what moved since the first; then the schedule resumes', async (t) => {
  const releases: ((refs: Map<string, string>) => void)[] = [];
  let started!: () => void;
  let inList = new Promise<void>((r) => (started = r));
  const changes: string[][] = [];
  let schedules = 0;
  const poller = startPolling(new Map([['refs/heads/main', 'a'.repeat(40)]]), {
    list: () =>
      new Promise((r) => {
        releases.push(r);
        started();
      }),
    nextDelayMs: () => (schedules++, 60_000),
    changed: (change) => changes.push(change.kind === 'refs' ? [...change.refs.values()] : []),
    failed(err) {
      throw err;
    },
  });
  t.after(() => poller.stop());
  poller.now();
  await inList;
  inList = new Promise<void>((r) => (started = r));
  for (let i = 0; i < 50; i++) poller.now();
  assert.equal(releases.length, 1, 'one listing at a time');
  releases[0]!(new Map([['refs/heads/main', 'b'.repeat(40)]]));
  await inList;
  assert.equal(releases.length, 2, 'fifty nudges earned one more listing');
  assert.equal(schedules, 1, 'no wait is scheduled while another listing is due');
  releases[1]!(new Map([['refs/heads/main', 'c'.repeat(40)]]));
  for (const deadline = Date.now() + 2_000; schedules < 2; ) {
    assert.ok(Date.now() < deadline, 'the schedule never resumed');
    await new Promise((r) => setImmediate(r));
  }
  assert.equal(releases.length, 2, 'no third listing');
  assert.deepEqual(changes, [['b'.repeat(40)], ['c'.repeat(40)]]);
});

test('a listing the session made itself is observed: the next poll compares with it, and one that ran across it reports nothing', async (t) => {
  const a = 'a'.repeat(40);
  const b = 'b'.repeat(40);
  const releases: ((refs: Map<string, string>) => void)[] = [];
  let started!: () => void;
  let inList = new Promise<void>((r) => (started = r));
  const changes: string[][] = [];
  let schedules = 0;
  const poller = startPolling(new Map([['refs/heads/main', a]]), {
    list: () =>
      new Promise((r) => {
        releases.push(r);
        started();
      }),
    nextDelayMs: () => (schedules++, 60_000),
    changed: (change) => changes.push(change.kind === 'refs' ? [...change.refs.values()] : []),
    failed(err) {
      throw err;
    },
  });
  t.after(() => poller.stop());
  const listingEnded = async (count: number) => {
    for (const deadline = Date.now() + 2_000; schedules < count; ) {
      assert.ok(Date.now() < deadline, 'the listing never ended');
      await new Promise((r) => setImmediate(r));
    }
  };
  // The session saw main at b and fetched it: the poll that finds b too has nothing to say.
  poller.observe(new Map([['refs/heads/main', b]]));
  poller.now();
  await inList;
  releases[0]!(new Map([['refs/heads/main', b]]));
  await listingEnded(2);
  assert.deepEqual(changes, [], 'the observed move was not reported again');
  // A poll under way while the session observes a newer listing: its (older) answer is dropped.
  inList = new Promise<void>((r) => (started = r));
  poller.now();
  await inList;
  poller.observe(new Map([['refs/heads/main', a]]));
  releases[1]!(new Map([['refs/heads/main', b]]));
  await listingEnded(3);
  assert.deepEqual(changes, [], 'a listing that ran across an observed one reports nothing');
});
