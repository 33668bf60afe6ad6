// The watchdog against orphan daemons, on real directories: it learns from the kernel (inotify)
// that the repository, the worktree or the daemon's own files went, and wakes for nothing else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { watchedDirs, watchRepository } from '../../src/background/watchdog.js';
import { eventually } from '../support/daemon.js';
import { tempDir } from '../support/git.js';

/** A repository's bones: a worktree with .git/HEAD and the daemon's directory. */
function repository() {
  const dir = tempDir('grd-watchdog-');
  const worktree = join(dir.path, 'work');
  const commonDir = join(worktree, '.git');
  const ownDir = join(commonDir, 'remote-daemon');
  mkdirSync(ownDir, { recursive: true });
  writeFileSync(join(commonDir, 'HEAD'), 'ref: refs/heads/main\n');
  writeFileSync(join(ownDir, 'pid'), '1\n');
  return { root: dir.path, worktree, commonDir, ownDir, cleanup: dir.cleanup };
}

test('which events prompt a look: HEAD, the git dir and the daemon dir in the git dir; the worktree itself; anything in the daemon dir', () => {
  const dirs = watchedDirs({ worktree: '/r/work', commonDir: '/r/work/.git', ownDir: '/r/work/.git/remote-daemon' });
  assert.deepEqual([...dirs.keys()], ['/r/work/.git', '/r/work', '/r/work/.git/remote-daemon']);
  const common = dirs.get('/r/work/.git')!;
  for (const name of [null, 'HEAD', '.git', 'remote-daemon']) assert.equal(common(name), true, String(name));
  for (const name of ['index', 'HEAD.lock', 'config']) assert.equal(common(name), false, name);
  const worktree = dirs.get('/r/work')!;
  assert.equal(worktree(null), true);
  assert.equal(worktree('work'), true);
  assert.equal(worktree('src'), false, "the user's edits inside are no reason to look");
  assert.equal(dirs.get('/r/work/.git/remote-daemon')!('state.json'), true);
});

test('a bare repository, its own worktree, is watched once for what either role says', () => {
  const dirs = watchedDirs({ worktree: '/r/bare.git', commonDir: '/r/bare.git' });
  assert.deepEqual([...dirs.keys()], ['/r/bare.git']);
  const bare = dirs.get('/r/bare.git')!;
  assert.equal(bare('HEAD'), true);
  assert.equal(bare('bare.git'), true);
  assert.equal(bare('objects'), false);
});

/** No backstop within a test: whatever is noticed was noticed through an event. */
const NO_BACKSTOP = 3_600_000;

test('an idle repository wakes the watchdog for nothing: no look at all while nothing changes', async (t) => {
  const repo = repository();
  t.after(repo.cleanup);
  let looks = 0;
  const stop = watchRepository({ ...repo, gone: () => assert.fail('nothing went'), check: () => void looks++ });
  t.after(stop);
  // Proving an absence: an observation window, not a wait for something. The old watchdog looked
  // once a second, so 1.5 s would have shown at least one look.
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(looks, 0);
});

test('rm -rf of the repository is noticed through its HEAD going, once', async (t) => {
  const repo = repository();
  t.after(repo.cleanup);
  const gone: string[] = [];
  const stop = watchRepository({ ...repo, backstopMs: NO_BACKSTOP, gone: (what) => gone.push(what) });
  t.after(stop);
  rmSync(repo.worktree, { recursive: true, force: true });
  await eventually(() => gone.length > 0, 'the watchdog says the repository is gone', 5000);
  assert.deepEqual(gone, [`the repository ${repo.commonDir}`]);
});

test('a worktree renamed away is noticed through the move of the directory itself', async (t) => {
  const repo = repository();
  t.after(repo.cleanup);
  // A linked worktree: its git dir lives elsewhere and stays.
  const worktree = join(repo.root, 'linked');
  mkdirSync(worktree);
  const gone: string[] = [];
  const stop = watchRepository({ worktree, commonDir: repo.commonDir, backstopMs: NO_BACKSTOP, gone: (what) => gone.push(what) });
  t.after(stop);
  writeFileSync(join(worktree, 'edited'), 'an edit inside is not a reason to look\n');
  renameSync(worktree, join(repo.root, 'moved'));
  await eventually(() => gone.length > 0, 'the watchdog says the worktree is gone', 5000);
  assert.deepEqual(gone, [`the worktree ${worktree}`]);
});

test('files deleted from the daemon directory prompt a check, asked again while it says something is missing, also after rm -rf of the directory', async (t) => {
  const repo = repository();
  t.after(repo.cleanup);
  let missing = 0;
  let looks = 0;
  const stop = watchRepository({
    ...repo,
    backstopMs: NO_BACKSTOP,
    recheckMs: 50,
    gone: () => assert.fail('the repository is there'),
    check: () => {
      looks++;
      return missing-- > 0;
    },
  });
  t.after(stop);
  missing = 2;
  rmSync(join(repo.ownDir, 'pid'));
  // One look for the event, then one each time check says it is still missing.
  await eventually(() => looks >= 3, 'three looks', 5000);
  // The directory itself deleted and made again: the watch follows the new one.
  rmSync(repo.ownDir, { recursive: true });
  await eventually(() => looks >= 4, 'a look after the directory went', 5000);
  mkdirSync(repo.ownDir);
  writeFileSync(join(repo.ownDir, 'pid'), '1\n');
  await eventually(() => looks >= 5, 'a look once it is back', 5000);
  const before = looks;
  rmSync(join(repo.ownDir, 'pid'));
  await eventually(() => looks > before, 'a file deleted from the new directory is noticed', 5000);
});
