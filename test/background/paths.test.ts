// src/background/paths.ts: where a repository's daemon keeps its files (the common git dir's
// `remote-daemon/`, found by git or, when git fails on the repository, by walking up), and the
// directory made this user's own, 0700, before anything is put in it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { daemonFilesIn, daemonPaths, ensureDir, pathsIn } from '../../src/background/paths.js';
import { commit, git, tempDir } from '../support/git.js';

test("the daemon's files: named in remote-daemon/ of the common git dir, or in a directory of their own", () => {
  assert.deepEqual(pathsIn('/r/.git'), {
    commonDir: '/r/.git',
    dir: '/r/.git/remote-daemon',
    pidFile: '/r/.git/remote-daemon/pid',
    control: '/r/.git/remote-daemon/control',
    log: '/r/.git/remote-daemon/log',
    oldLog: '/r/.git/remote-daemon/log.1',
    state: '/r/.git/remote-daemon/state.json',
  });
  const own = daemonFilesIn('/s/hub', '/r/.git');
  assert.equal(own.commonDir, '/r/.git');
  assert.equal(own.dir, '/s/hub');
  assert.equal(own.pidFile, '/s/hub/pid');
  assert.equal(own.state, '/s/hub/state.json');
});

test('a repository, its subdirectory and its linked worktree find one daemon; a broken config does not hide it', async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const repo = join(dir.path, 'repo');
  git(dir.path, 'init', '-q', '-b', 'main', repo);
  commit(repo, 'initial');
  mkdirSync(join(repo, 'sub'));
  const worktree = join(dir.path, 'wt');
  git(repo, 'worktree', 'add', '-q', worktree);
  const expected = pathsIn(join(repo, '.git'));
  assert.deepEqual(await daemonPaths(repo), expected);
  assert.deepEqual(await daemonPaths(join(repo, 'sub')), expected);
  assert.deepEqual(await daemonPaths(worktree), expected, "a linked worktree: the common dir, not the worktree's own");

  writeFileSync(join(repo, '.git', 'config'), '[core\n  broken');
  assert.throws(() => git(repo, 'status'), 'git itself fails on this repository');
  assert.deepEqual(await daemonPaths(join(repo, 'sub')), expected);

  const outside = join(dir.path, 'outside');
  mkdirSync(outside);
  await assert.rejects(daemonPaths(outside), /not a git repository/i);
});

test('the directory: made 0700, tightened when it was looser, refused when it is a symlink', (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const fresh = pathsIn(join(dir.path, 'a', '.git'));
  ensureDir(fresh);
  assert.equal(statSync(fresh.dir).mode & 0o777, 0o700);

  const loose = pathsIn(join(dir.path, 'b'));
  mkdirSync(loose.dir, { recursive: true });
  chmodSync(loose.dir, 0o755);
  ensureDir(loose);
  assert.equal(statSync(loose.dir).mode & 0o777, 0o700);

  const linked = pathsIn(join(dir.path, 'c'));
  mkdirSync(join(dir.path, 'c'));
  mkdirSync(join(dir.path, 'elsewhere'));
  chmodSync(join(dir.path, 'elsewhere'), 0o755);
  symlinkSync(join(dir.path, 'elsewhere'), linked.dir);
  assert.throws(() => ensureDir(linked), /is not a directory \(a symlink\?\)/);
  assert.equal(statSync(join(dir.path, 'elsewhere')).mode & 0o777, 0o755, 'the target is left alone');
});
