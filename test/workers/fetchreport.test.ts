// What a fetch moved, read from git's own report of a real fetch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { countCommits, describeMoved, parseFetchReport } from '../../workers/fetchreport.js';
import { commit, git, makeFixture, pushCommit } from '../support/git.js';

test('new branches, fast-forwards with their commits, forced updates, new tags and prunes', async (t) => {
  const fx = makeFixture();
  t.after(fx.cleanup);
  commit(fx.pusher, 'side');
  git(fx.pusher, 'push', '-q', 'origin', 'HEAD:refs/heads/doomed', 'HEAD:refs/heads/forced');
  git(fx.pusher, 'reset', '-q', '--hard', 'HEAD~1');
  git(fx.local, 'fetch', '-q');
  pushCommit(fx.pusher);
  pushCommit(fx.pusher);
  git(fx.pusher, 'push', '-q', 'origin', 'HEAD:refs/heads/feature', ':refs/heads/doomed');
  git(fx.pusher, 'tag', 'v1');
  git(fx.pusher, 'push', '-q', 'origin', 'v1');
  git(fx.pusher, 'push', '-q', '-f', 'origin', 'HEAD:refs/heads/forced'); // not a descendant of 'side'
  const result = spawnSync('git', ['fetch', '--prune', 'origin'], { cwd: fx.local, encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  const moved = await countCommits(fx.local, parseFetchReport(result.stderr));
  const byRef = new Map(moved.map((m) => [m.local, m]));
  assert.equal(byRef.get('origin/main')?.commits, 2, result.stderr);
  assert.equal(byRef.get('origin/feature')?.change, 'new branch');
  assert.match(byRef.get('origin/forced')?.change ?? '', /^[0-9a-f]+\.\.\.[0-9a-f]+$/);
  assert.equal(byRef.get('origin/forced')?.commits, undefined, 'a forced update has no count');
  assert.equal(byRef.get('v1')?.change, 'new tag');
  assert.equal(byRef.get('origin/doomed')?.change, 'deleted');
  assert.match(describeMoved(moved, 10), /main: 2 new commits/);
  assert.match(describeMoved(moved, 1), /; \d more$/);
});
