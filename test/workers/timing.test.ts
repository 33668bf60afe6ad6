// workers/timing.ts: the bench's stage marks. Unset (as everywhere but the bench), mark writes
// nothing; with GRD_P2P_TIMING=<file> each mark appends `<epoch ms> <pid> <stage>`, and a file it
// cannot write is no reason to fail. The variable is read when the module loads: each case loads
// its own copy (a query string makes a fresh module instance).

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../support/git.js';

type Timing = typeof import('../../workers/timing.js');

let copies = 0;
async function loadWith(t: TestContext, value: string | undefined): Promise<Timing> {
  const before = process.env.GRD_P2P_TIMING;
  if (value === undefined) delete process.env.GRD_P2P_TIMING;
  else process.env.GRD_P2P_TIMING = value;
  try {
    const url = new URL(`../../workers/timing.js?copy=${++copies}`, import.meta.url).href;
    return (await import(url)) as Timing;
  } finally {
    if (before === undefined) delete process.env.GRD_P2P_TIMING;
    else process.env.GRD_P2P_TIMING = before;
    t.diagnostic(`loaded with GRD_P2P_TIMING=${value ?? '(unset)'}`);
  }
}

function dir(t: TestContext): string {
  const d = tempDir('grd-timing-');
  t.after(d.cleanup);
  return d.path;
}

test('unset or empty, nothing is marked and no file is made', async (t) => {
  const where = dir(t);
  for (const value of [undefined, '']) {
    const timing = await loadWith(t, value);
    assert.equal(timing.timing, false);
    timing.mark('watch');
    timing.mark('watch', 5);
  }
  assert.deepEqual(readdirSync(where), []);
});

test('set, each mark appends one line: epoch ms with two decimals, our pid, the stage', async (t) => {
  const file = join(dir(t), 'marks');
  const timing = await loadWith(t, file);
  assert.equal(timing.timing, true);
  const before = Date.now();
  timing.mark('offer-sent');
  timing.mark('served', 1234.5);
  const lines = readFileSync(file, 'utf8').split('\n');
  assert.equal(lines.length, 3);
  assert.equal(lines[2], '');
  const [at, pid, stage] = lines[0].split(' ');
  assert.match(at, /^\d+\.\d\d$/);
  assert.ok(Math.abs(Number(at) - before) < 5000, `${at} vs ${before}`);
  assert.equal(pid, String(process.pid));
  assert.equal(stage, 'offer-sent');
  assert.equal(lines[1], `1234.50 ${process.pid} served`);
});

test('a file that cannot be written is no reason to fail', async (t) => {
  const where = join(dir(t), 'a-directory');
  mkdirSync(where);
  const timing = await loadWith(t, where);
  assert.doesNotThrow(() => timing.mark('watch'));
  assert.equal(existsSync(join(where, 'watch')), false);
});

test('epochMs is wall-clock time in milliseconds, comparable across processes', async (t) => {
  const timing = await loadWith(t, undefined);
  const now = Date.now();
  assert.ok(Math.abs(timing.epochMs() - now) < 1000, `${timing.epochMs()} vs ${now}`);
});
