import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { watchRefs, type RefWatcher } from '../../shared/refs/watcher.js';
import { makeFixture, git, commit, type Fixture } from '../support/git.js';

/** Collects batches and lets a test await the next one. */
function recorder() {
  const batches: Map<string, string>[] = [];
  const waiters: (() => void)[] = [];
  return {
    batches,
    onChange(batch: Map<string, string>) {
      batches.push(batch);
      waiters.splice(0).forEach((w) => w());
    },
    async next(count: number, timeoutMs = 5000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (batches.length < count) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`expected ${count} batches, got ${batches.length}`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => { clearTimeout(t); resolve(); });
        });
      }
    },
  };
}

async function setup(t: { after(fn: () => void): void }, windowMs?: number) {
  const fx: Fixture = makeFixture();
  const rec = recorder();
  const errors: Error[] = [];
  const watcher: RefWatcher = await watchRefs({ gitDir: fx.remote, onChange: rec.onChange, onError: (e) => errors.push(e), windowMs });
  t.after(() => { watcher.close(); fx.cleanup(); });
  return { fx, rec, watcher, errors };
}

/** A marker change that the test knows will be reported, used to prove nothing came before it. */
function marker(fx: Fixture): string {
  const sha = git(fx.remote, 'commit-tree', '-m', `marker ${Math.random()}`, 'main^{tree}');
  git(fx.remote, 'update-ref', 'refs/heads/marker', sha);
  return sha;
}

test('a push is reported with the ref name and new value', async (t) => {
  const { fx, rec, watcher } = await setup(t);
  assert.equal(watcher.snapshot().get('refs/heads/main'), git(fx.remote, 'rev-parse', 'main'));
  const sha = commit(fx.pusher);
  git(fx.pusher, 'push', '-q', 'origin', 'main');
  await rec.next(1);
  assert.deepEqual([...rec.batches[0]], [['refs/heads/main', sha]]);
});

test('two refs updated by one push arrive as one batch', async (t) => {
  const { fx, rec } = await setup(t);
  const sha = commit(fx.pusher);
  git(fx.pusher, 'push', '-q', 'origin', 'HEAD:refs/heads/main', 'HEAD:refs/heads/topic/deep/branch');
  await rec.next(1);
  assert.deepEqual(new Map(rec.batches[0]), new Map([['refs/heads/main', sha], ['refs/heads/topic/deep/branch', sha]]));
});

test('pack-refs reports nothing; a push after it is reported', async (t) => {
  const { fx, rec } = await setup(t);
  git(fx.remote, 'pack-refs', '--all', '--prune');
  const sha = marker(fx);
  await rec.next(1);
  assert.deepEqual([...rec.batches[0]], [['refs/heads/marker', sha]], 'pack-refs produced a batch');
  git(fx.remote, 'pack-refs', '--all', '--prune');
  const sha2 = commit(fx.pusher);
  git(fx.pusher, 'push', '-q', 'origin', 'main');
  await rec.next(2);
  assert.deepEqual([...rec.batches[1]], [['refs/heads/main', sha2]]);
});

test('a ref changed only inside packed-refs is reported', async (t) => {
  const { fx, rec } = await setup(t);
  git(fx.remote, 'pack-refs', '--all', '--prune');
  const first = marker(fx);
  await rec.next(1);
  assert.deepEqual([...rec.batches[0]], [['refs/heads/marker', first]], 'pack-refs reported something');
  const sha = commit(fx.pusher);
  git(fx.pusher, 'push', '-q', 'origin', 'HEAD:refs/heads/other');
  git(fx.remote, 'pack-refs', '--all', '--prune');
  await rec.next(2);
  assert.equal(rec.batches.flatMap((b) => [...b]).find(([r]) => r === 'refs/heads/other')?.[1], sha);
});

test('lock files, half-written and garbage ref files never produce a batch', async (t) => {
  const { fx, rec } = await setup(t);
  const heads = join(fx.remote, 'refs', 'heads');
  writeFileSync(join(heads, 'main.lock'), 'f'.repeat(40) + '\n');
  writeFileSync(join(heads, 'half'), 'abc');
  writeFileSync(join(heads, 'junk'), 'not a sha at all\n');
  mkdirSync(join(heads, 'newdir'));
  writeFileSync(join(heads, 'newdir', 'empty'), '');
  const sha = marker(fx);
  await rec.next(1);
  assert.deepEqual([...rec.batches[0]], [['refs/heads/marker', sha]]);
});

test('deletions are not reported, a re-creation is', async (t) => {
  const { fx, rec } = await setup(t);
  const main = git(fx.remote, 'rev-parse', 'main');
  git(fx.remote, 'update-ref', 'refs/heads/tmp', main);
  await rec.next(1);
  git(fx.remote, 'update-ref', '-d', 'refs/heads/tmp');
  const sha = marker(fx);
  await rec.next(2);
  assert.deepEqual([...rec.batches[1]], [['refs/heads/marker', sha]], 'the deletion was not reported');
  git(fx.remote, 'update-ref', 'refs/heads/tmp', main);
  await rec.next(3);
  assert.deepEqual([...rec.batches[2]], [['refs/heads/tmp', main]]);
});

test('a burst of updates is coalesced and ends on the final value', async (t) => {
  // A window wide enough that a loaded machine's slow git spawns still fall inside it.
  const { fx, rec } = await setup(t, 500);
  let last = '';
  for (let i = 0; i < 30; i++) {
    last = git(fx.remote, 'commit-tree', '-m', `burst ${i}`, 'main^{tree}');
    git(fx.remote, 'update-ref', 'refs/heads/main', last);
  }
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && rec.batches.at(-1)?.get('refs/heads/main') !== last) await rec.next(rec.batches.length + 1).catch(() => {});
  assert.equal(rec.batches.at(-1)?.get('refs/heads/main'), last);
  assert.ok(rec.batches.length < 30, `30 updates gave ${rec.batches.length} batches`);
});

test('a vanished repository is an error', async (t) => {
  const fx = makeFixture();
  t.after(() => fx.cleanup());
  let failed: Error | undefined;
  const done = new Promise<void>((resolve) => {
    void watchRefs({ gitDir: fx.remote, onChange() {}, onError(e) { failed = e; resolve(); } }).then((w) => t.after(() => w.close()));
  });
  fx.cleanup();
  await done;
  assert.ok(failed instanceof Error);
});

test('a directory that is not a repository is refused', async () => {
  await assert.rejects(watchRefs({ gitDir: '/nonexistent', onChange() {}, onError() {} }), /not a git repository/);
});

test('a repository renamed away is an error, not a silent watch of the old inode', async (t) => {
  const fx = makeFixture();
  t.after(() => fx.cleanup());
  const { renameSync } = await import('node:fs');
  let watcher: RefWatcher | undefined;
  const failed = new Promise<Error>((resolve) => {
    void watchRefs({ gitDir: fx.remote, onChange() {}, onError: resolve }).then((w) => (watcher = w));
  });
  t.after(() => watcher?.close());
  await new Promise((r) => setImmediate(r));
  renameSync(fx.remote, `${fx.remote}.moved`);
  assert.match((await failed).message, /was moved or removed/);
});

test('a ref directory deleted and made again at once is still watched', async (t) => {
  const { fx, rec } = await setup(t);
  const main = git(fx.remote, 'rev-parse', 'main');
  git(fx.remote, 'update-ref', 'refs/heads/t/x', main);
  await rec.next(1);
  // git prunes the empty t/ on deletion; the next update makes a new t/ before we saw the old go.
  git(fx.remote, 'update-ref', '-d', 'refs/heads/t/x');
  git(fx.remote, 'update-ref', 'refs/heads/t/y', main);
  await rec.next(2);
  assert.equal(rec.batches.flatMap((b) => [...b]).find(([r]) => r === 'refs/heads/t/y')?.[1], main);
  const sha = marker(fx);
  git(fx.remote, 'update-ref', 'refs/heads/t/y', sha);
  const deadline = Date.now() + 5000;
  while (!rec.batches.some((b) => b.get('refs/heads/t/y') === sha) && Date.now() < deadline) await rec.next(rec.batches.length + 1).catch(() => {});
  assert.ok(rec.batches.some((b) => b.get('refs/heads/t/y') === sha), 'a later move of t/y is seen');
});


test('with reportDeletions a deleted ref comes as the all-zero id; pack-refs still reports nothing', async (t) => {
  const fx = makeFixture();
  const rec = recorder();
  const watcher = await watchRefs({ gitDir: fx.remote, onChange: rec.onChange, onError() {}, reportDeletions: true });
  t.after(() => {
    watcher.close();
    fx.cleanup();
  });
  const main = git(fx.remote, 'rev-parse', 'main');
  git(fx.remote, 'update-ref', 'refs/heads/gone/soon', main);
  await rec.next(1);
  git(fx.remote, 'pack-refs', '--all', '--prune');
  git(fx.remote, 'update-ref', '-d', 'refs/heads/gone/soon');
  await rec.next(2);
  assert.deepEqual([...rec.batches[1]], [['refs/heads/gone/soon', '0'.repeat(40)]]);
});
