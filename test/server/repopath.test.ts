// src/server/repopath.ts: the path a client names over ssh, turned into a repository the way git's
// enter_repo() and git-annex-shell do.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { expandPath, findRepository, RepoPathError } from '../../src/server/repopath.js';
import { git, makeFixture } from '../support/git.js';

test('expandPath: ~, ~user, /~ (as git-annex sends it), relative and absolute paths', async (t) => {
  const home = process.env.HOME;
  process.env.HOME = '/home/someone';
  t.after(() => (home === undefined ? delete process.env.HOME : (process.env.HOME = home)));
  assert.equal(await expandPath('~/repo', '/cwd'), '/home/someone/repo');
  assert.equal(await expandPath('~', '/cwd'), '/home/someone');
  assert.equal(await expandPath('/~/repo', '/cwd'), '/home/someone/repo');
  assert.equal(await expandPath('repo/../other', '/cwd'), '/cwd/other');
  assert.equal(await expandPath('/srv//git/./r', '/cwd'), '/srv/git/r');
  const me = userInfo();
  assert.equal(await expandPath(`~${me.username}/r`, '/cwd'), join(me.homedir, 'r'));
  assert.equal(await expandPath(`/~${me.username}/r`, '/cwd'), join(me.homedir, 'r'));
});

test('expandPath refuses what names nothing: empty, NUL, a bad or unknown user', async () => {
  await assert.rejects(expandPath(''), RepoPathError);
  await assert.rejects(expandPath('a\0b'), /NUL/);
  await assert.rejects(expandPath('~no;user/r'), /not a user name/);
  await assert.rejects(expandPath('~grd-no-such-user-x/r'), /no such user/);
});

test('findRepository: a work tree, a bare repository, and the .git / DWIM suffixes, as git finds them', async (t) => {
  const fx = makeFixture();
  t.after(() => fx.cleanup());
  const local = { gitDir: join(fx.local, '.git'), commonDir: join(fx.local, '.git') };
  assert.deepEqual(await findRepository(fx.local), local);
  assert.deepEqual(await findRepository(join(fx.local, '.git')), local);
  const bare = { gitDir: fx.remote, commonDir: fx.remote };
  assert.deepEqual(await findRepository(fx.remote), bare);
  assert.deepEqual(await findRepository(fx.remote.replace(/\.git$/, '')), bare, 'repo finds repo.git');
  assert.deepEqual(await findRepository('remote', fx.root), bare, 'relative to the current directory');
  assert.deepEqual(await findRepository(undefined, join(fx.local)), local, 'no path: the current directory');
  const worktree = join(fx.root, 'wt');
  git(fx.local, 'worktree', 'add', '-q', '-b', 'side', worktree);
  assert.deepEqual(await findRepository(worktree), { gitDir: join(fx.local, '.git', 'worktrees', 'wt'), commonDir: join(fx.local, '.git') });
});

test('findRepository: a directory that is no repository, or nothing at all, is a RepoPathError naming it', async (t) => {
  const fx = makeFixture();
  t.after(() => fx.cleanup());
  const plain = join(fx.root, 'plain');
  mkdirSync(plain);
  await assert.rejects(findRepository(plain), (err: Error) => err instanceof RepoPathError && err.message === `not a git repository: ${plain}`);
  await assert.rejects(findRepository(join(fx.root, 'nothing')), RepoPathError);
  await assert.rejects(findRepository(undefined, plain), /not in a git repository/);
});
