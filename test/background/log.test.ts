// The log: timestamped lines, bounded by rotation, printed and followed by `log [-f]`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, eventually } from '../support/daemon.js';
import { makeFixture } from '../support/git.js';
import { LogFile } from '../../src/background/log.js';
import { pathsOf } from './support.js';

test('the log rotates at its size bound, keeping one old file, 0600', (t) => {
  const fx = makeFixture();
  t.after(() => fx.cleanup());
  const paths = pathsOf(fx.local);
  mkdirSync(paths.dir, { mode: 0o700 });
  const log = new LogFile(paths.log, paths.oldLog, 1000);
  for (let i = 0; i < 100; i++) log.write(`line ${String(i).padStart(3, '0')} ${'x'.repeat(40)}`);
  log.close();
  for (const file of [paths.log, paths.oldLog]) {
    assert.ok(statSync(file).size <= 1000, `${file} is ${statSync(file).size} bytes`);
    assert.equal((statSync(file).mode & 0o777).toString(8), '600');
  }
  const lines = (readFileSync(paths.oldLog, 'utf8') + readFileSync(paths.log, 'utf8')).trim().split('\n');
  assert.match(lines[0], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z line \d{3} x+$/);
  assert.equal(lines.at(-1)?.includes('line 099'), true, 'the newest line is kept');
  const numbers = lines.map((l) => Number(/line (\d+)/.exec(l)![1]));
  assert.deepEqual(numbers, numbers.map((_, i) => numbers[0] + i), 'in order, no gaps across the rotation');
  assert.ok(numbers[0] > 0, 'older lines are gone');
});

test('log prints old then current; log -f follows new lines across a rotation', async (t) => {
  const fx = makeFixture();
  t.after(() => fx.cleanup());
  const paths = pathsOf(fx.local);
  mkdirSync(paths.dir, { mode: 0o700 });
  const log = new LogFile(paths.log, paths.oldLog, 600);
  for (let i = 0; i < 10; i++) log.write(`early ${i} ${'y'.repeat(40)}`);
  assert.ok(existsSync(paths.oldLog));

  const follower = spawn(process.execPath, [BIN, 'log', '-f'], { cwd: join(fx.local), stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => follower.kill('SIGKILL'));
  let out = '';
  follower.stdout.on('data', (c: Buffer) => (out += c));
  const printed = () => out.split('\n').filter(Boolean).map((l) => /(early|late) (\d+)/.exec(l)?.slice(1, 3).join(' '));
  const onDisk = () => (readFileSync(paths.oldLog, 'utf8') + readFileSync(paths.log, 'utf8')).split('\n').filter(Boolean).map((l) => /(early|late) (\d+)/.exec(l)?.slice(1, 3).join(' '));
  await eventually(() => printed().length === onDisk().length, 'old and current printed');
  assert.deepEqual(printed(), onDisk());
  const first = printed()[0];
  for (let i = 0; i < 30; i++) {
    log.write(`late ${i} ${'z'.repeat(40)}`); // rotates several times
    if (i % 5 === 0) await new Promise((r) => setTimeout(r, 150)); // let the follower see some rotations happen
  }
  await eventually(() => printed().at(-1) === 'late 29', 'followed to the end');
  const seen = printed();
  assert.equal(seen[0], first);
  const late = seen.filter((l) => l?.startsWith('late'));
  assert.deepEqual(late, Array.from({ length: 30 }, (_, i) => `late ${i}`), 'every line once, in order');
  log.close();
});
