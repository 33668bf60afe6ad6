// src/hub/reconcile.ts: the reconcile step of the shared daemon (wanted set vs served set -> start/stop).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pruneSetAside, reconcile, setChanged } from '../../src/hub/reconcile.js';

test('reconcile: start what is registered and not served or set aside; stop what is served and not registered', () => {
  assert.deepEqual(reconcile(['/a', '/b', '/c'], ['/b', '/d']), { start: ['/a', '/c'], stop: ['/d'] });
  assert.deepEqual(reconcile(['/a', '/b'], [], new Set(['/b'])), { start: ['/a'], stop: [] });
  assert.deepEqual(reconcile([], ['/a', '/b']), { start: [], stop: ['/a', '/b'] });
  assert.deepEqual(reconcile(['/a', '/a'], ['/a']), { start: [], stop: [] });
  // A set-aside repository that is served (it should not be) is left running: only the set stops it.
  assert.deepEqual(reconcile(['/a'], ['/a'], new Set(['/a'])), { start: [], stop: [] });
  const aside = new Map([
    ['/a', 1],
    ['/gone', 2],
  ]);
  assert.deepEqual(pruneSetAside(aside, ['/a', '/b']), [2]);
  assert.deepEqual([...aside.keys()], ['/a']);
  assert.equal(setChanged(['/a', '/b'], ['/b', '/a']), false);
  assert.equal(setChanged(['/a'], ['/a', '/b']), true);
  assert.equal(setChanged(['/a', '/b'], ['/a', '/c']), true);
});
