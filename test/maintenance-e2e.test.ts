// git's housekeeping, off the fetch path, end to end: the real daemon, real git. With gc.auto=1
// the fetched loose objects are what `git gc --auto` packs; a plain `git fetch` would pack them
// itself before it returns (gc.autoDetach=false), the daemon's fetch leaves them for its own
// `git maintenance run --auto` once the remote has been quiet, and never when maintenance.auto is
// false.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeFixture, git } from './support/git.js';
import { eventually, startDaemon } from './support/daemon.js';

/** Loose objects in objects/17, the directory `git gc --auto` counts to estimate them all. */
function looseIn17(repo: string): number {
  try {
    return readdirSync(join(repo, '.git', 'objects', '17')).filter((f) => /^[0-9a-f]{38}$/.test(f)).length;
  } catch {
    return 0;
  }
}

/** A daemon whose remote then gets a commit of 3000 small files, fetched as loose objects. */
async function fetchedLoose(t: { after(fn: () => unknown): void }, config: [string, string][]) {
  const fx = makeFixture();
  for (const [k, v] of [['gc.auto', '1'], ['gc.autoDetach', 'false'], ['fetch.unpackLimit', '100000'], ['remotedaemon.maintenanceQuiet', '3'], ...config]) {
    git(fx.local, 'config', k!, v!);
  }
  const d = startDaemon(fx.local);
  t.after(async () => {
    await d.stop();
    fx.cleanup();
  });
  await d.waitFor('CONNECTED origin');
  const dir = join(fx.pusher, 'many');
  mkdirSync(dir);
  // Fixed contents, so the same blobs (and so the same count in objects/17) every run.
  for (let i = 0; i < 3000; i++) writeFileSync(join(dir, `f${i}`), `file ${i}\n`);
  git(fx.pusher, 'add', 'many');
  git(fx.pusher, 'commit', '-q', '-m', 'many files');
  git(fx.pusher, 'push', '-q', 'origin', 'main');
  await d.waitFor('DONESYNCING origin 1', { timeoutMs: 20_000 });
  assert.equal(git(fx.local, 'rev-parse', 'refs/remotes/origin/main'), git(fx.pusher, 'rev-parse', 'HEAD'));
  return { fx, d };
}

test('git maintenance run --auto runs after the remote is quiet, not in the fetch: gc.auto=1 packs the fetched objects then', async (t) => {
  const { fx, d } = await fetchedLoose(t, []);
  assert.ok(looseIn17(fx.local) >= 2, `the fetch left its objects loose for later (${looseIn17(fx.local)} in objects/17): no gc on the path`);
  await eventually(() => d.stderr.some((l) => l.startsWith('maintenance: git maintenance run --auto done')), 'the daemon ran maintenance', 30_000);
  assert.equal(looseIn17(fx.local), 0, 'gc --auto packed them');
  assert.match(git(fx.local, 'count-objects', '-v'), /^count: 0$/m);
  assert.equal(git(fx.local, 'rev-parse', 'refs/remotes/origin/main'), git(fx.pusher, 'rev-parse', 'HEAD'));
});

test('maintenance.auto=false: the daemon never runs maintenance, and the objects stay loose', async (t) => {
  const { fx, d } = await fetchedLoose(t, [['maintenance.auto', 'false']]);
  const loose = looseIn17(fx.local);
  assert.ok(loose >= 2);
  await eventually(() => d.stderr.some((l) => l === 'maintenance: not run, maintenance.auto is false'), 'the quiet time passed', 30_000);
  assert.equal(looseIn17(fx.local), loose);
  assert.equal(d.stderr.filter((l) => l.startsWith('maintenance: git maintenance')).length, 0);
});
