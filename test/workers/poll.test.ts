// The poller's schedule against a fake listing: a changed interval moves the pending look, counted
// from the last look, and never disturbs a listing under way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPolling, type Poller } from '../../workers/poll.js';

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

/**
 * A poller whose listings each wait until the test answers them (`answer(i, refs)`), counting
 * the waits it schedules; `nextListing()` resolves once the next listing has started.
 */
class GatedPoller {
  readonly changes: string[][] = [];
  schedules = 0;
  readonly poller: Poller;
  private readonly releases: ((refs: Map<string, string>) => void)[] = [];
  private started!: () => void;
  private listingStarted = this.arm();

  constructor(t: { after(fn: () => unknown): void }, initial: Map<string, string>) {
    this.poller = startPolling(initial, {
      list: () =>
        new Promise((r) => {
          this.releases.push(r);
          this.started();
          this.listingStarted = this.arm();
        }),
      nextDelayMs: () => (this.schedules++, 60_000),
      changed: (change) => this.changes.push(change.kind === 'refs' ? [...change.refs.values()] : []),
      failed(err) {
        throw err;
      },
    });
    t.after(() => this.poller.stop());
  }

  listings(): number {
    return this.releases.length;
  }

  answer(i: number, refs: Map<string, string>): void {
    this.releases[i]!(refs);
  }

  nextListing(): Promise<void> {
    return this.listingStarted;
  }

  /** Resolves once `count` waits were scheduled (each listing's end schedules one). */
  async scheduled(count: number): Promise<void> {
    for (const deadline = Date.now() + 2_000; this.schedules < count; ) {
      assert.ok(Date.now() < deadline, 'the schedule never resumed');
      await new Promise((r) => setImmediate(r));
    }
  }

  private arm(): Promise<void> {
    return new Promise<void>((r) => (this.started = r));
  }
}

test('nudges during a listing earn exactly one more, which reports what moved since the first; then the schedule resumes', async (t) => {
  const g = new GatedPoller(t, new Map([['refs/heads/main', 'a'.repeat(40)]]));
  let listing = g.nextListing();
  g.poller.now();
  await listing;
  listing = g.nextListing();
  for (let i = 0; i < 50; i++) g.poller.now();
  assert.equal(g.listings(), 1, 'one listing at a time');
  g.answer(0, new Map([['refs/heads/main', 'b'.repeat(40)]]));
  await listing;
  assert.equal(g.listings(), 2, 'fifty nudges earned one more listing');
  assert.equal(g.schedules, 1, 'no wait is scheduled while another listing is due');
  g.answer(1, new Map([['refs/heads/main', 'c'.repeat(40)]]));
  await g.scheduled(2);
  assert.equal(g.listings(), 2, 'no third listing');
  assert.deepEqual(g.changes, [['b'.repeat(40)], ['c'.repeat(40)]]);
});

test('a listing the session made itself is observed: the next poll compares with it, and one that ran across it reports nothing', async (t) => {
  const a = 'a'.repeat(40);
  const b = 'b'.repeat(40);
  const g = new GatedPoller(t, new Map([['refs/heads/main', a]]));
  // The session saw main at b and fetched it: the poll that finds b too has nothing to say.
  g.poller.observe(new Map([['refs/heads/main', b]]));
  let listing = g.nextListing();
  g.poller.now();
  await listing;
  g.answer(0, new Map([['refs/heads/main', b]]));
  await g.scheduled(2);
  assert.deepEqual(g.changes, [], 'the observed move was not reported again');
  // A poll under way while the session observes a newer listing: its (older) answer is dropped.
  listing = g.nextListing();
  g.poller.now();
  await listing;
  g.poller.observe(new Map([['refs/heads/main', a]]));
  g.answer(1, new Map([['refs/heads/main', b]]));
  await g.scheduled(3);
  assert.deepEqual(g.changes, [], 'a listing that ran across an observed one reports nothing');
});
