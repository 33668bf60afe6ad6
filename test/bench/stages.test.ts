// bench/stages.ts: stage marks read back per sample. Each sample's window takes the marks between
// its ends (the first of a stage, then `stage#2`, ...), counted from its zero, and `fetched` is its
// end; marks of other samples, and lines of other processes' stages, stay in theirs.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { medianOf, stageOffsets, stageRecord } from '../../bench/stages.js';
import { tempDir } from '../support/git.js';

function record(t: TestContext) {
  const d = tempDir('grd-stages-');
  t.after(d.cleanup);
  return stageRecord(join(d.path, 'marks'));
}

test('each window takes its own marks, counted from its zero; a repeated stage is numbered; its end is `fetched`', (t) => {
  const r = record(t);
  appendFileSync(r.file, ['1000.00 11 watch', '1010.50 12 direct-begin', '1020.00 11 watch', '2005.00 12 direct-begin', ''].join('\n'));
  r.windows.push({ from: 990, zero: 1005, to: 1030 }, { from: 2000, zero: 2000, to: 2050 });
  const offsets = stageOffsets(r);
  assert.deepEqual(offsets.get('watch'), [-5]);
  assert.deepEqual(offsets.get('watch#2'), [15]);
  assert.deepEqual(offsets.get('direct-begin'), [5.5, 5]);
  assert.deepEqual(offsets.get('fetched'), [25, 50]);
});

test('a stage no window has has no median; one that some have, the median of those', (t) => {
  const r = record(t);
  appendFileSync(r.file, '110.00 1 direct-listed\n');
  r.windows.push({ from: 100, zero: 100, to: 120 }, { from: 200, zero: 200, to: 260 }, { from: 300, zero: 300, to: 330 });
  const offsets = stageOffsets(r);
  assert.equal(medianOf(offsets, 'direct-stored'), undefined);
  assert.equal(medianOf(offsets, 'direct-listed'), 10);
  assert.equal(medianOf(offsets, 'fetched'), 30);
});
