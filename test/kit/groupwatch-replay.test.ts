// shared/kit/groupwatch.ts, at scale: the whole list told to a watcher started again is longer
// than the FIFO holds (64 KiB) when thousands of groups run. It reaches the watcher whole, in order
// with what is said after it: a group listed last, after ~74 KB of others, is still ended when the
// pipe closes. Not a unit test: the watcher's sh reads ~4000 ids in a few seconds.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { groupWatchBacklog, groupWatcherPid, startGroupWatch, stopGroupWatch, watchGroup } from '../../shared/kit/groupwatch.js';
import { eventually } from '../support/daemon.js';
import { reaped } from '../support/procs.js';

test('a list longer than the FIFO holds reaches a watcher started again, whole and in order', { timeout: 120_000 }, async (t) => {
  startGroupWatch();
  t.after(() => stopGroupWatch());
  // Ids above any pid (Linux's pid_max is at most 2^22): listed like groups, and no group to signal.
  for (let i = 0; i < 4000; i++) watchGroup(9_000_000_000_000 + i);
  const first = groupWatcherPid()!;
  process.kill(first, 'SIGKILL');
  await eventually(() => reaped(first), 'the first watcher is gone');
  const last = spawn('sleep', ['120'], { detached: true, stdio: 'ignore' });
  t.after(() => last.kill('SIGKILL'));
  watchGroup(last.pid!); // starts another watcher: the whole list (~74 KB), then this
  assert.ok(groupWatchBacklog() > 0, 'more than the FIFO holds: some waits for the watcher to read');
  await eventually(() => groupWatchBacklog() === 0, 'the watcher took all of it', 60_000);
  const ended = once(last, 'exit');
  stopGroupWatch(); // our end of the FIFO closes: what the watcher read is what it ends
  await ended;
  assert.equal(last.signalCode, 'SIGTERM');
});
