// The watcher of our children's process groups (shared/kit/groupwatch.ts), with its real sh in
// this process: when its pipe closes (as it does when the daemon dies, however) it ends every
// group still listed and none that was taken off; a watcher someone ended is started again with
// the whole list; it runs only while some daemon in the process asked for it; and a worker
// thread lists its children itself, without waiting for the main thread.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { atomicWrites, groupWatchChannel, groupWatcherPid, startGroupWatch, stopGroupWatch, unwatchGroup, watchGroup } from '../../shared/kit/groupwatch.js';
import { killGroup } from '../../shared/kit/group.js';
import { eventually } from '../support/daemon.js';
import { alive, reaped } from '../support/procs.js';

/** A process leading a group of its own, as every command a worker runs does. */
function groupLeader(t: TestContext): ChildProcess {
  const child = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
  t.after(() => child.kill('SIGKILL'));
  return child;
}

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

function watching(t: TestContext): void {
  startGroupWatch();
  t.after(() => stopGroupWatch());
}

/**
 * Reaped, not only exited (so not procs.ts alive(), for which a zombie is gone): only once Node has
 * reaped our watcher does groupwatch.ts see that it ended and start another.
 */
async function watcherGone(pid: number): Promise<void> {
  await eventually(() => reaped(pid), `watcher ${pid} exited`);
}

test('when its pipe closes, the watcher ends the groups still listed with SIGTERM, and leaves the others', async (t) => {
  watching(t);
  const listed = groupLeader(t);
  const takenOff = groupLeader(t);
  watchGroup(listed.pid!);
  watchGroup(takenOff.pid!);
  unwatchGroup(takenOff.pid!);
  const watcher = groupWatcherPid()!;
  assert.ok(watcher > 0);
  const ended = once(listed, 'exit');
  stopGroupWatch();
  await ended;
  assert.equal(listed.signalCode, 'SIGTERM');
  await watcherGone(watcher);
  assert.equal(exited(takenOff), false, 'a group taken off the list is not the watcher\'s to end');
});

test('a watcher someone ended is started again, and told the whole list', async (t) => {
  watching(t);
  const before = groupLeader(t);
  watchGroup(before.pid!);
  const first = groupWatcherPid()!;
  process.kill(first, 'SIGKILL');
  await watcherGone(first);
  const after = groupLeader(t);
  watchGroup(after.pid!); // finds the watcher gone: starts another
  const second = groupWatcherPid()!;
  assert.notEqual(second, first);
  stopGroupWatch();
  await eventually(() => exited(before) && exited(after), 'both groups ended');
  assert.deepEqual([before.signalCode, after.signalCode], ['SIGTERM', 'SIGTERM']);
});

test('the watch runs while any daemon in the process asked for it; before that nothing is listed', async (t) => {
  const leader = groupLeader(t);
  watchGroup(leader.pid!);
  assert.equal(groupWatcherPid(), undefined, 'no watcher before startGroupWatch');
  startGroupWatch();
  startGroupWatch();
  const watcher = groupWatcherPid()!;
  stopGroupWatch();
  assert.equal(groupWatcherPid(), watcher, 'one daemon still wants it');
  stopGroupWatch();
  assert.equal(groupWatcherPid(), undefined);
  await watcherGone(watcher);
  assert.equal(exited(leader), false, 'listed before the watch began: not listed');
});

test('a worker thread lists its children itself in the turn that spawned them: ended though the main thread never heard of them; one it took off is left', async (t) => {
  watching(t);
  const kit = new URL('../../shared/kit/groupwatch.js', import.meta.url).href;
  // What workers/children.ts does; the main thread is told nothing (a kill -9 would have come first).
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
     const { spawn } = require('node:child_process');
     import(${JSON.stringify(kit)}).then(({ watchGroup, unwatchGroup }) => {
       const [listed, takenOff] = [0, 1].map(() => spawn('sleep', ['60'], { detached: true, stdio: 'ignore' }));
       for (const child of [listed, takenOff]) {
         watchGroup(child.pid);
         child.unref();
       }
       unwatchGroup(takenOff.pid);
       parentPort.postMessage([listed.pid, takenOff.pid]);
     });`,
    { eval: true, workerData: { groupWatch: groupWatchChannel() } },
  );
  const [[listed, takenOff]] = (await once(worker, 'message')) as [[number, number]];
  t.after(() => [listed, takenOff].forEach((pid) => killGroup(pid, 'SIGKILL')));
  await worker.terminate();
  assert.ok(alive(listed), 'the worker\'s child outlives its thread');
  const watcher = groupWatcherPid()!;
  stopGroupWatch(); // our hold on the FIFO closes, as a kill -9 of the daemon would close it
  await eventually(() => !alive(listed), 'the group the worker listed was ended');
  await watcherGone(watcher); // done with every group it had listed
  assert.ok(alive(takenOff), 'a group the worker took off is not the watcher\'s to end');
});

test('the main thread writes whole lines, at most PIPE_BUF (4096) bytes a write, in their order', () => {
  const lines = Array.from({ length: 1000 }, (_, i) => `+${9_000_000_000_000 + i}\n`); // 15 bytes each
  const writes = atomicWrites(lines);
  assert.ok(writes.length > 1);
  for (const w of writes) {
    assert.ok(Buffer.byteLength(w) <= 4096, `a write of ${Buffer.byteLength(w)} bytes`);
    assert.ok(w.endsWith('\n'));
  }
  assert.equal(writes.join(''), lines.join(''));
  assert.deepEqual(atomicWrites([]), []);
});
