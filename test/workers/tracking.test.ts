import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TrackingRefs } from '../../workers/tracking.js';
import { ObjectChecker } from '../../workers/objects.js';
import { makeFixture, git, commit, pushCommit } from '../support/git.js';

function setup(t: { after(fn: () => void): void }, refspecs = ['+refs/heads/*:refs/remotes/origin/*']) {
  const fx = makeFixture();
  const objects = new ObjectChecker(fx.local);
  t.after(() => {
    objects.close();
    fx.cleanup();
  });
  return { fx, objects, tracking: new TrackingRefs(refspecs, fx.local, objects) };
}

test('named refs: fetch only when a tracked ref would move', async (t) => {
  const { fx, tracking } = setup(t);
  const main = git(fx.local, 'rev-parse', 'refs/remotes/origin/main');
  assert.equal(await tracking.needsFetch(new Map([['refs/heads/main', main]])), false, 'already there');
  const sha = pushCommit(fx.pusher);
  assert.equal(await tracking.needsFetch(new Map([['refs/heads/main', sha]])), true, 'new value');
  assert.equal(await tracking.needsFetch(new Map([['refs/heads/new', main]])), true, 'new branch at a known commit');
  assert.equal(await tracking.needsFetch(new Map([['refs/pull/1/head', sha]])), false, 'outside the refspecs');
  git(fx.local, 'fetch', '-q', 'origin');
  assert.equal(await tracking.needsFetch(new Map([['refs/heads/main', sha]])), false, 'cat-file sees the fetch that landed');
});

test('a push from this repository costs no fetch', async (t) => {
  const { fx, tracking } = setup(t);
  const sha = commit(fx.local);
  git(fx.local, 'push', '-q', 'origin', 'HEAD:refs/heads/main');
  assert.equal(await tracking.needsFetch(new Map([['refs/heads/main', sha]])), false);
  assert.equal(await tracking.anyMissing([sha]), false);
});

test('object ids: any one missing here means new commits', async (t) => {
  const { fx, tracking } = setup(t);
  const main = git(fx.local, 'rev-parse', 'refs/remotes/origin/main');
  assert.equal(await tracking.anyMissing([main]), false);
  assert.equal(await tracking.anyMissing([main, '0'.repeat(40)]), true);
  assert.equal(await tracking.anyMissing(['not-an-id']), true);
});

test('read() lists only what the refspecs write, without symbolic refs', async (t) => {
  const { fx, tracking } = setup(t, ['+refs/heads/pr-*:refs/remotes/origin/pr-*']);
  const main = git(fx.local, 'rev-parse', 'HEAD');
  git(fx.local, 'update-ref', 'refs/remotes/origin/pr-1', main);
  git(fx.local, 'update-ref', 'refs/remotes/origin/other', main);
  assert.deepEqual([...(await tracking.read())], [['refs/remotes/origin/pr-1', main]]);
});

test('refspecs without a destination: fetch when the object is missing here', async (t) => {
  const { fx, tracking } = setup(t, ['refs/notes/commits']);
  const here = git(fx.local, 'rev-parse', 'HEAD');
  assert.equal(await tracking.needsFetch(new Map([['refs/notes/commits', here]])), false);
  assert.equal(await tracking.needsFetch(new Map([['refs/notes/commits', 'f'.repeat(40)]])), true);
});

test('the object checker refuses anything but object ids and full ref names', async (t) => {
  const { fx, objects } = setup(t);
  assert.equal(await objects.resolve('HEAD'), undefined);
  assert.equal(await objects.resolve('refs/heads/main~1'), undefined);
  assert.equal(await objects.resolve('refs/heads/main'), git(fx.local, 'rev-parse', 'main'));
  assert.equal(await objects.has('HEAD'), false);
});

test('concurrent questions share one cat-file and get their own answers', async (t) => {
  const { fx, objects } = setup(t);
  const { commandsIn } = await import('../support/procs.js');
  const catFiles = () => commandsIn(fx.local, 'cat-file');
  const refs = Array.from({ length: 30 }, (_, i) => `refs/heads/b${i}`);
  const shas = refs.map(() => commit(fx.local));
  refs.forEach((ref, i) => git(fx.local, 'update-ref', ref, shas[i]));
  const answers = await Promise.all([...refs.map((ref) => objects.resolve(ref)), objects.resolve('refs/heads/none')]);
  assert.deepEqual(answers, [...shas, undefined]);
  assert.equal(catFiles().length, 1);
  objects.close();
  const { eventually } = await import('../support/daemon.js');
  await eventually(() => catFiles().length === 0, 'cat-file ends with close()', 2000);
});

test('a tag pushed alone is worth a fetch when git fetch follows tags', async (t) => {
  const fx = makeFixture();
  const objects = new ObjectChecker(fx.local);
  t.after(() => {
    objects.close();
    fx.cleanup();
  });
  const head = git(fx.local, 'rev-parse', 'HEAD');
  const following = new TrackingRefs(['+refs/heads/*:refs/remotes/origin/*'], fx.local, objects, true);
  const notFollowing = new TrackingRefs(['+refs/heads/*:refs/remotes/origin/*'], fx.local, objects, false);
  assert.equal(await following.needsFetch(new Map([['refs/tags/v1', head]])), true);
  assert.equal(await notFollowing.needsFetch(new Map([['refs/tags/v1', head]])), false);
  git(fx.local, 'tag', 'v1', head);
  assert.equal(await following.needsFetch(new Map([['refs/tags/v1', head]])), false, 'already here');
});
