// Piscina reuses threads: a remote's session that starts in a thread an earlier session used must
// start clean (children accounting, where prints go), and the earlier one must hear nothing more.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { MessageChannel } from 'node:worker_threads';
import { join } from 'node:path';
import { Piscina } from 'piscina';
import type { FromWorker, SessionTask } from '../../shared/workerapi.js';
import { makeFixture, pushCommit } from '../support/git.js';
import { eventually } from '../support/daemon.js';
import { misbehaving, type Misbehaviour } from '../support/misbehavingsession.js';

test('a session in a reused thread starts clean, and the one before it hears nothing more', async (t) => {
  const fx = makeFixture();
  t.after(fx.cleanup);
  const gitDir = join(fx.local, '.git');
  // The real session, wrapped so that one run can print as a library would.
  const pool = new Piscina({ filename: misbehaving(gitDir, {}).href, minThreads: 1, maxThreads: 1, idleTimeout: 60_000, atomics: 'disabled' });
  t.after(() => pool.destroy());
  const start = (plan?: Misbehaviour) => {
    if (plan) misbehaving(gitDir, { origin: plan });
    const channel = new MessageChannel();
    const heard: FromWorker[] = [];
    channel.port1.on('message', (m: FromWorker) => heard.push(m));
    const task: SessionTask = {
      kind: 'session',
      spec: { name: 'origin', url: fx.remote, transport: 'local', fetchRefspecs: ['+refs/heads/*:refs/remotes/origin/*'], options: {} },
      live: { pollIntervalSeconds: 60, reportUpdates: false },
      repo: { cwd: fx.local, gitDir },
      port: channel.port2,
      initialMode: 'running',
    };
    const done = pool.run(task, { transferList: [channel.port2] as never });
    // The worker closes its end when it stops; what it posted before arrives before 'close'.
    const closed = once(channel.port1, 'close');
    return { heard, done, closed, stop: () => channel.port1.postMessage({ type: 'stop' }) };
  };
  const emitted = (heard: FromWorker[]) => heard.flatMap((m) => (m.type === 'emit' ? [m.line] : []));

  pushCommit(fx.pusher);
  const first = start();
  await eventually(() => emitted(first.heard).includes('DONESYNCING'), 'the first session fetched');
  assert.ok(first.heard.some((m) => m.type === 'child' && m.alive), 'its children were reported to it');
  const threadId = pool.threads[0]!.threadId;
  first.stop();
  assert.equal(await first.done, 'stopped');
  await first.closed;
  const heardBefore = first.heard.length;

  pushCommit(fx.pusher);
  const second = start({ afterMs: 0, how: 'print' });
  await eventually(() => emitted(second.heard).includes('DONESYNCING'), 'the second session fetched');
  assert.equal(pool.threads[0]!.threadId, threadId, 'the same thread ran both');
  assert.ok(second.heard.some((m) => m.type === 'child' && m.alive), 'its children are reported to it');
  await eventually(() => second.heard.some((m) => m.type === 'log' && m.text === 'printed: CONNECTED fake'), 'its prints go to its own log');
  assert.equal(first.heard.length, heardBefore, 'the first session heard nothing after it stopped');
  second.stop();
  assert.equal(await second.done, 'stopped');
});
