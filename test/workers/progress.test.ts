// git's progress, read from a real `git fetch --progress` of a few incompressible megabytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProgressReader, withoutProgress, type FetchProgress } from '../../workers/progress.js';
import { formatBytes } from '../../shared/kit/bytes.js';
import { git, makeFixture } from '../support/git.js';

test('progress of a real fetch: stages, percentages and bytes received; the log keeps the ref updates only', (t) => {
  const fx = makeFixture();
  t.after(fx.cleanup);
  writeFileSync(join(fx.pusher, 'blob'), randomBytes(3 * 1024 * 1024));
  git(fx.pusher, 'add', 'blob');
  git(fx.pusher, 'commit', '-q', '-m', 'big');
  git(fx.pusher, 'push', '-q', 'origin', 'main');
  // A fetch of fewer than fetch.unpackLimit (100) objects is unpacked without progress; a real
  // long fetch has many more, so make this small one go through index-pack as they do.
  const result = spawnSync('git', ['-c', 'fetch.unpackLimit=1', 'fetch', '--progress', `file://${fx.remote}`, '+refs/heads/*:refs/remotes/origin/*'], { cwd: fx.local, encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  const seen: FetchProgress[] = [];
  const reader = new ProgressReader((p) => seen.push(p));
  // Fed in small chunks, as a pipe delivers it: lines split anywhere.
  for (let i = 0; i < result.stderr.length; i += 7) reader.push(result.stderr.slice(i, i + 7));
  const receiving = seen.filter((p) => p.stage === 'Receiving objects');
  assert.ok(receiving.length > 0, result.stderr);
  assert.equal(receiving.at(-1)!.percent, 100);
  assert.ok((receiving.at(-1)!.bytes ?? 0) > 2 * 1024 * 1024, `bytes: ${receiving.at(-1)!.bytes}`);
  const logged = withoutProgress(result.stderr);
  assert.match(logged, /main\s+-> origin\/main/);
  assert.doesNotMatch(logged, /Receiving objects|Resolving deltas|Counting objects/);
  assert.ok(execFileSync('git', ['-C', fx.local, 'rev-parse', 'refs/remotes/origin/main']).length > 0);
});

test('a partial line that never ends is dropped, not kept', () => {
  const seen: FetchProgress[] = [];
  const reader = new ProgressReader((p) => seen.push(p));
  reader.push('x'.repeat(10_000));
  reader.push('\rReceiving objects:  50% (1/2), 1.50 MiB | 1 MiB/s\r');
  assert.deepEqual(seen, [{ stage: 'Receiving objects', percent: 50, bytes: 1572864 }]);
  assert.equal(formatBytes(1572864), '1.5 MiB');
  assert.equal(formatBytes(12), '12 bytes');
});
