// The log: timestamped lines, bounded by rotation, printed and followed by `log [-f]`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, eventually } from '../support/daemon.js';
import { makeFixture, tempDir } from '../support/git.js';
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
    // Let the follower see some rotations happen: wait until it printed what was written so far.
    if (i % 5 === 0) await eventually(() => printed().at(-1) === `late ${i}`, `the follower printed late ${i}`);
  }
  await eventually(() => printed().at(-1) === 'late 29', 'followed to the end');
  const seen = printed();
  assert.equal(seen[0], first);
  const late = seen.filter((l) => l?.startsWith('late'));
  assert.deepEqual(late, Array.from({ length: 30 }, (_, i) => `late ${i}`), 'every line once, in order');
  log.close();
});

test('a rotation whose new file cannot be created keeps writing to the old one, never into a reused fd', (t) => {
  // A tmpfs with room for exactly one file, in a private mount namespace: the rename succeeds, the
  // open of the new log fails with ENOSPC. Then the process opens another file, which gets the
  // lowest free fd: if the log's fd was closed before the failed open, the log writes into it.
  const dir = tempDir();
  t.after(() => dir.cleanup());
  const mnt = join(dir.path, 'mnt');
  const other = join(dir.path, 'other.txt');
  mkdirSync(mnt);
  const probe = spawnSync('unshare', ['-rm', 'sh', '-c', 'mount -t tmpfs none "$1"', 'sh', mnt]);
  if (probe.status !== 0) {
    if (process.env.CI) assert.fail(`unshare -rm with a tmpfs mount failed here: ${probe.stderr}`);
    return t.skip('needs unshare -rm and a tmpfs mount (user namespaces)');
  }
  const script = join(dir.path, 'rotate.mjs');
  writeFileSync(
    script,
    `import { openSync, closeSync } from 'node:fs';
const { LogFile } = await import(${JSON.stringify(new URL('../../src/background/log.js', import.meta.url).href)});
const [mnt, other] = process.argv.slice(2);
const log = new LogFile(mnt + '/log', mnt + '/log.1', 200);
for (let i = 0; i < 3; i++) log.write('before ' + i + ' ' + 'x'.repeat(60));
const fd = openSync(other, 'w');
log.write('after the failed rotation');
closeSync(fd);
log.close();
`,
  );
  const run = spawnSync(
    'unshare',
    ['-rm', 'sh', '-c', 'mount -t tmpfs -o size=1m,nr_inodes=2 none "$1" && "$3" "$4" "$1" "$2" && cat "$1/log.1"', 'sh', mnt, other, process.execPath, script],
    { encoding: 'utf8' },
  );
  assert.equal(run.status, 0, run.stderr);
  assert.equal(readFileSync(other, 'utf8'), '', 'nothing of the log went into the other file');
  assert.match(run.stdout, /Z after the failed rotation\n$/, 'the line went to the renamed log');
  assert.match(run.stdout, /before 0/);
});
