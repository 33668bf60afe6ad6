// Every process a worker starts (workers/children.ts), with real short-lived commands: each is
// reported to the session's listener as it starts and ends, leads a process group of its own, and
// killAll ends it with everything it started; a new session ends what an earlier one left.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { beginChildren, endChildren, killAll, run, runLongLived, runningCount, runStreamed } from '../../workers/children.js';
import { eventually } from '../support/daemon.js';
import { alive } from '../support/procs.js';

function session(t: TestContext): [number, boolean][] {
  const heard: [number, boolean][] = [];
  beginChildren((pid, live) => heard.push([pid, live]));
  t.after(() => {
    killAll('SIGKILL');
    endChildren();
  });
  return heard;
}

/** Field 5 of /proc/<pid>/stat: the process group. */
function groupOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

test('each way of running a command reports its start and its end to the session', async (t) => {
  const heard = session(t);
  const collected = run('sh', ['-c', 'echo out']);
  const streamed = runStreamed('sh', ['-c', 'echo out'], { stdout: true });
  const longLived = runLongLived('cat', []);
  assert.equal((await collected).stdout, 'out');
  await once(streamed, 'close');
  longLived.stdin!.end(); // cat ends at its EOF
  await once(longLived, 'exit');
  await eventually(() => heard.length === 6, 'three starts and three ends');
  const pids = [...new Set(heard.map(([pid]) => pid))];
  assert.equal(pids.length, 3);
  for (const pid of pids) assert.deepEqual(heard.filter(([p]) => p === pid).map(([, live]) => live), [true, false], `pid ${pid}`);
  assert.equal(runningCount(), 0);
});

test('a command leads a process group of its own, and killAll ends it with what it started', async (t) => {
  session(t);
  const parent = runStreamed('sh', ['-c', 'sleep 60 & echo $!; wait'], { stdout: true });
  const [line] = (await once(parent.stdout!, 'data')) as [Buffer];
  const grandchild = Number(line.toString().trim());
  assert.equal(groupOf(parent.pid!), parent.pid, 'the leader of its group');
  assert.equal(groupOf(grandchild), parent.pid, 'what it starts is in that group');
  assert.equal(runningCount(), 1);
  killAll('SIGTERM');
  await eventually(() => !alive(grandchild), 'the grandchild ended too');
  await eventually(() => runningCount() === 0, 'the command forgotten');
});

test('a collected command leads a group of its own too, and killAll ends it', async (t) => {
  session(t);
  const collected = run('sleep', ['60']);
  const child = await collected.nodeChildProcess;
  assert.equal(groupOf(child.pid!), child.pid);
  killAll('SIGTERM');
  await assert.rejects(collected);
  assert.equal(child.signalCode, 'SIGTERM');
});

test('a new session ends and forgets what an earlier one left; neither listener hears of its end', async (t) => {
  const earlier = session(t);
  const left = runLongLived('sleep', ['60']);
  const exited = once(left, 'exit');
  const later = session(t);
  const [, signal] = await exited;
  assert.equal(signal, 'SIGKILL');
  assert.equal(runningCount(), 0);
  assert.deepEqual(earlier, [[left.pid, true]], 'its end is not reported to the session that is over');
  assert.deepEqual(later, [], 'the new session hears nothing of a child it never had');
  endChildren();
  const heardBefore = later.length;
  const after = runStreamed('true', []);
  await once(after, 'close');
  assert.equal(later.length, heardBefore, 'nothing is reported once the session ended');
});
