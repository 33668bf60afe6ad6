// When a running daemon makes its deleted files again: at once when a command asks for it, else
// only once they stayed missing a while (an `rm -rf` of the repository may be under way); and
// whether the pid file still names this very process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { REPAIR_AFTER_MS, repairDue, sameProcess } from '../../src/background/repair.js';

test('files missing for a moment are left alone unless asked for, and made again once missing long enough', () => {
  const since = 1_000_000;
  assert.equal(repairDue(since, since, false), false);
  assert.equal(repairDue(since, since + REPAIR_AFTER_MS - 1, false), false);
  assert.equal(repairDue(since, since + REPAIR_AFTER_MS, false), true);
  assert.equal(repairDue(since, since, true), true, 'a command asking for the daemon gets them at once');
});

test('the pid file is ours only when both its pid and start time are this process', () => {
  const mine = { pid: 42, startTime: '1234' };
  assert.equal(sameProcess({ pid: 42, startTime: '1234' }, mine), true);
  assert.equal(sameProcess(undefined, mine), false, 'no pid file');
  assert.equal(sameProcess({ pid: 43, startTime: '1234' }, mine), false, 'another process');
  assert.equal(sameProcess({ pid: 42, startTime: '999' }, mine), false, 'a reused pid');
});
