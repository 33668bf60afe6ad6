// One supervised task (src/supervisor.ts) in a real worker-thread pool, running the test task of
// test/support/supervised-task.ts: restarted with backoff on a fresh channel when it dies, stopped
// with its stop message, and terminated when it ignores that past the grace period.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { STOP_GRACE_MS, Supervised, type SupervisedOptions } from '../src/supervisor.js';
import type { SupervisedTask } from './support/supervised-task.js';
import { eventually } from './support/daemon.js';

const TASK = new URL('./support/supervised-task.js', import.meta.url);

interface Watched {
  supervised: Supervised<string>;
  messages: string[];
  ended: { err: Error | undefined; restartInMs: number | undefined }[];
  started: MessagePort[];
  logs: string[];
}

function supervise(t: TestContext, behaviour: SupervisedTask['behaviour'], over: Partial<SupervisedOptions<string>> = {}): Watched {
  const pool = new Piscina({ filename: TASK.href, minThreads: 0, maxThreads: 4, idleTimeout: 100, atomics: 'disabled' });
  const watched: Omit<Watched, 'supervised'> = { messages: [], ended: [], started: [], logs: [] };
  const supervised = new Supervised<string>({
    pool,
    filename: TASK,
    task: (port) => ({ task: { port, behaviour } satisfies SupervisedTask }),
    onMessage: (message) => watched.messages.push(message),
    onEnded: (err, restartInMs) => watched.ended.push({ err, restartInMs }),
    onStarted: (port) => watched.started.push(port),
    log: (text) => watched.logs.push(text),
    ...over,
  });
  t.after(async () => {
    await supervised.stop('stop');
    await pool.destroy();
  });
  return { ...watched, supervised };
}

test('a task that dies is started again after a backoff that grows, each run on a fresh channel', async (t) => {
  const w = supervise(t, 'crash', { restartBackoff: { initialMs: 20, maxMs: 80 } });
  w.supervised.start();
  await eventually(() => w.ended.length >= 4, 'four runs ended', 10_000);
  const delays = w.ended.slice(0, 4).map((e) => e.restartInMs!);
  // Steps 20, 40, 80, 80 (the cap), each with jitter between half and all of it.
  for (const [i, step] of [20, 40, 80, 80].entries()) {
    assert.ok(delays[i] >= step / 2 && delays[i] <= step, `restart ${i + 1} after ${delays[i]} ms, step ${step}`);
  }
  for (const { err } of w.ended) assert.match(err?.message ?? '', /task crash requested by test/);
  assert.ok(w.started.length >= 4);
  assert.equal(new Set(w.started).size, w.started.length, 'a new port for every run');
});

test('a task that ends without an error is restarted too, as having ended unexpectedly', async (t) => {
  const w = supervise(t, 'end', { restartBackoff: { initialMs: 10, maxMs: 10 } });
  w.supervised.start();
  await eventually(() => w.ended.length >= 2, 'two runs ended');
  assert.match(w.ended[0].err?.message ?? '', /ended unexpectedly/);
  assert.ok(w.ended[0].restartInMs !== undefined);
});

test('post reaches the running task; stop ends it cleanly with its stop message, and it is not restarted', async (t) => {
  const w = supervise(t, 'echo', { restartBackoff: { initialMs: 10, maxMs: 10 } });
  w.supervised.start();
  assert.equal(w.supervised.post('ping'), true, 'posted before the task runs: it waits in the channel');
  await eventually(() => w.messages.includes('echo ping'), 'the echo');
  await w.supervised.stop('stop');
  assert.equal(w.supervised.isStopping, true);
  assert.deepEqual(w.ended, [{ err: undefined, restartInMs: undefined }]);
  assert.deepEqual(w.logs, [], 'it stopped in time');
  assert.equal(w.supervised.post('anyone?'), false, 'nobody to hear it');
  w.supervised.start();
  assert.equal(w.started.length, 1, 'a stopped task is not started again');
});

test('between a crash and its restart there is no task to post to', async (t) => {
  const w = supervise(t, 'crash', { restartBackoff: { initialMs: 60_000, maxMs: 60_000 } });
  w.supervised.start();
  await eventually(() => w.ended.length === 1, 'the crash');
  assert.equal(w.supervised.post('anyone?'), false);
  await w.supervised.stop('stop');
  assert.equal(w.started.length, 1, 'stop cancels the pending restart');
});

test('a task that ignores its stop message is terminated after the grace period', async (t) => {
  const w = supervise(t, 'stubborn');
  w.supervised.start();
  await eventually(() => w.messages.includes('hello'), 'the task runs');
  const started = Date.now();
  await w.supervised.stop('stop');
  const took = Date.now() - started;
  assert.ok(took >= STOP_GRACE_MS - 50, `terminated after ${took} ms, not before the grace period`);
  assert.ok(took < STOP_GRACE_MS + 2500, `terminated after ${took} ms, soon after the grace period`);
  assert.deepEqual(w.logs, ['did not stop in time; terminating its thread']);
  assert.equal(w.ended.length, 1);
  assert.ok(w.ended[0].err !== undefined, 'the run ended aborted');
  assert.equal(w.ended[0].restartInMs, undefined, 'and is not restarted');
});
