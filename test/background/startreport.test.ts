// src/background/startreport.ts: what the starter tells the user, from what a starting daemon did.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StartReport } from '../../src/background/startreport.js';

const report = () => new StartReport('/repo/.git/remote-daemon/log', 30_000);

test('warnings, then the line that ends the report, in chunks that split lines anywhere', () => {
  const r = report();
  assert.equal(r.data('WARNING origin no noti'), undefined);
  assert.equal(r.data('fier\nWARNING second is slow\nREA'), undefined);
  assert.deepEqual(r.data('DY 4242\nanything after'), { kind: 'line', line: 'READY 4242', warnings: ['origin no notifier', 'second is slow'] });
  assert.deepEqual(r.data('ERROR too late\n'), { kind: 'line', line: 'READY 4242', warnings: ['origin no notifier', 'second is slow'] }, 'the first answer stands');
});

test('an exit is over only once the report has closed: a last line still in the pipe counts', () => {
  const r = report();
  assert.equal(r.exited(1, null), undefined, 'the pipe may still hold the ERROR line');
  assert.deepEqual(r.data('ERROR no git repository here\n'), { kind: 'line', line: 'ERROR no git repository here', warnings: [] });
  assert.equal(r.reportClosed()?.kind, 'line');
});

test('an exit without a report: says how it ended and where to look', () => {
  const crashed = report();
  crashed.data('WARNING half');
  assert.equal(crashed.reportClosed(), undefined, 'closed but not exited: wait for the exit');
  assert.deepEqual(crashed.exited(null, 'SIGSEGV'), { kind: 'failed', message: 'the daemon was killed by SIGSEGV while starting; see /repo/.git/remote-daemon/log' });
  const exited = report();
  exited.exited(3, null);
  assert.deepEqual(exited.reportClosed(), { kind: 'failed', message: 'the daemon exited with code 3 while starting; see /repo/.git/remote-daemon/log' });
});

test('no report in time, or no process at all', () => {
  const slow = report();
  slow.data('WARNING origin is slow\n');
  assert.deepEqual(slow.timedOut(), { kind: 'line', line: 'ERROR the daemon did not report within 30 s; see /repo/.git/remote-daemon/log', warnings: ['origin is slow'] });
  assert.equal(slow.exited(null, 'SIGTERM')?.kind, 'line', 'the end the timeout caused changes nothing');
  assert.deepEqual(report().spawnFailed('/usr/bin/node', 'ENOENT'), { kind: 'line', line: 'ERROR could not start /usr/bin/node: ENOENT', warnings: [] });
});
