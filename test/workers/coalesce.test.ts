// workers/coalesce.ts: at most one run in flight and one waiting, however many requests arrive.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Coalesced } from '../../workers/coalesce.js';

/** A job whose runs each wait until the test lets them finish. */
function gatedJob() {
  const releases: (() => void)[] = [];
  let runs = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const job = () => {
    runs++;
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    return new Promise<void>((resolve) =>
      releases.push(() => {
        inFlight--;
        resolve();
      }),
    );
  };
  return { job, releases, runs: () => runs, maxInFlight: () => maxInFlight };
}

test('requests while a run goes on earn exactly one more run, which answers all of them', async () => {
  const g = gatedJob();
  const c = new Coalesced(g.job);
  const first = c.request();
  assert.equal(g.runs(), 1);
  assert.equal(c.queued, false);
  const later = Array.from({ length: 10 }, () => c.request());
  assert.equal(c.queued, true);
  assert.equal(new Set(later).size, 1, 'the waiting requests share one promise');
  assert.equal(g.runs(), 1, 'nothing more starts while one runs');
  g.releases.shift()!();
  await first;
  // The one waiting run starts once the first is over.
  while (g.runs() < 2) await new Promise((r) => setImmediate(r));
  assert.equal(c.queued, false);
  let laterDone = false;
  void Promise.all(later).then(() => (laterDone = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(laterDone, false, 'the later requests wait for the run that started after them');
  g.releases.shift()!();
  await Promise.all(later);
  await c.idle();
  assert.equal(g.runs(), 2);
  assert.equal(g.maxInFlight(), 1);
});

test('a failing run is not passed on to the requests, and the next request runs again', async () => {
  let runs = 0;
  const c = new Coalesced(async () => {
    runs++;
    throw new Error('the job reports its own failures');
  });
  await c.request();
  await c.request();
  assert.equal(runs, 2);
});

test('idle resolves only when nothing runs or waits', async () => {
  const g = gatedJob();
  const c = new Coalesced(g.job);
  await c.idle(); // nothing at all: at once
  void c.request();
  void c.request();
  let idle = false;
  const done = c.idle().then(() => (idle = true));
  g.releases.shift()!();
  while (g.runs() < 2) await new Promise((r) => setImmediate(r));
  assert.equal(idle, false, 'the waiting run still has to go');
  g.releases.shift()!();
  await done;
  assert.equal(idle, true);
});
