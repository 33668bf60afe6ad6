// What a git directory is, judged on disk (shared/kit/gitdir.ts), against repositories made by the
// real git and checked against what git itself says of them (rev-parse): work trees, bare
// repositories, linked worktrees (a gitfile and a commondir), and things that only look alike.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { asGitDir, commonDirOf, findGitDir, isGitDir } from '../../shared/kit/gitdir.js';
import { git, tempDir } from '../support/git.js';

interface Repos {
  root: string;
  /** A work tree with one commit, and its linked worktree `wt`. */
  work: string;
  linked: string;
  /** A bare repository `bare.git`. */
  bare: string;
}

// Made once for the file (git's start-up is most of the time); each test writes only names of its own.
let made: Repos | undefined;
after(() => made && rmSync(made.root, { recursive: true, force: true }));

function repos(): Repos {
  made ??= makeRepos();
  return made;
}

function makeRepos(): Repos {
  const d = tempDir('grd-gitdir-');
  const root = realpathSync(d.path);
  const work = join(root, 'work');
  git(root, 'init', '-q', '-b', 'main', work);
  git(work, 'commit', '-q', '--allow-empty', '-m', 'first');
  const linked = join(root, 'wt');
  git(work, 'worktree', 'add', '-q', linked);
  const bare = join(root, 'bare.git');
  git(root, 'init', '-q', '--bare', bare);
  return { root, work, linked, bare };
}

/** What git says, as an absolute path. */
const said = (cwd: string, ...args: string[]) => realpathSync(resolve(cwd, git(cwd, 'rev-parse', ...args).trim()));

test('a git dir is itself; a gitfile leads where git says; a work tree or nothing is none', () => {
  const r = repos();
  assert.equal(asGitDir(join(r.work, '.git')), join(r.work, '.git'));
  assert.equal(asGitDir(r.bare), r.bare);
  assert.equal(asGitDir(join(r.linked, '.git')), said(r.linked, '--absolute-git-dir'), 'a linked worktree\'s gitfile');
  assert.equal(asGitDir(r.work), undefined, 'a work tree is not a git dir');
  assert.equal(asGitDir(join(r.root, 'none')), undefined);
});

test('a gitfile must say gitdir: and lead to a git dir; a relative one is read from its own directory', () => {
  const r = repos();
  const file = join(r.root, 'gitfile');
  writeFileSync(file, 'gitdir: work/.git\n');
  assert.equal(asGitDir(file), join(r.work, '.git'));
  writeFileSync(file, 'gitdir: work/.git\r\n');
  assert.equal(asGitDir(file), join(r.work, '.git'), 'CRLF');
  writeFileSync(file, `gitdir: ${r.bare}`);
  assert.equal(asGitDir(file), r.bare, 'absolute, no newline');
  writeFileSync(file, 'gitdir: work\n');
  assert.equal(asGitDir(file), undefined, 'leads to a work tree');
  writeFileSync(file, `${r.bare}\n`);
  assert.equal(asGitDir(file), undefined, 'no gitdir: prefix');
  writeFileSync(file, `gitdir: ${r.bare}\nmore\n`);
  assert.equal(asGitDir(file), undefined, 'more than one line');
});

test('HEAD plus objects and refs, here or in the commondir, make a git dir', () => {
  const r = repos();
  const linkedDir = said(r.linked, '--absolute-git-dir');
  assert.equal(isGitDir(linkedDir), true, 'a linked worktree\'s dir has its objects and refs in the commondir');
  assert.equal(commonDirOf(linkedDir), said(r.linked, '--git-common-dir'));
  assert.equal(commonDirOf(r.bare), r.bare, 'no commondir: itself');
  const fake = join(r.root, 'fake');
  mkdirSync(join(fake, 'objects'), { recursive: true });
  mkdirSync(join(fake, 'refs'));
  assert.equal(isGitDir(fake), false, 'no HEAD');
  writeFileSync(join(fake, 'HEAD'), 'ref: refs/heads/main\n');
  assert.equal(isGitDir(fake), true);
  rmSync(join(fake, 'refs'), { recursive: true });
  assert.equal(isGitDir(fake), false, 'no refs');
});

test('a path names a repository the way upload-pack finds it, never an enclosing one', () => {
  const r = repos();
  assert.equal(findGitDir(r.work), join(r.work, '.git'), 'path/.git');
  assert.equal(findGitDir(r.bare), r.bare, 'path');
  assert.equal(findGitDir(join(r.root, 'bare')), r.bare, 'path.git');
  assert.equal(findGitDir(r.linked), said(r.linked, '--git-common-dir'), 'a linked worktree: the repository it shares');
  const inside = join(r.work, 'sub');
  mkdirSync(inside);
  assert.throws(() => findGitDir(inside), new RegExp(`^Error: ${inside} is not a git repository$`));
});
