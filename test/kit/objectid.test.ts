// Object ids of both hashes: the kit's rules, and SHA-256 ids kept whole (never cut to 40 digits,
// never given SHA-1's zeros) by the places that compute ref updates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDeleted, OBJECT_ID, zeroIdLike } from '../../shared/kit/objectid.js';
import { watchRefs } from '../../shared/refs/watcher.js';
import { diffRefs } from '../../workers/fetcher.js';
import { movedRefs } from '../../workers/poll.js';
import { git, tempDir } from '../support/git.js';

const sha1 = 'a'.repeat(40);
const sha256 = 'b'.repeat(64);
const sha256b = 'c'.repeat(64);

test('OBJECT_ID takes exactly 40 or 64 lower-case hex digits', () => {
  for (const id of [sha1, sha256, zeroIdLike(sha1), zeroIdLike(sha256)]) assert.ok(OBJECT_ID.test(id), id);
  for (const id of ['', 'a'.repeat(39), 'a'.repeat(41), 'a'.repeat(63), 'a'.repeat(65), 'A'.repeat(40), 'g'.repeat(40), `${sha1}\n`]) {
    assert.ok(!OBJECT_ID.test(id), id);
  }
});

test('zeroIdLike and isDeleted agree for both hashes', () => {
  assert.equal(zeroIdLike(sha1), '0'.repeat(40));
  assert.equal(zeroIdLike(sha256), '0'.repeat(64));
  assert.ok(isDeleted(zeroIdLike(sha1)) && isDeleted(zeroIdLike(sha256)));
  assert.ok(!isDeleted(sha256) && !isDeleted(`0${'1'.repeat(63)}`));
});

test('diffRefs and movedRefs keep SHA-256 ids whole and use its zero id', () => {
  const before = new Map([
    ['refs/heads/moved', sha256],
    ['refs/heads/gone', sha256],
  ]);
  const after = new Map([
    ['refs/heads/moved', sha256b],
    ['refs/heads/new', sha256b],
  ]);
  const zero = '0'.repeat(64);
  assert.deepEqual(diffRefs(before, after), [
    { ref: 'refs/heads/gone', old: sha256, new: zero },
    { ref: 'refs/heads/moved', old: sha256, new: sha256b },
    { ref: 'refs/heads/new', old: zero, new: sha256b },
  ]);
  const moved = movedRefs(before, after);
  assert.deepEqual(Object.fromEntries(moved), { 'refs/heads/moved': sha256b, 'refs/heads/new': sha256b, 'refs/heads/gone': zero });
  for (const id of moved.values()) assert.ok(OBJECT_ID.test(id));
});

test('the ref watcher reads a SHA-256 repository and reports a deletion with its zero id', async (t) => {
  const dir = tempDir();
  t.after(() => dir.cleanup());
  git(dir.path, 'init', '-q', '--bare', '--object-format=sha256', 'r.git');
  const repo = `${dir.path}/r.git`;
  const tree = git(repo, 'hash-object', '-t', 'tree', '-w', '/dev/null');
  const id = git(repo, 'commit-tree', '-m', 'one', tree);
  assert.equal(id.length, 64);
  git(repo, 'update-ref', 'refs/heads/main', id);

  const batches: Map<string, string>[] = [];
  let wake = () => {};
  const watcher = await watchRefs({
    gitDir: repo,
    reportDeletions: true,
    onError: (err) => assert.fail(err),
    onChange: (batch) => {
      batches.push(batch);
      wake();
    },
  });
  t.after(() => watcher.close());
  const nextBatch = () => new Promise<Map<string, string>>((resolve) => (wake = () => resolve(batches.at(-1)!)));

  assert.equal(watcher.snapshot().get('refs/heads/main'), id);
  const deleted = nextBatch();
  git(repo, 'update-ref', '-d', 'refs/heads/main');
  assert.deepEqual([...(await deleted)], [['refs/heads/main', '0'.repeat(64)]]);
});
