// The state file (src/background/state.ts) in a temporary directory: written whole and private,
// read back only when it is a state file of this version, and a burst of changes coalesced into
// one write (node:test's mock timers stand in for the clock).

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readState, removeState, StateWriter, writeState, type DaemonState } from '../../src/background/state.js';
import { tempDir } from '../support/git.js';

function dir(t: TestContext): string {
  const d = tempDir('grd-state-');
  t.after(d.cleanup);
  return d.path;
}

function state(over: Partial<DaemonState> = {}): DaemonState {
  return { version: 1, pid: 4242, startedAt: 1000, updatedAt: 2000, cwd: '/repo', mode: 'background', logTo: 'file', remotes: [], ...over } as DaemonState;
}

test('a state written is read back as it was, 0600, with no temporary file left', (t) => {
  const d = dir(t);
  const path = join(d, 'state.json');
  const written = state({ warnings: [{ at: 5, kind: 'config', text: 'not reloaded' }], ignored: [{ name: 'old', reason: 'no url' }] });
  writeState(path, written);
  assert.deepEqual(readState(path), written);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(d), ['state.json']);
  writeState(path, state({ updatedAt: 3000 }));
  assert.equal(readState(path)?.updatedAt, 3000, 'a later write replaces it');
});

test('no file, a half-written file, another version or a directory in the way read as no state', (t) => {
  const d = dir(t);
  const path = join(d, 'state.json');
  assert.equal(readState(path), undefined);
  writeFileSync(path, '{"version": 1, "pid": 4');
  assert.equal(readState(path), undefined);
  writeFileSync(path, JSON.stringify({ ...state(), version: 2 }));
  assert.equal(readState(path), undefined);
  writeFileSync(path, 'null');
  assert.equal(readState(path), undefined);
  mkdirSync(join(d, 'dir.json'));
  assert.equal(readState(join(d, 'dir.json')), undefined);
});

test('removeState removes the file, and a missing one is no error', (t) => {
  const path = join(dir(t), 'state.json');
  writeState(path, state());
  removeState(path);
  assert.equal(readState(path), undefined);
  assert.doesNotThrow(() => removeState(path));
});

test('a burst of changes is one write, delayMs after the first, with the snapshot of that moment', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const path = join(dir(t), 'state.json');
  let snapshots = 0;
  let updatedAt = 0;
  const writer = new StateWriter(
    path,
    () => {
      snapshots++;
      return state({ updatedAt });
    },
    50,
  );
  t.after(() => writer.close());
  updatedAt = 1;
  writer.changed();
  t.mock.timers.tick(30);
  updatedAt = 2;
  writer.changed();
  writer.changed();
  assert.equal(readState(path), undefined, 'nothing written yet');
  t.mock.timers.tick(19);
  assert.equal(snapshots, 0);
  t.mock.timers.tick(1);
  assert.equal(snapshots, 1, 'one write for the burst');
  assert.equal(readState(path)?.updatedAt, 2, 'what holds when it is written');
  updatedAt = 3;
  writer.changed();
  t.mock.timers.tick(50);
  assert.equal(snapshots, 2, 'a later change is written again');
  assert.equal(readState(path)?.updatedAt, 3);
});

test('flush writes at once; after close nothing is written, not even a pending change', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const path = join(dir(t), 'state.json');
  let updatedAt = 1;
  const writer = new StateWriter(path, () => state({ updatedAt }), 50);
  writer.flush();
  assert.equal(readState(path)?.updatedAt, 1);
  updatedAt = 2;
  writer.changed();
  writer.close();
  t.mock.timers.tick(100);
  writer.flush();
  writer.changed();
  t.mock.timers.tick(100);
  assert.equal(readState(path)?.updatedAt, 1);
});

test('a write that fails is no error to the daemon: status shows older news', (t) => {
  const d = dir(t);
  const writer = new StateWriter(join(d, 'gone', 'state.json'), () => state(), 50);
  t.after(() => writer.close());
  assert.doesNotThrow(() => writer.flush());
  assert.deepEqual(readdirSync(d), []);
});
