// Finding a repository without git, for when git refuses to (a config it cannot parse): the same
// answers as `git rev-parse --git-dir --git-common-dir` wherever git can still give them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { git, makeFixture, tempDir } from '../support/git.js';
import { locateRepo } from '../../src/background/gitdirwalk.js';

function fromGit(cwd: string, env: NodeJS.ProcessEnv = {}): { gitDir: string; commonDir: string } {
  const [gitDir, commonDir] = git(cwd, ...(env.GIT_DIR ? ['--git-dir', env.GIT_DIR] : []), 'rev-parse', '--path-format=absolute', '--git-dir', '--git-common-dir').split('\n');
  return { gitDir: realpathSync(gitDir), commonDir: realpathSync(commonDir) };
}

test('agrees with git: top, subdirectory, linked worktree, bare repository, inside .git, GIT_DIR', (t) => {
  const fx = makeFixture();
  t.after(() => fx.cleanup());
  const sub = join(fx.local, 'a', 'b');
  mkdirSync(sub, { recursive: true });
  const worktree = join(fx.root, 'wt');
  git(fx.local, 'worktree', 'add', '-q', '-b', 'side', worktree);
  mkdirSync(join(worktree, 'deep'));
  const outside = tempDir();
  t.after(() => outside.cleanup());
  for (const cwd of [fx.local, sub, worktree, join(worktree, 'deep'), fx.remote, join(fx.remote, 'refs'), join(fx.local, '.git'), join(fx.local, '.git', 'objects')]) {
    assert.deepEqual(locateRepo(cwd, {}), fromGit(cwd), cwd);
  }
  const env = { GIT_DIR: join(fx.local, '.git') };
  assert.deepEqual(locateRepo(outside.path, env), fromGit(outside.path, env));
  assert.deepEqual(locateRepo(outside.path, { GIT_DIR: resolve(worktree, '.git') }), { gitDir: realpathSync(join(fx.local, '.git', 'worktrees', 'wt')), commonDir: realpathSync(join(fx.local, '.git')) });
});

test('nothing outside a repository, and nothing above GIT_CEILING_DIRECTORIES', (t) => {
  const dir = tempDir();
  t.after(() => dir.cleanup());
  assert.equal(locateRepo(dir.path, { GIT_CEILING_DIRECTORIES: dir.path }), undefined);
  const fx = makeFixture();
  t.after(() => fx.cleanup());
  const inner = join(fx.local, 'x', 'y');
  mkdirSync(inner, { recursive: true });
  assert.equal(locateRepo(inner, { GIT_CEILING_DIRECTORIES: join(fx.local, 'x') }), undefined);
  assert.ok(locateRepo(inner, { GIT_CEILING_DIRECTORIES: fx.root }), 'a ceiling above the repository does not hide it');
  // A directory that merely holds a file named HEAD is no repository.
  const fake = join(dir.path, 'fake');
  mkdirSync(join(fake, '.git'), { recursive: true });
  assert.equal(locateRepo(fake, { GIT_CEILING_DIRECTORIES: dir.path }), undefined);
});
